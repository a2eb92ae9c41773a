"""Simulator of a Sentinel-1 IW SLC SAFE stack with ground truth, on real annotation and terrain.

Base: the real S1A IW1 VV annotation of 2022-01-04 (relative orbit 117) and the real Rome 30 m DEM
from ``shared/data/s1-samples/sarsen`` when they are there; otherwise a synthetic IW1 product and
DEM generated in code (:mod:`.synthetic_base`), so that a clone of the repository alone works.  The Rome DEM lies in IW2/IW3 of that product, not IW1, so
its values are *relocated* (same grid, same EGM96 vertical datum, new georeferencing) to straddle
the boundary of the two simulated IW1 bursts; the relocated DEM is written with the stack.

Each date ``k`` is a copy of the real product with:

* every annotation/manifest time shifted by ``12 k`` days plus a small along-track timing
  difference ``delta_k`` (fractional-line azimuth offsets between dates);
* the orbit: the real state vectors re-evaluated at ``T + delta_k`` and translated by a
  constant ECEF vector ``B_k = bperp_k e_perp + bpar_k los`` (reference frame at the scene centre),
  so the perpendicular baseline to the real track is ``bperp_k`` there;
* a timing error ``eps_k`` between the annotation and the data (the true burst start is
  ``t0 + eps_k``): the residual azimuth misregistration that ESD has to find;
* only ``bursts`` (two by default) and ``n_samples`` range samples kept, annotation edited to
  match (burst list, valid-sample windows, slant-range time of the first sample, GCPs);
* a CFloat32 GeoTIFF measurement (real products are CInt16; xarray-sentinel reads both).

Pixels, per burst: band-limited complex Gaussian clutter (azimuth and range spectra of the
annotated processing bandwidths with a Hamming window) plus point targets (PS), built in the
deramped (baseband) domain and multiplied by the TOPS ramp ``exp(j phi)``
(:func:`snapstamps.ifg.tops.ramp_phase`) of that burst's true timing.  A PS at the ground point
``P`` (DEM height + its DEM error) displaced by ``v (t_k - t_ref)`` toward the satellite along the
reference line of sight has, at its zero-Doppler position (line, sample) in date ``k``, the
impulse response ``h_az x h_rg`` with phase ``psi0 - 4 pi R_k / lambda`` at its peak (the baseband
contribution carries ``-phi(eta_p)``).  PS sit on integer (line, sample) positions of the reference
grid.  Truth: ``truth.npz`` / ``truth.json``.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field, model_validator

from ..errors import InputError
from ..io.atomic import atomic_dir, atomic_path, atomic_write_text
from ..ifg import geocoding as G
from ..ifg.orbits import OrbitInterpolator, StateVectors, eof_name, from_seconds, write_eof
from ..ifg.safe import open_swath
from ..ifg.tops import BurstRamp, ramp_phase

__all__ = ["SafeSimConfig", "simulate_safe_stack", "default_base", "real_samples", "load_safe_truth"]

_SAMPLES = Path(__file__).resolve().parents[4] / "shared" / "data" / "s1-samples" / "sarsen"


def real_samples() -> tuple[Path, Path] | None:
    """The real Rome SAFE and DEM of ``shared/data/s1-samples/sarsen``, or ``None`` when absent.

    Looked for under ``$SNAPSTAMPS_S1_SAMPLES/sarsen`` when that variable is set, else in the
    ``shared/`` folder beside the checkout or beside the working directory.
    """
    env = os.environ.get("SNAPSTAMPS_S1_SAMPLES")
    roots = [Path(env) / "sarsen"] if env else [
        _SAMPLES, Path.cwd().resolve().parent / "shared" / "data" / "s1-samples" / "sarsen"]
    for root in roots:
        safes = sorted(root.glob("S1*_IW_SLC_*.SAFE")) if root.is_dir() else []
        if safes and (root / "Rome-30m-DEM.tif").is_file():
            return safes[0], root / "Rome-30m-DEM.tif"
    return None


def default_base() -> tuple[Path, Path]:
    """The base product and DEM of the simulator: the real Rome sample when present, else synthetic.

    The synthetic base (:func:`snapstamps.simulate.synthetic_base.synthetic_base`: an IW1
    annotation with typical orbit, burst timing and TOPS parameters, and a synthetic DEM, all
    generated in code) makes the simulator work in a clone of the repository alone.
    """
    real = real_samples()
    if real is not None:
        return real
    from .synthetic_base import synthetic_base

    return synthetic_base()


class SafeSimConfig(BaseModel):
    """Configuration of :func:`simulate_safe_stack`."""

    model_config = ConfigDict(extra="forbid")

    n_dates: int = Field(6, ge=2, description="acquisitions, 12 days apart")
    day_spacing: int = Field(12, ge=1)
    reference_index: int | None = Field(None, description="reference date (0-based); default the middle")
    baselines: list[float] | None = Field(None, description="bperp (m) of each date to the real track at scene centre")
    bperp_std_m: float = Field(70.0, ge=0)
    bpar_std_m: float = Field(20.0, ge=0)
    seed: int = 0
    bursts: tuple[int, int] = Field((3, 4), description="first and last burst index (0-based) of the real product kept")
    first_sample: int = Field(1000, ge=0)
    n_samples: int = Field(1800, ge=64)
    along_track_jitter_lines: float = Field(0.3, ge=0, description="std of the between-date timing difference (lines)")
    timing_error_lines: float = Field(0.01, ge=0, description="std of the annotation-vs-data timing error (lines), for ESD")
    ps_density: float = Field(0.004, gt=0, le=0.05, description="PS per reference pixel inside the DEM")
    ps_scr_db: tuple[float, float] = (18.0, 28.0)
    clutter_rms: float = Field(50.0, gt=0)
    max_velocity_mm_yr: float = Field(20.0, ge=0)
    trend_mm_yr: float = 3.0
    dem_error_std_m: float = Field(3.0, ge=0)
    targets_only: bool = Field(False, description="no clutter (point-target accuracy tests)")
    no_ramp: bool = Field(False, description="simulate without TOPS steering phase (tests only)")
    split_dates: list[int] = Field(default_factory=list, description="dates (0-based) written as two consecutive slices")
    split_overlap: int = Field(0, ge=0, description="bursts present in both slices of a split date (duplicates)")

    @model_validator(mode="after")
    def _check(self) -> "SafeSimConfig":
        if self.baselines is not None and len(self.baselines) != self.n_dates:
            raise ValueError(f"{len(self.baselines)} baselines for {self.n_dates} dates")
        if self.reference_index is not None and not 0 <= self.reference_index < self.n_dates:
            raise ValueError("reference_index outside the dates")
        if self.bursts[1] < self.bursts[0]:
            raise ValueError("bursts must be FIRST <= LAST")
        if self.split_dates and self.bursts[1] == self.bursts[0]:
            raise ValueError("split_dates needs at least two bursts")
        if any(not 0 <= k < self.n_dates for k in self.split_dates):
            raise ValueError("split_dates outside the dates")
        return self

    @property
    def ref(self) -> int:
        return self.n_dates // 2 if self.reference_index is None else self.reference_index


# --------------------------------------------------------------------------- helpers

_ISO = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?)")
_COMPACT = re.compile(r"(\d{8})([tT])(\d{6})")


def _shift_iso(text: str, shift_ns: int) -> str:
    def rep(m: re.Match) -> str:
        s = m.group(1)
        t = np.datetime64(s, "ns") + np.timedelta64(shift_ns, "ns")
        out = str(t)
        if "." in s:
            nd = len(s.split(".")[1])
            head, frac = out.split(".") if "." in out else (out, "0" * 9)
            return head + "." + (frac + "0" * 9)[:nd]
        return out.split(".")[0]

    return _ISO.sub(rep, text)


def _shift_compact(text: str, shift_ns: int) -> str:
    def rep(m: re.Match) -> str:
        d, sep, hms = m.groups()
        t = np.datetime64(f"{d[:4]}-{d[4:6]}-{d[6:]}T{hms[:2]}:{hms[2:4]}:{hms[4:]}", "ns") + np.timedelta64(shift_ns, "ns")
        s = str(np.datetime64(t, "s")).replace("-", "").replace(":", "")
        return s.replace("T", sep)

    return _COMPACT.sub(rep, text)


def _impulse(x: NDArray[np.float64], frac_bw: float, alpha: float) -> NDArray[np.float64]:
    """Response of a Hamming(alpha)-weighted rectangular spectrum of width ``frac_bw`` (x in samples), peak 1."""
    u = frac_bw * x
    return (alpha * np.sinc(u) + 0.5 * (1 - alpha) * (np.sinc(u - 1) + np.sinc(u + 1))) / alpha


def _bandlimit(z: NDArray[np.complex64], frac_az: float, frac_rg: float, alpha: float) -> NDArray[np.complex64]:
    def win(n: int, frac: float) -> NDArray[np.float64]:
        f = np.fft.fftfreq(n)
        x = f / frac
        return np.where(np.abs(x) <= 0.5, alpha + (1 - alpha) * np.cos(2 * np.pi * x), 0.0)

    Z = np.fft.fft2(z)
    Z *= win(z.shape[0], frac_az)[:, None] * win(z.shape[1], frac_rg)[None, :]
    out = np.fft.ifft2(Z)
    return (out / np.sqrt(np.mean(np.abs(out) ** 2))).astype(np.complex64)


def _velocity(lon, lat, c_lon, c_lat, cfg: SafeSimConfig):
    x = (np.asarray(lon) - c_lon) * 111e3 * math.cos(math.radians(c_lat))
    y = (np.asarray(lat) - c_lat) * 111e3
    bowl = np.exp(-((x - 800.0) ** 2 + (y + 600.0) ** 2) / (2 * 1800.0**2))
    return -cfg.max_velocity_mm_yr * bowl + cfg.trend_mm_yr * (y / 5000.0)


# --------------------------------------------------------------------------- main


def simulate_safe_stack(out_dir: Path, config: SafeSimConfig | None = None, base: tuple[Path, Path] | None = None, progress: Callable[[float], None] | None = None) -> dict:
    """Write ``out_dir/<product>.SAFE`` for every date, ``orbits/*.EOF``, ``dem/*.tif``, truth; return the truth summary."""
    import rasterio
    from rasterio.transform import Affine

    cfg = config or SafeSimConfig()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    safe0, dem0 = base or default_base()
    sw = open_swath(safe0, "IW1", "VV")
    orbit0 = OrbitInterpolator(sw.orbit)
    rng = np.random.default_rng([cfg.seed, 11])
    b_first, b_last = cfg.bursts
    if b_last >= len(sw.bursts):
        raise InputError(f"bursts {cfg.bursts}: the base product has {len(sw.bursts)}")
    bursts = sw.bursts[b_first : b_last + 1]
    s0, W = cfg.first_sample, cfg.n_samples
    if s0 + W > sw.n_samples:
        raise InputError("first_sample + n_samples exceeds the base product")
    lam, dt, fs = sw.wavelength, sw.dt, sw.fs
    c = G.SPEED_OF_LIGHT

    # ---- scene centre: middle sample, between the first two kept bursts
    mid_b = bursts[len(bursts) // 2 - 1] if len(bursts) > 1 else bursts[0]
    t_c = mid_b.t0 + mid_b.last_valid_line * dt if len(bursts) > 1 else mid_b.t0 + mid_b.n_lines / 2 * dt
    r_c = float(sw.slant_range(s0 + W / 2))
    p_c = G.rdr2geo(t_c, r_c, 0.0, orbit0)
    c_lon, c_lat, _ = (float(v) for v in G.ecef_to_geodetic(p_c))

    # ---- relocated DEM (same values/datum, centred on the scene centre)
    dem_dir = out_dir / "dem"
    dem_dir.mkdir(exist_ok=True)
    dem_path = dem_dir / f"{dem0.stem}-relocated-IW1.tif"
    with rasterio.open(dem0) as ds:
        arr = ds.read(1)
        prof = ds.profile.copy()
        tr = ds.transform
    nx, ny = arr.shape[1], arr.shape[0]
    new_tr = Affine(tr.a, tr.b, c_lon - tr.a * nx / 2.0, tr.d, tr.e, c_lat - tr.e * ny / 2.0)
    prof.update(transform=new_tr)
    with atomic_path(dem_path) as tmp:
        with rasterio.open(tmp, "w", **prof) as ds:
            ds.write(arr, 1)
    from ..ifg.dem import open_dem

    dem = open_dem(dem_path)

    # ---- dates, baselines, timing
    M = cfg.n_dates
    ref = cfg.ref
    d0 = sw.info.date
    dates = [d0 + _dt.timedelta(days=cfg.day_spacing * k) for k in range(M)]
    if cfg.baselines is not None:
        bperp = np.array(cfg.baselines, np.float64)
    else:
        bperp = np.clip(rng.normal(0.0, cfg.bperp_std_m, M), -2.5 * cfg.bperp_std_m - 1, 2.5 * cfg.bperp_std_m + 1)
        bperp[ref] = 0.0
    bpar = rng.normal(0.0, cfg.bpar_std_m, M)
    bpar[ref] = 0.0 if cfg.baselines is None else bpar[ref]
    delta = rng.normal(0.0, cfg.along_track_jitter_lines, M) * dt
    eps = rng.normal(0.0, cfg.timing_error_lines, M) * dt
    s_c, v_c = orbit0.evaluate(t_c, 1)
    los_c = (p_c - s_c) / np.linalg.norm(p_c - s_c)
    up_c = s_c / np.linalg.norm(s_c)
    e_perp = up_c - (up_c @ los_c) * los_c
    e_perp /= np.linalg.norm(e_perp)
    B = bperp[:, None] * e_perp[None, :] + bpar[:, None] * los_c[None, :]
    day_ns = 86400 * 10**9
    shift_ns = [int(round(cfg.day_spacing * k * day_ns + delta[k] * 1e9)) for k in range(M)]

    # orbits of each date, times in the date's own epoch (= base epoch + 12k days)
    orbits = []
    for k in range(M):
        sv = StateVectors(sw.orbit.epoch + np.timedelta64(cfg.day_spacing * k, "D"), sw.orbit.time + delta[k] * 0.0, np.zeros_like(sw.orbit.position), np.zeros_like(sw.orbit.velocity), "simulated")
        # vector at new time T + delta_k (own epoch) = base orbit at T (base epoch) ... shifted: P(T) + B_k at time T + delta_k
        sv.time = sw.orbit.time + delta[k]
        pos, vel = orbit0.evaluate(sw.orbit.time, 1)
        sv.position = pos + B[k]
        sv.velocity = vel
        orbits.append(sv)
    interps = [OrbitInterpolator(o) for o in orbits]

    # ---- PS in the reference grid (times relative to the base epoch == reference's own epoch minus 12*ref days)
    # a time t in the base product corresponds to t + delta_k in date k's own epoch.
    frac_az = sw.az_bandwidth * dt
    frac_rg = sw.rg_bandwidth / fs
    # deburst ownership of the reference lines (midpoint of overlaps)
    own = []
    for i, b in enumerate(bursts):
        lo = b.first_valid_line
        hi = b.last_valid_line
        if i > 0:
            pb = bursts[i - 1]
            mid_t = 0.5 * (pb.t0 + pb.last_valid_line * dt + b.t0 + b.first_valid_line * dt)
            lo = max(lo, int(math.ceil((mid_t - b.t0) / dt)))
        if i < len(bursts) - 1:
            nb = bursts[i + 1]
            mid_t = 0.5 * (b.t0 + b.last_valid_line * dt + nb.t0 + nb.first_valid_line * dt)
            hi = min(hi, int(math.ceil((mid_t - b.t0) / dt)) - 1)
        own.append((lo, hi))
    ref_t = []
    ref_line = []
    ref_burst = []
    ref_sample = []
    margin_s = 16
    for i, b in enumerate(bursts):
        lo, hi = own[i]
        n_cand = int(cfg.ps_density * (hi - lo + 1) * (W - 2 * margin_s))
        li = rng.integers(lo, hi + 1, n_cand)
        si = rng.integers(margin_s, W - margin_s, n_cand)
        key = np.unique(li * 100000 + si)
        li, si = key // 100000, key % 100000
        ref_t.append(b.t0 + eps[ref] + li * dt)  # true time of the reference line (data timing)
        ref_line.append(li)
        ref_sample.append(si)
        ref_burst.append(np.full(li.size, b.burst_id))
    t_ref = np.concatenate(ref_t)
    l_ref = np.concatenate(ref_line)
    s_ref = np.concatenate(ref_sample)
    bid_ref = np.concatenate(ref_burst)
    r_ref = sw.slant_range(s0 + s_ref)
    # the reference date's own clock: t_ref is in the base timeline + delta_ref
    t_ref_own = t_ref + delta[ref]
    # ground points: iterate height = DEM + dem error
    dem_err = rng.normal(0.0, cfg.dem_error_std_m, t_ref.size)
    h = np.zeros_like(t_ref)
    for _ in range(4):
        P = G.rdr2geo(t_ref_own, r_ref, h, interps[ref])
        lon, lat, _ = G.ecef_to_geodetic(P)
        hd = dem.height(lon, lat)
        h = np.where(np.isfinite(hd), hd, np.nan) + dem_err
        h = np.where(np.isfinite(h), h, 0.0)
    ok = np.isfinite(dem.height(lon, lat))
    t_ref, l_ref, s_ref, bid_ref, r_ref, t_ref_own, dem_err, P, lon, lat, h = (
        a[ok] for a in (t_ref, l_ref, s_ref, bid_ref, r_ref, t_ref_own, dem_err, P, lon, lat, h)
    )
    n_ps = t_ref.size
    h_dem = h - dem_err
    vel = _velocity(lon, lat, c_lon, c_lat, cfg)
    scr_db = rng.uniform(*cfg.ps_scr_db, n_ps)
    amp = cfg.clutter_rms * 10 ** (scr_db / 20.0)
    psi0 = rng.uniform(-np.pi, np.pi, n_ps)
    s_ps = interps[ref].position(t_ref_own)
    los_ps = (s_ps - P) / np.linalg.norm(s_ps - P, axis=-1, keepdims=True)  # toward the satellite
    days = np.array([(d - dates[ref]).days for d in dates], np.float64)

    # per-date target geometry
    tgt_t, tgt_r = [], []
    for k in range(M):
        disp = vel * days[k] / 365.25 / 1000.0  # m toward the satellite
        Pk = P + disp[:, None] * los_ps
        tk, rk = G.geo2rdr(Pk, interps[k], t_ref - delta[ref] * 0 + (delta[k] - delta[ref]) + (t_ref_own - t_ref))
        tgt_t.append(tk)
        tgt_r.append(rk)

    # expected interferometric phase after flat-earth/topography removal with the DEM:
    # ref x conj(sec) x exp(-j 4 pi (R_k(DEM point) - R_ref) / lambda) = exp(j 4 pi (R_k_true - R_k_dem) / lambda)
    P_dem = G.rdr2geo(t_ref_own, r_ref, h_dem, interps[ref])
    model = np.zeros((n_ps, M))
    for k in range(M):
        _, rk_dem = G.geo2rdr(P_dem, interps[k], tgt_t[k])
        model[:, k] = 4.0 * np.pi / lam * (tgt_r[k] - rk_dem)

    # truth bperp at the scene centre, relative to the reference
    s_ref_c = interps[ref].position(G.geo2rdr(p_c, interps[ref], t_c + delta[ref])[0])
    bperp_pairs = np.zeros(M)
    bpar_pairs = np.zeros(M)
    for k in range(M):
        tk, _ = G.geo2rdr(p_c, interps[k], t_c + delta[k])
        bp, bpa, _, _ = G.baseline_components(s_ref_c, interps[k].position(tk), p_c)
        bperp_pairs[k], bpar_pairs[k] = float(bp), float(bpa)
    # per-PS bperp (for the truth phase model)
    ps_bperp = np.zeros((n_ps, M))
    for k in range(M):
        bp, _, _, _ = G.baseline_components(s_ps, interps[k].position(tgt_t[k]), P)
        ps_bperp[:, k] = bp

    # ---- write each date
    base_name = safe0.name
    names = []
    half = 12
    offs = np.arange(-half, half + 1)
    date_products: list[list[str]] = []
    for k in range(M):
        # pixels
        n_lines = len(bursts) * sw.lines_per_burst
        data = np.zeros((n_lines, W), np.complex64)
        rng_k = np.random.default_rng([cfg.seed, 23, k])
        tau = sw.tau(s0 + np.arange(W))
        for i, b in enumerate(bursts):
            t0_true = b.t0 + delta[k] + eps[k]  # own clock of date k
            ramp = BurstRamp(t0_true + dt * b.n_lines / 2.0, b.ramp.ks, b.ramp.fm_t0, b.ramp.fm_coeffs, b.ramp.dc_t0, b.ramp.dc_coeffs, b.ramp.tau_mid)
            if cfg.targets_only:
                bb = np.zeros((b.n_lines, W), np.complex64)
            else:
                z = (rng_k.standard_normal((b.n_lines, W)) + 1j * rng_k.standard_normal((b.n_lines, W))).astype(np.complex64)
                bb = _bandlimit(z, frac_az, frac_rg, 0.7) * np.float32(cfg.clutter_rms)
            yl = (tgt_t[k] - t0_true) / dt
            xs = (2.0 * tgt_r[k] / c - sw.tau0) * fs - s0
            sel = (yl > -half) & (yl < b.n_lines + half) & (xs > -half) & (xs < W + half)
            if sel.any():
                y0 = np.floor(yl[sel]).astype(np.int64)
                x0 = np.floor(xs[sel]).astype(np.int64)
                haz = _impulse(y0[:, None] + offs[None, :] - yl[sel][:, None], frac_az, 0.7)
                hrg = _impulse(x0[:, None] + offs[None, :] - xs[sel][:, None], frac_rg, 0.7)
                tau_p = sw.tau0 + (xs[sel] + s0) / fs
                ph = psi0[sel] - 4.0 * np.pi * tgt_r[k][sel] / lam
                if not cfg.no_ramp:
                    ph = ph - ramp_phase(ramp, tgt_t[k][sel], tau_p)
                val = amp[sel] * np.exp(1j * ph)
                L = y0[:, None, None] + offs[None, :, None]
                S = x0[:, None, None] + offs[None, None, :]
                V = val[:, None, None] * haz[:, :, None] * hrg[:, None, :]
                m = (L >= 0) & (L < b.n_lines) & (S >= 0) & (S < W)
                Lb, Sb, Vb = np.broadcast_arrays(L, S, V)
                np.add.at(bb, (Lb[m], Sb[m]), Vb[m].astype(np.complex64))
            if not cfg.no_ramp:
                tl = t0_true + np.arange(b.n_lines) * dt
                bb *= np.exp(1j * ramp_phase(ramp, tl[:, None], tau[None, :])).astype(np.complex64)
            data[i * b.n_lines : (i + 1) * b.n_lines] = bb
        # one product, or two consecutive slices; the first repeats ``split_overlap`` bursts of the second
        n_a = len(bursts) // 2
        groups = [(0, min(len(bursts), n_a + cfg.split_overlap)), (n_a, len(bursts))] if k in cfg.split_dates else [(0, len(bursts))]
        date_products.append([])
        for g0, g1 in groups:
            extra_ns = int(round((bursts[g0].t0 - bursts[0].t0) * 1e9))
            name = _shift_compact(base_name, shift_ns[k] + extra_ns)
            date_products[-1].append(name)
            lpb = sw.lines_per_burst
            with atomic_dir(out_dir / name) as tmp:
                _write_product(tmp, safe0, sw, k, shift_ns[k], orbits[k], bursts[g0:g1], s0, W, cfg, manifest_extra_ns=extra_ns)
                meas_name = _shift_compact(sw.measurement.name if sw.measurement else sw.annotation.stem + ".tiff", shift_ns[k] + extra_ns)
                (tmp / "measurement").mkdir(exist_ok=True)
                with rasterio.open(tmp / "measurement" / meas_name, "w", driver="GTiff", width=W, height=(g1 - g0) * lpb, count=1, dtype="complex64") as ds:
                    ds.write(data[g0 * lpb : g1 * lpb], 1)
        names.append(date_products[-1][0])
        # orbit file
        odir = out_dir / "orbits"
        odir.mkdir(exist_ok=True)
        t_abs = from_seconds(orbits[k].time, orbits[k].epoch)
        write_eof(odir / eof_name(sw.info.mission, t_abs[0], t_abs[-1]), orbits[k], sw.info.mission)
        if progress:
            progress((k + 1) / M)

    truth = {
        "products": np.array(names),
        "dates": np.array([d.strftime("%Y%m%d") for d in dates]),
        "reference_index": np.array(ref),
        "wavelength": np.array(lam),
        "bperp_scene_centre": bperp_pairs,
        "bpar_scene_centre": bpar_pairs,
        "bperp_track": bperp,
        "delta_s": delta,
        "timing_error_s": eps,
        "scene_centre_lonlat": np.array([c_lon, c_lat]),
        "ps_burst_id": bid_ref,
        "ps_burst_line": l_ref,
        "ps_sample": s_ref,  # 0-based in the simulated products
        "ps_lonlat": np.column_stack([lon, lat]),
        "ps_hgt_dem": h_dem,
        "ps_dem_error_m": dem_err,
        "ps_velocity_mm_yr": vel,
        "ps_amplitude": amp,
        "ps_scr_db": scr_db,
        "ps_bperp_m": ps_bperp,
        "ps_range": r_ref,
        "ps_phase_model": model,
        "ps_t": np.stack(tgt_t, axis=1),
        "ps_r": np.stack(tgt_r, axis=1),
    }
    with atomic_path(out_dir / "truth.npz") as tp:
        with open(tp, "wb") as fh:
            np.savez(fh, **truth)
    summary = {
        "config": cfg.model_dump(mode="json"),
        "products": names,
        "date_products": date_products,
        "dates": [d.strftime("%Y%m%d") for d in dates],
        "reference": names[ref],
        "reference_index": ref,
        "dem": str(dem_path.relative_to(out_dir)),
        "orbits": "orbits",
        "n_ps": int(n_ps),
        "scene_centre_lonlat": [c_lon, c_lat],
        "bbox_dem": [float(new_tr.c), float(new_tr.f + new_tr.e * ny), float(new_tr.c + new_tr.a * nx), float(new_tr.f)],
        "bperp_scene_centre_m": [float(x) for x in bperp_pairs],
        "timing_error_lines": [float(x / dt) for x in eps],
        "sign_conventions": "bperp = (S_sec - S_ref) . e_perp (e_perp perpendicular to the reference LOS, away from the Earth); "
        "ifg = reference x conj(secondary); velocity + toward the satellite",
        "attribution": "Contains modified Copernicus Sentinel data 2022; Copernicus DEM GLO-30 values (relocated)"
        if "Rome" in dem0.name else "synthetic base product and DEM (snapstamps.simulate.synthetic_base)",
    }
    atomic_write_text(out_dir / "truth.json", json.dumps(summary, indent=2) + "\n")
    return summary


def _write_product(tmp: Path, safe0: Path, sw, k: int, shift_ns: int, orbit: StateVectors, bursts, s0: int, W: int, cfg: SafeSimConfig, manifest_extra_ns: int = 0) -> None:
    """Manifest and edited annotation/calibration of date ``k`` keeping ``bursts``.

    ``manifest_extra_ns`` moves the manifest times (product start/stop) and file names of a later
    slice; the annotation content keeps the true burst times.
    """
    (tmp / "annotation" / "calibration").mkdir(parents=True)
    man = (safe0 / "manifest.safe").read_text(encoding="utf-8")
    man = _shift_iso(man, shift_ns + manifest_extra_ns)
    man = _shift_compact(man, shift_ns + manifest_extra_ns)
    man = re.sub(r'(<safe:orbitNumber type="(?:start|stop)">)(\d+)<', lambda m: f"{m.group(1)}{int(m.group(2)) + 175 * (k)}<", man)
    (tmp / "manifest.safe").write_text(man, encoding="utf-8")
    for cal in sorted((safe0 / "annotation" / "calibration").glob("*-iw1-*vv*.xml")):
        txt = _shift_compact(_shift_iso(cal.read_text(encoding="utf-8"), shift_ns), shift_ns)
        (tmp / "annotation" / "calibration" / _shift_compact(cal.name, shift_ns + manifest_extra_ns)).write_text(txt, encoding="utf-8")
    text = _shift_iso(sw.annotation.read_text(encoding="utf-8"), shift_ns)
    root = ET.fromstring(text)
    # orbit
    ol = root.find(".//generalAnnotation/orbitList")
    for o, p, v in zip(ol.findall("orbit"), orbit.position, orbit.velocity):
        for tag, vec in (("position", p), ("velocity", v)):
            e = o.find(tag)
            for ax, val in zip("xyz", vec):
                e.find(ax).text = f"{val:.15e}"
    n_b = len(bursts)
    lpb = sw.lines_per_burst
    st = root.find(".//swathTiming")
    st.find("samplesPerBurst").text = str(W)
    bl = st.find("burstList")
    all_b = bl.findall("burst")
    for i, b in enumerate(all_b):
        if i < bursts[0].index or i > bursts[-1].index:
            bl.remove(b)
            continue
        for tag in ("firstValidSample", "lastValidSample"):
            e = b.find(tag)
            vals = np.array([int(x) for x in e.text.split()])
            new = np.where(vals < 0, -1, np.clip(vals - s0, 0, W - 1))
            e.text = " ".join(str(int(x)) for x in new)
    bl.set("count", str(n_b))
    ii = root.find(".//imageAnnotation/imageInformation")
    tau_new = sw.tau0 + s0 / sw.fs
    ii.find("slantRangeTime").text = f"{tau_new:.15e}"
    ii.find("numberOfSamples").text = str(W)
    ii.find("numberOfLines").text = str(n_b * lpb)
    first_t = bl.findall("burst")[0].findtext("azimuthTime")
    ii.find("productFirstLineUtcTime").text = first_t
    last = np.datetime64(bl.findall("burst")[-1].findtext("azimuthTime"), "ns") + np.timedelta64(int(round((lpb - 1) * sw.dt * 1e9)), "ns")
    ii.find("productLastLineUtcTime").text = str(last)[:26]
    # geolocation grid: rows of the kept bursts, pixel indices shifted
    gl = root.find(".//geolocationGrid/geolocationGridPointList")
    l_lo, l_hi = bursts[0].line0, bursts[-1].line0 + lpb
    kept = 0
    for p in gl.findall("geolocationGridPoint"):
        line = int(p.findtext("line"))
        if line < l_lo or line > l_hi:
            gl.remove(p)
            continue
        p.find("line").text = str(line - l_lo)
        p.find("pixel").text = str(int(p.findtext("pixel")) - s0)
        kept += 1
    gl.set("count", str(kept))
    xml = ET.tostring(root, encoding="unicode")
    (tmp / "annotation" / _shift_compact(sw.annotation.name, shift_ns + manifest_extra_ns)).write_text('<?xml version="1.0" encoding="UTF-8"?>\n' + xml, encoding="utf-8")


def load_safe_truth(out_dir: Path) -> dict[str, np.ndarray]:
    with np.load(Path(out_dir) / "truth.npz", allow_pickle=False) as z:
        return {k: z[k] for k in z.files}
