"""The native interferogram-stack pipeline: Sentinel-1 IW SLC SAFEs to ``INSAR_<reference>/``.

Order of work (one sub-swath, one polarisation):

1. checks before any pixel is read: products of one track and mode, the sub-swath and
   polarisation in each, bursts matched by burst id, orbits covering the scene (EOF from
   ``--orbits`` if found, or downloaded with ``--download-orbits``, else the annotation), the
   DEM (a file, or GLO-30 downloaded with ``--dem auto``) readable and covering the AOI, the AOI
   inside the reference bursts;
2. deburst plan of the AOI on the reference line grid (:mod:`snapstamps.ifg.deburst`);
3. per reference burst: DEM-assisted geometry of every output pixel in the reference and in every
   secondary (:func:`snapstamps.ifg.geocoding.grid_geometry`);
4. per secondary: ESD in the burst overlaps (one azimuth shift per pair), then per burst
   deramp / sinc resampling / reramp, the interferogram with flat-earth and topographic phase
   removed; progress per pair and burst;
5. StaMPS export (:mod:`snapstamps.ifg.export`).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..ifg import geocoding as G
from ..ifg.deburst import deburst_plan, plan_to_json
from ..ifg.dem import open_dem
from ..ifg.esd import esd_shift
from ..ifg.interferogram import coregister, interferogram
from ..ifg.orbits import OrbitInterpolator, StateVectors, find_eof, parse_eof
from ..ifg.safe import Swath, group_by_date, open_date, resolve_safe
from ..ifg.tops import local_doppler

__all__ = ["IfgStackOptions", "run_ifg_stack"]


@dataclass
class IfgStackOptions:
    """Options of :func:`run_ifg_stack` (the CLI's ``ifg-stack`` flags).

    ``reference`` is one product or the consecutive slices of the reference date; among
    ``secondaries``, products of one date are slices of that date and are assembled.
    ``block_lines`` bounds memory: geometry, resampling and interferogram run on blocks of
    that many output lines.  ``dem="auto"`` downloads the GLO-30 DEM of the AOI into ``OUT/dem/``;
    ``download_orbits`` fetches missing EOF files into ``orbits`` (default ``OUT/orbits``), see
    :mod:`snapstamps.ifg.download`; ``require_precise_orbits`` makes a missing EOF file an error
    instead of the annotation-orbit fallback.
    """

    reference: Path | list[Path]
    secondaries: list[Path]
    subswath: str
    polarisation: str
    bbox: tuple[float, float, float, float]
    dem: Path | str
    out: Path
    orbits: Path | None = None
    esd: bool = True
    deramp: bool = True
    taps: int = 16
    geometry_step: int = 32
    block_lines: int = 256
    extra: dict = field(default_factory=dict)
    download_orbits: bool = False
    require_precise_orbits: bool = False


def _orbit_for(sw: Swath, orbit_dir: Path | None, log, download: bool = False, require_eof: bool = False, state: dict | None = None) -> StateVectors:
    """The orbit of ``sw``: an EOF file of ``orbit_dir`` covering the bursts, else the annotation orbit.

    ``download``: when no file covers the bursts, fetch one into ``orbit_dir``
    (:func:`snapstamps.ifg.download.fetch_orbit`); a failure is a one-line warning (the
    annotation orbit is used) or, with ``require_eof``, an :class:`InputError`.  ``state``
    (shared across the dates of one run) remembers that the network is unreachable so later
    dates do not try again.
    """
    t0 = min(b.t0 for b in sw.bursts)
    t1 = max(b.t0 + b.n_lines * sw.dt for b in sw.bursts)
    state = {} if state is None else state
    if orbit_dir is not None:
        if download:
            Path(orbit_dir).mkdir(parents=True, exist_ok=True)
        if not Path(orbit_dir).is_dir():
            raise InputError(f"{orbit_dir}: orbit folder not found")
        start = sw.epoch + np.timedelta64(int(t0 * 1e9), "ns")
        stop = sw.epoch + np.timedelta64(int(t1 * 1e9), "ns")
        eof = find_eof(Path(orbit_dir), sw.info.mission, start, stop)
        why = f"no EOF file in {orbit_dir}"
        if eof is None and download:
            if state.get("offline"):
                why = f"orbit download skipped ({state['offline']})"
            else:
                from ..ifg.download import DownloadError, fetch_orbit

                try:
                    eof = fetch_orbit(sw.info.mission, start, stop, Path(orbit_dir))
                    log(f"orbit {sw.info.date}: downloaded {eof.name} into {orbit_dir}")
                except DownloadError as exc:
                    why = str(exc)
                    if exc.offline:
                        state["offline"] = "no connection"
        if eof is not None:
            sv = parse_eof(eof, epoch=sw.epoch).crop(t0, t1, 120.0)
            if not sv.covers(t0, t1, 3):
                raise InputError(f"{eof}: the orbit file does not cover {sw.info.name} (too short: needs state vectors on both sides of the scene)")
            log(f"orbit {sw.info.date}: {eof.name}")
            return sv
        if require_eof:
            raise InputError(f"{sw.info.name}: no precise or restituted orbit file ({why}); --require-precise-orbits forbids the annotation orbit")
        log(f"{'warning: ' if download else ''}orbit {sw.info.date}: {why}, annotation orbit used")
    elif require_eof:
        raise InputError(f"{sw.info.name}: no orbit folder (--orbits DIR or --download-orbits); --require-precise-orbits forbids the annotation orbit")
    if not sw.orbit.covers(t0, t1, 3):
        raise InputError(f"{sw.info.name}: the annotation orbit does not cover the bursts")
    return sw.orbit


def _check_track(ref: Swath, sec: Swath) -> None:
    a, b = ref.info, sec.info
    if a.relative_orbit != b.relative_orbit or a.pass_direction != b.pass_direction:
        raise InputError(f"{b.name}: relative orbit {b.relative_orbit} {b.pass_direction} differs from the reference ({a.relative_orbit} {a.pass_direction})")
    if a.mode != b.mode:
        raise InputError(f"{b.name}: mode {b.mode} differs from the reference ({a.mode})")
    if a.date == b.date:
        raise InputError(f"{b.name}: same date as the reference (give slices of the reference date with --reference)")


def _aoi_check(ref: Swath, ref_orbit, opts) -> None:
    """AOI against the burst extents at height 0 (before the DEM is read)."""
    w, s_, e, n = opts.bbox
    lon, lat = np.meshgrid(np.linspace(w, e, 5), np.linspace(s_, n, 5))
    P = G.geodetic_to_ecef(lon, lat, np.zeros_like(lon))
    b_mid = ref.bursts[len(ref.bursts) // 2]
    t, r = G.geo2rdr(P, ref_orbit, np.full(lon.shape, b_mid.t0 + b_mid.n_lines * ref.dt / 2))
    smp = (2.0 * r / G.SPEED_OF_LIGHT - ref.tau0) * ref.fs
    t_lo = min(b.t0 + b.first_valid_line * ref.dt for b in ref.bursts)
    t_hi = max(b.t0 + b.last_valid_line * ref.dt for b in ref.bursts)
    if not np.isfinite(t).all() or t.max() < t_lo or t.min() > t_hi or smp.max() < 0 or smp.min() > ref.n_samples:
        raise InputError(f"bbox {opts.bbox}: the area of interest is outside the {opts.subswath} bursts of {ref.info.name}")


def check_measurements(sw: Swath) -> None:
    """Open every measurement file of ``sw`` and read a few lines of each burst.

    A truncated or corrupt TIFF, or one whose size disagrees with the annotation, fails here
    with a one-line :class:`InputError` naming the file, before any processing starts.
    """
    import rasterio
    from rasterio.windows import Window

    files: dict[Path, list] = {}
    for b in sw.bursts:
        files.setdefault(Path(b.measurement or sw.measurement), []).append(b)
    for f, bursts in files.items():
        try:
            with rasterio.open(f) as ds:
                need = max(b.line0 + b.n_lines for b in bursts)
                if ds.height < need or ds.width != sw.n_samples:
                    raise InputError(f"{f}: measurement is {ds.height} x {ds.width}, the annotation needs {need} x {sw.n_samples} (truncated or wrong file)")
                for b in bursts:
                    for l0 in (b.line0 + b.first_valid_line, b.line0 + b.last_valid_line):
                        ds.read(1, window=Window(0, l0, sw.n_samples, 1))
        except InputError:
            raise
        except Exception as exc:  # noqa: BLE001 - GDAL raises several kinds on corrupt files
            msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise InputError(f"{f}: corrupt or unreadable measurement TIFF ({msg})") from None


def _group_inputs(opts: IfgStackOptions, cache: Path) -> tuple[list[Path], list[list[Path]]]:
    """Reference slices and the secondaries grouped by date (slices of one date together)."""
    refs = [opts.reference] if isinstance(opts.reference, (str, Path)) else list(opts.reference)
    for p in [*refs, *opts.secondaries]:
        if Path(p).suffix.lower() == ".zip" or Path(p).is_dir() or Path(p).name.lower() == "manifest.safe":
            resolve_safe(Path(p), cache, ("manifest.safe", "annotation/"))
        elif not Path(p).exists():
            raise InputError(f"{p}: product not found")
    ref_groups = group_by_date(refs, cache)
    if len(ref_groups) != 1:
        raise InputError(f"--reference: {len(ref_groups)} dates given; slices of the reference must be of one date")
    return ref_groups[0], group_by_date(list(opts.secondaries), cache)


def run_ifg_stack(opts: IfgStackOptions, log: Callable[[str], None] | None = None, on_stage: Callable[[str], None] | None = None) -> dict:
    """Run the pipeline; returns a summary dict (``insar_dir``, ESD shifts, baselines, timings).

    ``on_stage(name)`` is called when a stage starts (``checks``, ``geometry``, ``esd``,
    ``resample_ifg``, ``export``) and with ``"done"`` at the end (benchmarks hook memory there).
    """
    log = log or (lambda s: None)
    stage = on_stage or (lambda s: None)
    stage_t: dict[str, float] = {}
    t_start = time.perf_counter()
    t_stage = [t_start, "checks"]

    def next_stage(name: str) -> None:
        now = time.perf_counter()
        stage_t[t_stage[1]] = stage_t.get(t_stage[1], 0.0) + now - t_stage[0]
        t_stage[0], t_stage[1] = now, name
        stage(name)

    stage("checks")
    out = Path(opts.out)
    cache = out / ".safe-cache"
    # ---------------- 1. checks
    ref_paths, sec_groups = _group_inputs(opts, cache)
    ref = open_date(ref_paths, opts.subswath, opts.polarisation, need_measurement=True, cache=cache)
    secs = [open_date(g, opts.subswath, opts.polarisation, need_measurement=True, cache=cache) for g in sec_groups]
    for s in secs:
        _check_track(ref, s)
    w, s_, e, n = opts.bbox
    if not (w < e and s_ < n):
        raise InputError(f"bbox {opts.bbox}: must be W S E N with W < E and S < N")
    orbit_dir = opts.orbits if opts.orbits is not None or not opts.download_orbits else out / "orbits"
    orb_state: dict = {}

    def orbit_of(sw: Swath) -> StateVectors:
        return _orbit_for(sw, orbit_dir, log, download=opts.download_orbits, require_eof=opts.require_precise_orbits, state=orb_state)

    ref_orbit = OrbitInterpolator(orbit_of(ref))
    shifts = [float((np.datetime64(s.epoch, "ns") - np.datetime64(ref.epoch, "ns")).astype(np.int64)) * 1e-9 for s in secs]
    sec_orbits = [OrbitInterpolator(orbit_of(s).rebase(ref.epoch)) for s in secs]
    _aoi_check(ref, ref_orbit, opts)
    dem_path = Path(opts.dem)
    if str(opts.dem).strip().lower() == "auto":
        from ..ifg.download import build_dem

        dem_path = build_dem(opts.bbox, out)
        log(f"DEM: {dem_path} (Copernicus GLO-30, ellipsoidal heights)")
    dem = open_dem(dem_path, opts.bbox)
    cov = dem.covers(opts.bbox)
    if cov < 0.99:
        raise InputError(f"{dem_path}: the DEM covers only {100 * cov:.0f} % of the area of interest")
    # AOI in reference radar coordinates
    lon, lat = np.meshgrid(np.linspace(w, e, 15), np.linspace(s_, n, 15))
    P = G.geodetic_to_ecef(lon, lat, dem.height(lon, lat))
    b_mid = ref.bursts[len(ref.bursts) // 2]
    t_aoi, r_aoi = G.geo2rdr(P, ref_orbit, np.full(lon.shape, b_mid.t0 + b_mid.n_lines * ref.dt / 2))
    smp = (2.0 * r_aoi / G.SPEED_OF_LIGHT - ref.tau0) * ref.fs
    t_lo = min(b.t0 + b.first_valid_line * ref.dt for b in ref.bursts)
    t_hi = max(b.t0 + b.last_valid_line * ref.dt for b in ref.bursts)
    s_lo = max(b.first_valid_sample for b in ref.bursts)
    s_hi = min(b.last_valid_sample for b in ref.bursts)
    if t_aoi.max() < t_lo or t_aoi.min() > t_hi or smp.max() < s_lo or smp.min() > s_hi:
        raise InputError(f"bbox {opts.bbox}: the area of interest is outside the {opts.subswath} bursts of {ref.info.name}")
    tmin, tmax = max(t_aoi.min(), t_lo), min(t_aoi.max(), t_hi)
    s0 = int(max(math.floor(smp.min()), s_lo))
    s1 = int(min(math.ceil(smp.max()), s_hi))
    plan = deburst_plan(ref.bursts, ref.dt, tmin, tmax)
    if not plan:
        raise InputError(f"bbox {opts.bbox}: no reference burst line inside the area of interest")
    for s in secs:
        missing = [sg.burst_id for sg in plan if s.burst_by_id(sg.burst_id) is None]
        if missing:
            raise InputError(f"{s.info.name}: bursts {missing} of the reference are missing (no match by burst id)")
    for sw in [ref, *secs]:
        check_measurements(sw)
    W = s1 - s0 + 1
    L = sum(sg.n_lines for sg in plan)
    log(f"reference {ref.info.date}, {len(secs)} secondaries, {len(plan)} bursts, AOI {L} lines x {W} samples")
    samples = s0 + np.arange(W)
    r_samples = ref.slant_range(samples)
    lam = ref.wavelength
    nb = max(8, int(opts.block_lines))
    # blocks of output lines: (segment index, first line in the segment, n lines, first output line)
    blocks = [(i, a, min(nb, sg.n_lines - a), sg.out_line0 + a) for i, sg in enumerate(plan) for a in range(0, sg.n_lines, nb)]

    # ---------------- 3. geometry per block (+ ESD overlap windows); only lon/lat/hgt are kept whole
    next_stage("geometry")
    lon_a = np.empty((L, W), np.float32)
    lat_a = np.empty((L, W), np.float32)
    hgt_a = np.empty((L, W), np.float32)
    t_out = np.empty(L)
    for i, a, m, o in blocks:
        sg = plan[i]
        tl = ref.bursts[sg.burst_index].time(sg.burst_line0 + a + np.arange(m))
        g = G.grid_geometry(tl, r_samples, ref_orbit, dem.height, (), (), step=opts.geometry_step)
        lon_a[o : o + m], lat_a[o : o + m], hgt_a[o : o + m], t_out[o : o + m] = g["lon"], g["lat"], g["hgt"], tl

    def block_geometry(i: int, a: int, m: int, k: int) -> tuple[np.ndarray, np.ndarray]:
        sg = plan[i]
        tl = ref.bursts[sg.burst_index].time(sg.burst_line0 + a + np.arange(m))
        g = G.grid_geometry(tl, r_samples, ref_orbit, dem.height, [sec_orbits[k]], [shifts[k]], step=opts.geometry_step)
        return g["t_sec"][0], g["r_sec"][0]

    next_stage("esd")
    overlaps = []
    if opts.esd and len(plan) > 1:
        for a_, b_ in zip(plan[:-1], plan[1:]):
            ba, bb = ref.bursts[a_.burst_index], ref.bursts[b_.burst_index]
            j0 = bb.first_valid_line
            j1 = int(math.floor((ba.t0 + ba.last_valid_line * ref.dt - bb.t0) / ref.dt))
            if j1 - j0 < 8:
                continue
            lines_b = np.arange(j0, j1 + 1)
            lines_a = np.rint((bb.time(lines_b) - ba.t0) / ref.dt).astype(np.int64)
            tl = bb.time(lines_b)
            m_a = ref.read_burst(ba, (int(lines_a[0]), int(lines_a[-1]) + 1), (s0, s1 + 1))
            m_b = ref.read_burst(bb, (int(lines_b[0]), int(lines_b[-1]) + 1), (s0, s1 + 1))
            df = local_doppler(ba.ramp, tl[:, None], ref.tau(samples)[None, :]) - local_doppler(bb.ramp, tl[:, None], ref.tau(samples)[None, :])
            overlaps.append((a_, b_, tl, m_a, m_b, df))

    def resample_sec(k: int, sec: Swath, burst_id: int, t_sec, r_sec, shift_s: float):
        sb = sec.burst_by_id(burst_id)
        t_own = t_sec - shifts[k] - shift_s
        y = (t_own - sb.t0) / sec.dt
        x = (2.0 * r_sec / G.SPEED_OF_LIGHT - sec.tau0) * sec.fs
        m = opts.taps
        l0 = max(0, int(math.floor(np.nanmin(y))) - m)
        l1 = min(sb.n_lines, int(math.ceil(np.nanmax(y))) + m + 1)
        c0 = max(0, int(math.floor(np.nanmin(x))) - m)
        c1 = min(sec.n_samples, int(math.ceil(np.nanmax(x))) + m + 1)
        if l1 <= l0 or c1 <= c0:
            return np.zeros(y.shape, np.complex64)
        win = sec.read_burst(sb, (l0, l1), (c0, c1))
        return coregister(win, l0, c0, y, x, sb.time, sec.tau, sb.ramp if opts.deramp else None, opts.taps)

    # ---------------- 4. pairs
    results = []
    for k, sec in enumerate(secs):
        next_stage("esd")
        tp = time.perf_counter()
        shift = 0.0
        esd_info = []
        if overlaps:
            geo_ov = []
            for a_, b_, tl, m_a, m_b, df in overlaps:
                g = G.grid_geometry(tl, r_samples, ref_orbit, dem.height, [sec_orbits[k]], [shifts[k]], step=opts.geometry_step)
                geo_ov.append((g["t_sec"][0], g["r_sec"][0]))
            for it in range(2):
                zs = []
                for (a_, b_, tl, m_a, m_b, df), (ts_, rs_) in zip(overlaps, geo_ov):
                    s_a = resample_sec(k, sec, a_.burst_id, ts_, rs_, shift)
                    s_b = resample_sec(k, sec, b_.burst_id, ts_, rs_, shift)
                    i_a = m_a * np.conj(s_a)
                    i_b = m_b * np.conj(s_b)
                    d, coh = esd_shift(i_a, i_b, df)
                    zs.append((d, coh, float(np.sum(np.abs(i_a * np.conj(i_b))))))
                wsum = sum(z[2] * z[1] for z in zs) or 1.0
                d = sum(z[0] * z[2] * z[1] for z in zs) / wsum
                esd_info.append({"iteration": it, "shift_lines": d / ref.dt, "coherence": [z[1] for z in zs]})
                shift += d
            log(f"pair {ref.info.date}-{sec.info.date}: ESD azimuth shift {shift / ref.dt:+.4f} lines")
        next_stage("resample_ifg")
        rslc = np.empty((L, W), np.complex64)
        diff = np.empty((L, W), np.complex64)
        for i, a, m, o in blocks:
            sg = plan[i]
            t_sec, r_sec = block_geometry(i, a, m, k)
            m_blk = ref.read_burst(ref.bursts[sg.burst_index], (sg.burst_line0 + a, sg.burst_line0 + a + m), (s0, s1 + 1))
            s_img = resample_sec(k, sec, sg.burst_id, t_sec, r_sec, shift)
            rslc[o : o + m] = s_img
            diff[o : o + m] = interferogram(m_blk, s_img, r_samples[None, :], r_sec, lam)
            if a + m >= sg.n_lines:
                log(f"pair {ref.info.date}-{sec.info.date}: burst {sg.burst_id} done ({i + 1}/{len(plan)})")
        results.append({"date": sec.info.date, "rslc": rslc, "diff": diff, "esd_shift_lines": shift / ref.dt, "esd": esd_info, "seconds": time.perf_counter() - tp})

    # ---------------- 5. export
    from ..ifg.export import export_stamps

    next_stage("export")
    m_slc = np.empty((L, W), np.complex64)
    for i, a, m, o in blocks:
        sg = plan[i]
        m_slc[o : o + m] = ref.read_burst(ref.bursts[sg.burst_index], (sg.burst_line0 + a, sg.burst_line0 + a + m), (s0, s1 + 1))
    insar, bases = export_stamps(out, ref, secs, sec_orbits, shifts, ref_orbit, m_slc, results, lon_a, lat_a, hgt_a, t_out, r_samples)
    next_stage("done")
    summary = {
        "insar_dir": str(insar),
        "reference": ref.info.name,
        "reference_slices": [Path(p).name for p in ref.slices],
        "subswath": opts.subswath,
        "polarisation": opts.polarisation,
        "first_sample": s0,
        "n_samples": W,
        "n_lines": L,
        "deburst": plan_to_json(plan),
        "pairs": [
            {"secondary": s.info.name, "slices": [Path(p).name for p in s.slices], "date": str(r["date"]), "esd_shift_lines": r["esd_shift_lines"], "esd": r["esd"], "seconds": r["seconds"], **bases[i]}
            for i, (s, r) in enumerate(zip(secs, results))
        ],
        "seconds": time.perf_counter() - t_start,
        "stage_seconds": stage_t,
        "block_lines": nb,
        "deramp": opts.deramp,
    }
    (out / "ifg_stack.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
    return summary
