"""The native interferogram-stack pipeline: Sentinel-1 IW SLC SAFEs to ``INSAR_<reference>/``.

Order of work (one sub-swath, one polarisation):

1. checks before any pixel is read: products of one track and mode, the sub-swath and
   polarisation in each, bursts matched by burst id, orbits covering the scene (EOF from
   ``--orbits`` if found, or downloaded with ``--download-orbits``, else the annotation), the
   DEM (a file, or GLO-30 downloaded with ``--dem auto``) readable and covering the AOI, the AOI
   inside the reference bursts;
2. deburst plan of the AOI on the reference line grid (:mod:`snapstamps.ifg.deburst`);
3. per block of ``block_lines`` output lines: DEM-assisted geometry of the reference
   (:func:`snapstamps.ifg.geocoding.grid_geometry`), streamed with the reference SLC into
   ``rslc/<ref>.rslc`` and ``geo/`` (only the line times, a 1-D array, are kept);
4. per secondary, one at a time: ESD in the burst overlaps (one azimuth shift per pair; one
   overlap in memory at a time), then per block the secondary's geometry, deramp / sinc
   resampling / reramp and the interferogram with flat-earth and topographic phase removed,
   appended to ``rslc/<sec>.rslc`` and ``diff0/<ref>_<sec>.diff``; ``.base``; progress per pair
   and burst;
5. the ``.par`` headers (:mod:`snapstamps.ifg.export`).

Memory is bounded by a few blocks of lines (times the AOI width), whatever the number of
secondaries and bursts: no full-AOI array is held.  Everything is written inside the temporary
of :func:`snapstamps.io.atomic.atomic_dir`, so ``INSAR_<reference>/`` appears only complete, and
a failed run leaves none (an earlier one is left as it was).  The bytes do not depend on how many
secondaries a run has (each pair is computed on its own); they do depend on ``block_lines``
(the geometry's coarse nodes are laid per block).
"""

from __future__ import annotations

import itertools
import json
import logging
import math
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..errors import InputError, ParameterError
from ..ifg import geocoding as G
from ..ifg.config import IfgStackOptions
from ..ifg.deburst import deburst_plan, plan_to_json
from ..ifg.dem import open_dem
from ..ifg.download import is_dem_auto
from ..ifg.esd import esd_terms
from ..ifg.export import StampsStreamWriter, master_par, pair_base
from ..ifg.interferogram import BurstClock, coregister, interferogram, mul_conj, window_bounds
from ..ifg.orbits import OrbitInterpolator, StateVectors, find_eof, parse_eof
from ..ifg.safe import Swath, group_by_date, open_date, resolve_safe
from ..ifg.tops import local_doppler
from ..io.atomic import atomic_dir, atomic_write_text
from ..io.stamps_export import yyyymmdd

__all__ = ["IfgStackOptions", "run_ifg_stack"]

log = logging.getLogger("snapstamps")

#: output lines resampled and written at a time within a block of ``block_lines`` (memory only: same bytes)
SUB_LINES = 128



def _orbit_for(sw: Swath, orbit_dir: Path | None, download: bool = False, require_eof: bool = False, state: dict | None = None) -> StateVectors:
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
                    log.info("orbit %s: downloaded %s into %s", sw.info.date, eof.name, orbit_dir)
                except DownloadError as exc:
                    why = str(exc)
                    if exc.offline:
                        state["offline"] = "no connection"
        if eof is not None:
            sv = parse_eof(eof, epoch=sw.epoch).crop(t0, t1, 120.0)
            if not sv.covers(t0, t1, 3):
                raise InputError(f"{eof}: the orbit file does not cover {sw.info.name} (too short: needs state vectors on both sides of the scene)")
            log.info("orbit %s: %s", sw.info.date, eof.name)
            return sv
        if require_eof:
            raise InputError(f"{sw.info.name}: no precise or restituted orbit file ({why}); --require-precise-orbits forbids the annotation orbit")
        (log.warning if download else log.info)("orbit %s: %s, annotation orbit used", sw.info.date, why)
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


def _aoi_check(ref: Swath, ref_orbit: OrbitInterpolator, opts: IfgStackOptions) -> None:
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
    refs = list(opts.reference)
    for p in [*refs, *opts.secondaries]:
        if Path(p).suffix.lower() == ".zip" or Path(p).is_dir() or Path(p).name.lower() == "manifest.safe":
            resolve_safe(Path(p), cache, ("manifest.safe", "annotation/"))
        elif not Path(p).exists():
            raise InputError(f"{p}: product not found")
    ref_groups = group_by_date(refs, cache)
    if len(ref_groups) != 1:
        raise InputError(f"--reference: {len(ref_groups)} dates given; slices of the reference must be of one date")
    return ref_groups[0], group_by_date(list(opts.secondaries), cache)


def run_ifg_stack(opts: IfgStackOptions, on_stage: Callable[[str], None] | None = None) -> dict:
    """Run the pipeline; returns a summary dict (``insar_dir``, ESD shifts, baselines, timings).

    ``opts`` needs one sub-swath, a bbox and a DEM file or ``auto`` (:class:`ParameterError` otherwise).

    Progress lines (orbits, DEM, per pair and burst) go to the ``snapstamps`` logger
    (:mod:`snapstamps.progress`).  ``on_stage(name)`` is called when a stage starts (``checks``, ``geometry``, ``esd``,
    ``resample_ifg``, ``export``) and with ``"done"`` at the end (benchmarks hook memory there); the
    secondary's geometry of each ESD overlap and each block is a stage of its own
    (``sec_geometry``), so ``esd`` and ``resample_ifg`` start again after it.
    """
    stage = on_stage or (lambda s: None)
    stage_t: dict[str, float] = {}
    t_start = time.perf_counter()
    t_stage = [t_start, "checks"]

    def next_stage(name: str) -> None:
        now = time.perf_counter()
        stage_t[t_stage[1]] = stage_t.get(t_stage[1], 0.0) + now - t_stage[0]
        t_stage[0], t_stage[1] = now, name
        stage(name)

    if opts.bbox is None:
        raise ParameterError("the native engine needs the area of interest (bbox W S E N)")
    if not (is_dem_auto(opts.dem) or opts.external_dem):
        raise ParameterError(f"dem {opts.dem!r}: the native engine needs a DEM file or auto")
    subswath = opts.subswath
    bbox = opts.bbox
    stage("checks")
    out = Path(opts.out)
    cache = out / ".safe-cache"
    # ---------------- 1. checks
    ref_paths, sec_groups = _group_inputs(opts, cache)
    ref = open_date(ref_paths, opts.subswath, opts.polarisation, need_measurement=True, cache=cache)
    secs = [open_date(g, opts.subswath, opts.polarisation, need_measurement=True, cache=cache) for g in sec_groups]
    for s in secs:
        _check_track(ref, s)
    w, s_, e, n = bbox
    orbit_dir = opts.orbits_dir if opts.orbits_dir is not None or not opts.download_orbits else out / "orbits"
    orb_state: dict = {}

    def orbit_of(sw: Swath) -> StateVectors:
        return _orbit_for(sw, orbit_dir, download=opts.download_orbits, require_eof=opts.require_precise_orbits, state=orb_state)

    ref_orbit = OrbitInterpolator(orbit_of(ref))
    shifts = [float((np.datetime64(s.epoch, "ns") - np.datetime64(ref.epoch, "ns")).astype(np.int64)) * 1e-9 for s in secs]
    sec_orbits = [OrbitInterpolator(orbit_of(s).rebase(ref.epoch)) for s in secs]
    _aoi_check(ref, ref_orbit, opts)
    dem_path = Path(opts.dem)
    if is_dem_auto(opts.dem):
        from ..ifg.download import build_dem

        dem_path = build_dem(bbox, out)
        log.info("DEM: %s (Copernicus GLO-30, ellipsoidal heights)", dem_path)
    dem = open_dem(dem_path, bbox)
    cov = dem.covers(bbox)
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
    log.info("reference %s, %d secondaries, %d bursts, AOI %d lines x %d samples", ref.info.date, len(secs), len(plan), L, W)
    samples = s0 + np.arange(W)
    r_samples = ref.slant_range(samples)
    lam = ref.wavelength
    nb = max(8, int(opts.block_lines))
    # blocks of output lines: (segment index, first line in the segment, n lines, first output line)
    blocks = [(i, a, min(nb, sg.n_lines - a), sg.out_line0 + a) for i, sg in enumerate(plan) for a in range(0, sg.n_lines, nb)]

    insar = out / f"INSAR_{yyyymmdd(ref.info.date)}"
    i_c, j_c = (L - 1) // 2, (W - 1) // 2

    def ref_block(i: int, a: int, m: int) -> np.ndarray:
        """Reference SLC lines ``a..a+m`` of deburst segment ``i``."""
        sg = plan[i]
        return ref.read_burst(ref.bursts[sg.burst_index], (sg.burst_line0 + a, sg.burst_line0 + a + m), (s0, s1 + 1))

    def block_geometry(i: int, a: int, m: int, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Secondary ``k``'s azimuth time and range of every pixel of a block of output lines."""
        sg = plan[i]
        tl = ref.bursts[sg.burst_index].time(sg.burst_line0 + a + np.arange(m))
        g = G.grid_geometry(tl, r_samples, ref_orbit, dem.height, [sec_orbits[k]], [shifts[k]], step=opts.geometry_step, geocode=False)
        return g["t_sec"][0], g["r_sec"][0]

    def resample_sec(k: int, sec: Swath, burst_id: int, t_sec, r_sec, shift_s: float) -> np.ndarray:
        """Secondary ``k``'s burst ``burst_id`` resampled at (``t_sec``, ``r_sec``), ESD shift ``shift_s`` applied."""
        sb = sec.burst_by_id(burst_id)
        clock = BurstClock(sb.t0, sec.dt, sec.tau0, sec.fs, (shifts[k], shift_s))
        l0, l1, c0, c1 = window_bounds(t_sec, r_sec, clock, sb.n_lines, sec.n_samples, opts.taps)
        if l1 <= l0 or c1 <= c0:
            return np.zeros(np.shape(t_sec), np.complex64)
        win = sec.read_burst(sb, (l0, l1), (c0, c1))
        return coregister(win, l0, c0, t_sec, r_sec, clock, sb.ramp if opts.deramp else None, opts.taps, overwrite_window=True)

    # ESD overlaps: only their line indices are kept; the pixels are read again per pair, overlap
    # and iteration, so memory does not grow with the number of overlaps either.
    overlaps = []
    if opts.esd is not False and len(plan) > 1:
        for a_, b_ in itertools.pairwise(plan):
            ba, bb = ref.bursts[a_.burst_index], ref.bursts[b_.burst_index]
            j0 = bb.first_valid_line
            j1 = math.floor((ba.t0 + ba.last_valid_line * ref.dt - bb.t0) / ref.dt)
            if j1 - j0 < 8:
                continue
            lines_b = np.arange(j0, j1 + 1)
            lines_a = np.rint((bb.time(lines_b) - ba.t0) / ref.dt).astype(np.int64)
            overlaps.append((a_, b_, lines_a, lines_b))

    def esd_pair(k: int, sec: Swath) -> tuple[float, list[dict]]:
        """ESD azimuth shift (s) of pair ``k``: two iterations over the overlaps, one overlap in memory at a time.

        Per overlap: the secondary's geometry, both bursts resampled, then the reference lines
        read and multiplied in (in place), the Doppler difference last: a few overlap-sized
        arrays at a time.  The second iteration computes the geometry again (cheaper than
        holding it: memory would grow with the overlaps).
        """
        shift = 0.0
        esd_info = []
        tau_s = ref.tau(samples)[None, :]
        for it in range(2):
            zs = []
            for a_, b_, lines_a, lines_b in overlaps:
                ba, bb = ref.bursts[a_.burst_index], ref.bursts[b_.burst_index]
                tl = bb.time(lines_b)
                next_stage("sec_geometry")
                g = G.grid_geometry(tl, r_samples, ref_orbit, dem.height, [sec_orbits[k]], [shifts[k]], step=opts.geometry_step, geocode=False)
                ts_, rs_ = g["t_sec"][0], g["r_sec"][0]
                del g
                next_stage("esd")
                i_a = resample_sec(k, sec, a_.burst_id, ts_, rs_, shift)
                i_b = resample_sec(k, sec, b_.burst_id, ts_, rs_, shift)
                del ts_, rs_
                # reference x conj(secondary), in the secondary's array
                mul_conj(ref.read_burst(ba, (int(lines_a[0]), int(lines_a[-1]) + 1), (s0, s1 + 1)), i_a, out=i_a)
                mul_conj(ref.read_burst(bb, (int(lines_b[0]), int(lines_b[-1]) + 1), (s0, s1 + 1)), i_b, out=i_b)
                df = local_doppler(ba.ramp, tl[:, None], tau_s) - local_doppler(bb.ramp, tl[:, None], tau_s)
                zs.append(esd_terms(i_a, i_b, df, overwrite=True))
                del i_a, i_b, df
            wsum = sum(z[2] * z[1] for z in zs) or 1.0
            d = sum(z[0] * z[2] * z[1] for z in zs) / wsum
            esd_info.append({"iteration": it, "shift_lines": d / ref.dt, "coherence": [z[1] for z in zs]})
            shift += d
        return shift, esd_info

    results = []
    bases = []
    # Everything is written inside the temporary of atomic_dir: a failed run leaves nothing
    # under INSAR_<reference>/ (and an earlier one there untouched).
    with atomic_dir(insar) as tmp:
        writer = StampsStreamWriter(tmp, ref.info.date, W, L)
        # ---------------- 3. reference SLC and geometry, streamed block by block
        next_stage("geometry")
        t_out = np.empty(L)
        lonlat_c = (math.nan, math.nan)
        with writer.reference() as put_ref:
            for i, a, m, o in blocks:
                sg = plan[i]
                tl = ref.bursts[sg.burst_index].time(sg.burst_line0 + a + np.arange(m))
                g = G.grid_geometry(tl, r_samples, ref_orbit, dem.height, (), (), step=opts.geometry_step, geo_dtype=np.float32)
                lon_b, lat_b, hgt_b = (g[q] for q in ("lon", "lat", "hgt"))
                del g
                t_out[o : o + m] = tl
                if o <= i_c < o + m:
                    lonlat_c = (float(lon_b[i_c - o, j_c]), float(lat_b[i_c - o, j_c]))
                put_ref(ref_block(i, a, m), lon_b, lat_b, hgt_b)
                del lon_b, lat_b, hgt_b

        # ---------------- 4. pairs, one at a time, block by block
        for k, sec in enumerate(secs):
            next_stage("esd")
            tp = time.perf_counter()
            shift, esd_info = 0.0, []
            if overlaps:
                shift, esd_info = esd_pair(k, sec)
                log.info("pair %s-%s: ESD azimuth shift %+.4f lines", ref.info.date, sec.info.date, shift / ref.dt)
            next_stage("resample_ifg")
            with writer.pair(sec.info.date) as put_pair:
                for i, a, m, _ in blocks:
                    sg = plan[i]
                    next_stage("sec_geometry")
                    t_sec, r_sec = block_geometry(i, a, m, k)
                    next_stage("resample_ifg")
                    # resampled and written in sub-blocks: smaller secondary windows and outputs, the
                    # same values (each window holds every tap of its pixels, see window_bounds)
                    for u in range(0, m, SUB_LINES):
                        v = min(m, u + SUB_LINES)
                        s_img = resample_sec(k, sec, sg.burst_id, t_sec[u:v], r_sec[u:v], shift)
                        m_blk = ref_block(i, a + u, v - u)
                        # the interferogram overwrites the reference lines (one array less)
                        put_pair(s_img, interferogram(m_blk, s_img, r_samples[None, :], r_sec[u:v], lam, out=m_blk))
                        del s_img, m_blk
                    del t_sec, r_sec
                    if a + m >= sg.n_lines:
                        log.info("pair %s-%s: burst %s done (%d/%d)", ref.info.date, sec.info.date, sg.burst_id, i + 1, len(plan))
            b, bperp_c = pair_base(ref_orbit, sec_orbits[k], float(t_out[0]), float(t_out[-1]), float(r_samples[j_c]), shifts[k])
            writer.write_base(sec.info.date, b)
            bases.append({"C": b.C, "N": b.N, "C_rate": b.C_rate, "N_rate": b.N_rate, "bperp_centre_m": bperp_c})
            results.append({"date": sec.info.date, "esd_shift_lines": shift / ref.dt, "esd": esd_info, "seconds": time.perf_counter() - tp})

        # ---------------- 5. headers
        next_stage("export")
        par = master_par(ref, ref_orbit, W, L, float(t_out[i_c]), lonlat_c, float(r_samples[0]))
        writer.write_headers(par, [s.info.date for s in secs], lonlat_c, float(t_out[0]))
    next_stage("done")
    summary = {
        "insar_dir": str(insar),
        "reference": ref.info.name,
        "reference_slices": [Path(p).name for p in ref.slices],
        "subswath": subswath,
        "polarisation": opts.polarisation,
        "relative_orbit": ref.info.relative_orbit,
        "pass": ref.info.pass_direction,
        "platform": ref.info.mission,
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
        # what a later run needs to extend this stack on the same grid (snapstamps.workflows.ifg_extend)
        "bbox": list(opts.bbox) if opts.bbox is not None else None,
        "esd": opts.esd,
        "dem": str(opts.dem),
        "orbits": str(opts.orbits_dir) if opts.orbits_dir is not None else None,
    }
    atomic_write_text(out / "ifg_stack.json", json.dumps(summary, indent=2, default=str) + "\n")
    return summary
