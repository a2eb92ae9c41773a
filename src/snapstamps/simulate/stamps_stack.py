"""Deterministic simulator of a SNAP StampsExport stack (``INSAR_<master>/``) with ground truth.

Physics (all conventions of ``docs/conventions.md``):

* **Geometry**: Sentinel-1 IW-like slant-range grid on a spherical Earth (the same model StaMPS
  step 1 and :mod:`snapstamps.psi.geometry` use): slant range ``r_j = near_range + j*rps``, look
  and incidence angles from ``sar_to_earth_center`` and ``earth_radius_below_sensor``.  Ground
  coordinates are the along-track distance ``(i - (L-1)/2) * azimuth_pixel_spacing`` and the
  across-track ground distance ``Re * (inc - look)`` relative to the centre pixel; lon/lat follow
  from a flat local approximation about the scene centre, rotated by the heading (right-looking).
* **Scattering**: every pixel of every date holds circular complex Gaussian clutter, independent
  between dates (fully decorrelating, Rayleigh amplitude, D_A = sqrt(4/pi - 1) ~ 0.52).  PS pixels
  add a stable point target of amplitude ``A = clutter_rms * 10**(SCR_dB/20)``, so the amplitude
  dispersion (~1/sqrt(2 SCR)) and the phase noise (ifg: ~1/sqrt(SCR) rad) follow from the SCR.
  PS positions are random, never 8-adjacent.
* **Phase**: the point target's phase is chosen so that ``master x conj(slave)`` at a PS equals::

      -(4 pi / lambda) (d_k - d_master) + K * bperp_k(pixel) + (4 pi / lambda)(aps_master - aps_k)

  with ``d = v * (t_k - t_master)`` the LOS displacement toward the satellite (mm -> m), ``v`` a
  smooth field (two Gaussian subsidence bowls plus a gentle along-track trend), ``K = dem_error *
  dem_error_phase_per_m(r, inc, lambda)``, ``bperp_k(pixel)`` from
  :func:`snapstamps.psi.geometry.perpendicular_baseline` applied to the ``.base`` values *as read
  back from the written files*, and ``aps`` an apparent LOS displacement (mm, toward the
  satellite) of a spatially correlated random field per date (Gaussian-filtered white noise with
  covariance ``exp(-d^2 / aps_corr_length_m^2)`` and standard deviation ``aps_std_mm``).
  The topographic phase is zero (already removed), so ``diff = rslc_master * conj(rslc_slave)``.
* **Streaming**: rasters are generated and written in blocks of lines (all files open at once,
  every date's clutter drawn from its own per-(date, block) random stream), so memory holds one
  block per date, never a whole stack.  Results do not depend on anything but the config.

Outputs: ``out_dir/INSAR_<master>/`` (rslc/, diff0/, geo/, dem/), ``out_dir/truth.npz``,
``out_dir/truth.json``.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Literal

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field, model_validator
from scipy import ndimage

from ..io.atomic import atomic_dir, atomic_path, atomic_write_text
from ..io.stamps_export import (
    Baseline,
    MasterPar,
    read_base,
    read_par,
    stream_raster_be,
    write_base,
    write_par,
    yyyymmdd,
)
from ..psi import geometry as geo

__all__ = ["SimConfig", "simulate_stamps_stack", "load_truth"]

_BLOCK_LINES = 256  # fixed so that the random streams (and outputs) never depend on memory


class SimConfig(BaseModel):
    """Configuration of :func:`simulate_stamps_stack` (Sentinel-1 IW defaults, SI units unless noted)."""

    model_config = ConfigDict(extra="forbid")

    # --- raster and time
    width: int = Field(300, ge=8, description="range samples (pixels per line)")
    length: int = Field(600, ge=8, description="azimuth lines")
    n_dates: int = Field(30, ge=4, description="acquisitions (master included); >= 4 so there are >= 3 ifgs")
    start_date: _dt.date = Field(_dt.date(2024, 1, 5), description="first acquisition date")
    day_spacing: int = Field(12, ge=1, description="days between acquisitions (S1 repeat cycle)")
    master: Literal["middle"] | int = Field("middle", description="master: 'middle' (n_dates//2) or a 0-based date index")
    seed: int = Field(0, description="seed of every random draw")

    # --- scatterers
    ps_fraction: float = Field(0.02, gt=0, le=0.2, description="fraction of pixels that are PS")
    ps_scr_db: tuple[float, float] = Field((10.0, 25.0), description="PS signal-to-clutter ratio range (dB), uniform")
    clutter_rms: float = Field(50.0, gt=0, description="rms amplitude of the clutter (SLC digital numbers)")

    # --- baselines
    bperp_std_m: float = Field(60.0, ge=0, description="std of the perpendicular baseline at scene centre (m)")
    bperp_max_m: float = Field(200.0, gt=0, description="|bperp| is clipped to this (m)")
    bpar_std_m: float = Field(30.0, ge=0, description="std of the parallel baseline (m)")
    baseline_rate_std_m_s: float = Field(0.01, ge=0, description="std of the C and N baseline rates (m/s)")

    # --- signals
    aps_std_mm: float = Field(1.0, ge=0, description="std of the per-date atmosphere (apparent LOS mm)")
    aps_corr_length_m: float = Field(2000.0, gt=0, description="atmosphere correlation length (m)")
    dem_error_std_m: float = Field(5.0, ge=0, description="std of the PS DEM errors (m)")
    max_velocity_mm_yr: float = Field(20.0, ge=0, description="depth of the main subsidence bowl (mm/yr, away from the satellite)")
    trend_mm_yr: float = Field(2.0, description="linear LOS velocity change along track across the scene (mm/yr)")

    # --- optional signals (all off by default: a default config reproduces earlier stacks exactly)
    aps_powerlaw_rad: tuple[float, float] = Field(
        (0.0, 0.0), description="per-date std (rad, over the PS) of a power-law atmosphere, uniform in [low, high]; 0 = off"
    )
    aps_powerlaw_beta: float = Field(8.0 / 3.0, gt=0, description="spectral exponent of the power-law atmosphere (PSD ~ k^-beta)")
    tropo_rad_per_km: float = Field(
        0.0, ge=0, description="std over dates of the height-correlated delay (rad of LOS phase per km of height); 0 = off"
    )
    seasonal_amplitude_mm: float = Field(0.0, ge=0, description="peak seasonal LOS amplitude (mm), smooth pattern over the scene")
    acceleration_mm_yr2: float = Field(0.0, description="LOS acceleration at the centre of the main bowl (mm/yr^2)")
    drop_dates: list[int] = Field(default_factory=list, description="0-based indices of the regular schedule left out (gaps)")
    day_jitter: int = Field(0, ge=0, description="each date moved by a random whole number of days in [-jitter, jitter]")
    delay_maps: bool = Field(False, description="write per-date zenith total delay GeoTIFFs (GACOS-style, m) to out_dir/delays/")

    # --- geometry (Sentinel-1 IW, spherical Earth)
    radar_frequency_hz: float = Field(5.405e9, gt=0, description="C-band carrier (Hz)")
    range_pixel_spacing_m: float = Field(2.329562, gt=0, description="slant-range pixel spacing (m)")
    azimuth_line_time_s: float = Field(2.055556e-3, gt=0, description="azimuth line interval (s); prf = 1/this")
    azimuth_pixel_spacing_m: float = Field(13.9, gt=0, description="azimuth (ground) pixel spacing (m)")
    near_range_m: float = Field(850_000.0, gt=0, description="slant range of the first pixel (m)")
    sar_to_earth_center_m: float = Field(7_071_000.0, gt=0, description="satellite radius (m)")
    earth_radius_m: float = Field(6_371_000.0, gt=0, description="Earth radius below the sensor (m)")
    heading_deg: float = Field(-167.0, description="platform heading (deg from north; -167 descending, -13 ascending)")
    scene_lon: float = Field(12.5, ge=-180, le=180, description="scene centre longitude (deg)")
    scene_lat: float = Field(41.9, gt=-89, lt=89, description="scene centre latitude (deg)")
    sensor: str = Field("SENTINEL-1A", pattern=r"^\S+$", description="sensor name written to the par")
    dem_mean_m: float = Field(150.0, description="mean height of the synthetic terrain (m)")
    dem_relief_m: float = Field(120.0, ge=0, description="relief amplitude of the synthetic terrain (m)")

    @model_validator(mode="after")
    def _check(self) -> "SimConfig":
        lo, hi = self.ps_scr_db
        if hi < lo:
            raise ValueError("ps_scr_db must be (low, high) with low <= high")
        if isinstance(self.master, int) and not (0 <= self.master < self.n_dates):
            raise ValueError(f"master index {self.master} outside 0..{self.n_dates - 1}")
        plo, phi = self.aps_powerlaw_rad
        if plo < 0 or phi < plo:
            raise ValueError("aps_powerlaw_rad must be (low, high) with 0 <= low <= high")
        if any(not 0 <= i < self.n_dates for i in self.drop_dates):
            raise ValueError(f"drop_dates must be indices in 0..{self.n_dates - 1}")
        if self.n_dates - len(set(self.drop_dates)) < 4:
            raise ValueError("fewer than 4 dates left after drop_dates")
        if 2 * self.day_jitter >= self.day_spacing:
            raise ValueError("day_jitter must be less than half of day_spacing (dates must stay in order)")
        if self.sar_to_earth_center_m <= self.earth_radius_m:
            raise ValueError("sar_to_earth_center_m must exceed earth_radius_m")
        far = self.near_range_m + (self.width - 1) * self.range_pixel_spacing_m
        if self.near_range_m <= self.sar_to_earth_center_m - self.earth_radius_m or far**2 > (
            self.sar_to_earth_center_m**2 - self.earth_radius_m**2
        ):
            raise ValueError("slant ranges do not hit the Earth: check near_range_m and width")
        return self

    @property
    def master_index(self) -> int:
        """0-based index of the master among the dates (after ``drop_dates``)."""
        m = len(self.dates)
        return m // 2 if self.master == "middle" else min(int(self.master), m - 1)

    @property
    def dates(self) -> list[_dt.date]:
        """Acquisition dates: the regular schedule, jittered by ``day_jitter``, minus ``drop_dates``."""
        jit = np.zeros(self.n_dates, dtype=np.int64)
        if self.day_jitter:
            jit = np.random.default_rng([self.seed, 7]).integers(-self.day_jitter, self.day_jitter + 1, self.n_dates)
        drop = set(self.drop_dates)
        return [
            self.start_date + _dt.timedelta(days=self.day_spacing * k + int(jit[k]))
            for k in range(self.n_dates)
            if k not in drop
        ]


# --------------------------------------------------------------------------- helpers


def _pick_ps(rng: np.random.Generator, length: int, width: int, fraction: float) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Random PS positions, at most one per 2x2 block and never 8-adjacent (raster order).

    Each 2x2 block is occupied with probability ``4 * fraction`` at a random offset inside it;
    where two occupied pixels touch, only the one with the larger random priority survives.
    """
    nb_l, nb_w = (length + 1) // 2, (width + 1) // 2
    occ = rng.random((nb_l, nb_w)) < min(1.0, 4.0 * fraction)
    off = rng.integers(0, 2, size=(nb_l, nb_w, 2))
    prio = rng.random((nb_l, nb_w))
    bl, bw = np.nonzero(occ)
    li = 2 * bl + off[bl, bw, 0]
    px = 2 * bw + off[bl, bw, 1]
    keep = (li < length) & (px < width)
    li, px, pr = li[keep], px[keep], prio[bl[keep], bw[keep]] + 1.0  # > 0 marks occupancy
    grid = np.zeros((length, width))
    grid[li, px] = pr
    fp = np.ones((3, 3), bool)
    fp[1, 1] = False
    nmax = ndimage.maximum_filter(grid, footprint=fp, mode="constant", cval=0.0)
    ok = nmax[li, px] < pr
    li, px = li[ok], px[ok]
    order = np.lexsort((px, li))
    return li[order].astype(np.int64), px[order].astype(np.int64)


def _gaussian_field(rng: np.random.Generator, shape: tuple[int, int], sigma_cells: float) -> NDArray[np.float64]:
    """Unit-variance Gaussian random field: white noise smoothed by a Gaussian of ``sigma_cells``.

    The continuous-limit std of filtered unit white noise in 2-D is ``1/(2 sqrt(pi) sigma)``;
    dividing by it gives an ensemble (not per-realisation) unit variance.
    """
    w = rng.standard_normal(shape)
    f = ndimage.gaussian_filter(w, sigma_cells, mode="wrap", truncate=3.5)
    return f * (2.0 * np.sqrt(np.pi) * sigma_cells)


def _velocity(x: NDArray[np.float64], y: NDArray[np.float64], ext: tuple[float, float, float, float], cfg: SimConfig) -> NDArray[np.float64]:
    """LOS velocity (mm/yr, + toward satellite) at ground coords x (across), y (along) in m."""
    x0, x1, y0, y1 = ext
    sx, sy = x1 - x0, y1 - y0
    scale = math.sqrt(max(sx, 1.0) * max(sy, 1.0))
    s1, s2 = 0.25 * scale, 0.15 * scale
    b1 = np.exp(-((x - (x0 + 0.40 * sx)) ** 2 + (y - (y0 + 0.35 * sy)) ** 2) / (2 * s1**2))
    b2 = np.exp(-((x - (x0 + 0.70 * sx)) ** 2 + (y - (y0 + 0.75 * sy)) ** 2) / (2 * s2**2))
    trend = cfg.trend_mm_yr * ((y - y0) / max(sy, 1.0) - 0.5)
    return -cfg.max_velocity_mm_yr * (b1 + 0.5 * b2) + trend


def _terrain(x: NDArray[np.float64], y: NDArray[np.float64], cfg: SimConfig) -> NDArray[np.float64]:
    """Smooth synthetic terrain height (m), never below 0."""
    h = cfg.dem_mean_m + cfg.dem_relief_m * (
        0.6 * np.sin(2 * np.pi * x / 3100.0 + 0.3) * np.cos(2 * np.pi * y / 5300.0)
        + 0.4 * np.exp(-((x - 300.0) ** 2 + (y + 1500.0) ** 2) / (2 * 900.0**2))
    )
    return np.maximum(h, 0.0)


def _powerlaw_at(rng: np.random.Generator, x: NDArray, y: NDArray, ext: tuple[float, float, float, float], beta: float) -> NDArray[np.float64]:
    """A power-law random field (PSD ~ k^-beta, no mean) sampled at the PS, unit std over the PS.

    White noise on a grid twice the scene (50 m cells at most 512 per side) is shaped in the
    Fourier domain by ``k^(-beta/2)`` (the zero wavenumber removed), then sampled bilinearly.
    """
    sx, sy = ext[1] - ext[0], ext[3] - ext[2]
    cell = max(25.0, 2.0 * max(sx, sy) / 512.0)
    nx, ny = int(2 * sx / cell) + 8, int(2 * sy / cell) + 8
    kx = np.fft.fftfreq(nx, cell)[None, :]
    ky = np.fft.fftfreq(ny, cell)[:, None]
    k = np.hypot(kx, ky)
    k[0, 0] = np.inf
    f = np.real(np.fft.ifft2(np.fft.fft2(rng.standard_normal((ny, nx))) * k ** (-beta / 2.0)))
    coords = np.vstack([(y - ext[2]) / cell + 2.0, (x - ext[0]) / cell + 2.0])
    v = ndimage.map_coordinates(f, coords, order=1, mode="nearest")
    v = v - v.mean()
    sd = v.std()
    return v / sd if sd > 0 else v


def _seasonal(x: NDArray, y: NDArray, ext: tuple[float, float, float, float], cfg: SimConfig) -> tuple[NDArray, NDArray]:
    """Seasonal amplitude (mm) and phase (rad) at the PS: a smooth patch in the upper third of the scene."""
    x0, x1, y0, y1 = ext
    sx, sy = max(x1 - x0, 1.0), max(y1 - y0, 1.0)
    s = 0.2 * math.sqrt(sx * sy)
    amp = cfg.seasonal_amplitude_mm * np.exp(-((x - (x0 + 0.5 * sx)) ** 2 + (y - (y0 + 0.25 * sy)) ** 2) / (2 * s**2))
    phase = 0.6 + 1.2 * (y - y0) / sy  # the peak season drifts across the scene
    return amp, phase


def _acceleration(x: NDArray, y: NDArray, ext: tuple[float, float, float, float], cfg: SimConfig) -> NDArray[np.float64]:
    """LOS acceleration (mm/yr^2) at the PS: the shape of the main subsidence bowl."""
    x0, x1, y0, y1 = ext
    sx, sy = x1 - x0, y1 - y0
    s1 = 0.25 * math.sqrt(max(sx, 1.0) * max(sy, 1.0))
    b1 = np.exp(-((x - (x0 + 0.40 * sx)) ** 2 + (y - (y0 + 0.35 * sy)) ** 2) / (2 * s1**2))
    return cfg.acceleration_mm_yr2 * b1


def _deformation(vel: NDArray, acc: NDArray, amp: NDArray, phase: NDArray, days: NDArray, t_c: float) -> NDArray[np.float64]:
    """LOS displacement (mm) at every date: ``v (t - t_c) + a/2 (t - t_c)^2 + A sin(2 pi t + phase)``, t in years.

    ``t`` counts from ``t_c`` (the middle of the span), so ``v`` is the velocity at mid-span,
    the mean velocity of the linear + quadratic part; the seasonal term uses calendar years
    (day 0 = proleptic 1 January of year 1).
    """
    t = (days - t_c) / 365.25
    yr = days / 365.25
    return (
        vel[:, None] * t[None, :]
        + 0.5 * acc[:, None] * t[None, :] ** 2
        + amp[:, None] * np.sin(2 * np.pi * yr[None, :] + phase[:, None])
    )


def _write_delay_maps(folder: Path, g: "_Geometry", cfg: SimConfig, dates: list[_dt.date], ztd_slope: NDArray) -> None:
    """Per-date zenith total delay GeoTIFFs (m, EPSG:4326), ``YYYYMMDD.ztd.tif``, as GACOS delivers them.

    The delay is ``2.3 + ztd_slope_k * h`` on the synthetic terrain, on a lon/lat grid covering
    the scene with a margin (ground coordinates from the inverse of the scene's rotation).
    """
    import rasterio
    from rasterio.transform import from_origin

    x0, x1, y0, y1 = g.extent()
    cx = np.array([x0, x0, x1, x1])
    cy = np.array([y0, y1, y0, y1])
    lon, lat = g.lonlat(cx, cy)
    pad_lon, pad_lat = 0.1 * np.ptp(lon) + 0.002, 0.1 * np.ptp(lat) + 0.002
    n = 200
    lon0, lat1 = lon.min() - pad_lon, lat.max() + pad_lat
    dlon, dlat = (np.ptp(lon) + 2 * pad_lon) / n, (np.ptp(lat) + 2 * pad_lat) / n
    glon = lon0 + (np.arange(n) + 0.5) * dlon
    glat = lat1 - (np.arange(n) + 0.5) * dlat
    GL, GT = np.meshgrid(glon, glat)
    e = np.radians(GL - g.lon0) * g.R * math.cos(math.radians(g.lat0))
    nn = np.radians(GT - g.lat0) * g.R
    # (e, n) = y * along + x * across, with orthonormal along/across
    yy = e * g.along[0] + nn * g.along[1]
    xx = e * g.across[0] + nn * g.across[1]
    h = _terrain(xx, yy, cfg)
    folder.mkdir(parents=True, exist_ok=True)
    for d, c in zip(dates, ztd_slope):
        data = (2.3 + c * h).astype(np.float32)
        path = folder / f"{yyyymmdd(d)}.ztd.tif"
        with atomic_path(path) as tmp:
            with rasterio.open(
                tmp, "w", driver="GTiff", width=n, height=n, count=1, dtype="float32", crs="EPSG:4326",
                transform=from_origin(lon0, lat1, dlon, dlat),
            ) as ds:
                ds.write(data, 1)
                ds.update_tags(units="m", quantity="zenith total delay")


class _Geometry:
    """Per-pixel geometry helpers built from the par as read back from disk."""

    def __init__(self, par: MasterPar, cfg: SimConfig) -> None:
        self.par = par
        j = np.arange(par.width)
        self.r = geo.slant_range(j, par.near_range_slc, par.range_pixel_spacing)
        self.look = geo.look_angle(self.r, par.sar_to_earth_center, par.earth_radius_below_sensor)
        self.inc = geo.incidence_angle(self.r, par.sar_to_earth_center, par.earth_radius_below_sensor)
        jc = (par.width - 1) / 2.0
        rc = geo.slant_range(jc, par.near_range_slc, par.range_pixel_spacing)
        self.look_c = float(geo.look_angle(rc, par.sar_to_earth_center, par.earth_radius_below_sensor))
        inc_c = float(geo.incidence_angle(rc, par.sar_to_earth_center, par.earth_radius_below_sensor))
        alpha = self.inc - self.look  # Earth-centre angle from nadir
        self.xg = par.earth_radius_below_sensor * (alpha - (inc_c - self.look_c))  # across track, m
        self.az_spacing = cfg.azimuth_pixel_spacing_m
        h = math.radians(par.heading)
        self.along = (math.sin(h), math.cos(h))  # (east, north) unit vector of increasing line
        self.across = (math.sin(h + math.pi / 2), math.cos(h + math.pi / 2))  # right-looking
        self.lon0, self.lat0 = cfg.scene_lon, cfg.scene_lat
        self.R = par.earth_radius_below_sensor

    def yg(self, lines: NDArray) -> NDArray[np.float64]:
        return (np.asarray(lines, np.float64) - (self.par.length - 1) / 2.0) * self.az_spacing

    def extent(self) -> tuple[float, float, float, float]:
        y = self.yg(np.array([0, self.par.length - 1]))
        return float(self.xg.min()), float(self.xg.max()), float(y.min()), float(y.max())

    def lonlat(self, x: NDArray, y: NDArray) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        e = y * self.along[0] + x * self.across[0]
        n = y * self.along[1] + x * self.across[1]
        lat = self.lat0 + np.degrees(n / self.R)
        lon = self.lon0 + np.degrees(e / (self.R * math.cos(math.radians(self.lat0))))
        return lon, lat


# --------------------------------------------------------------------------- main entry


def simulate_stamps_stack(
    out_dir: Path, config: SimConfig, progress: Callable[[float], None] | None = None
) -> Path:
    """Write a simulated StampsExport stack and its truth; return the ``INSAR_<master>`` path.

    See the module docstring for the physics.  Deterministic in ``config`` (seed included).
    The INSAR folder is built under a temporary name and renamed into place at the end (an
    existing one is replaced); ``truth.npz``/``truth.json`` are written atomically afterwards.
    """
    cfg = config
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    L, W = cfg.length, cfg.width
    dates = cfg.dates
    M = len(dates)
    mix = cfg.master_index
    mdate = dates[mix]
    ms = yyyymmdd(mdate)
    slaves = [d for k, d in enumerate(dates) if k != mix]
    slave_ix = [k for k in range(M) if k != mix]
    insar = out_dir / f"INSAR_{ms}"
    rng = np.random.default_rng([cfg.seed, 0])

    def report(f: float) -> None:
        if progress is not None:
            progress(min(1.0, max(0.0, f)))

    report(0.0)
    with atomic_dir(insar) as tmp:
        for sub in ("rslc", "diff0", "geo", "dem"):
            (tmp / sub).mkdir()

        # --- par (written, then read back so the truth uses exactly what the engine reads)
        par0 = MasterPar(
            path=None,
            width=W,
            length=L,
            heading=cfg.heading_deg,
            radar_frequency=cfg.radar_frequency_hz,
            sensor=cfg.sensor,
            range_pixel_spacing=cfg.range_pixel_spacing_m,
            azimuth_pixel_spacing=cfg.azimuth_pixel_spacing_m,
            near_range_slc=cfg.near_range_m,
            center_range_slc=cfg.near_range_m,  # SNAP writes the first pixel's range here
            sar_to_earth_center=cfg.sar_to_earth_center_m,
            earth_radius_below_sensor=cfg.earth_radius_m,
            prf=1.0 / cfg.azimuth_line_time_s,
        )
        lonlat_c = (cfg.scene_lon, cfg.scene_lat)
        mpar_path = tmp / "rslc" / f"{ms}.rslc.par"
        write_par(mpar_path, par0, mdate, center_lonlat=lonlat_c)
        par = read_par(mpar_path)
        g = _Geometry(par, cfg)
        lam = par.wavelength
        # SNAP writes every header from the reference (master) product metadata
        for d in slaves:
            write_par(tmp / "rslc" / f"{yyyymmdd(d)}.rslc.par", par0, mdate, center_lonlat=lonlat_c)
            write_par(tmp / "diff0" / f"{ms}_{yyyymmdd(d)}.diff.par", par0, mdate, center_lonlat=lonlat_c)

        # --- baselines at the centre look angle -> .base (C horizontal, N vertical)
        n_s = M - 1
        bperp_c = np.clip(rng.normal(0.0, cfg.bperp_std_m, n_s), -cfg.bperp_max_m, cfg.bperp_max_m)
        bpar_c = rng.normal(0.0, cfg.bpar_std_m, n_s)
        rates = rng.normal(0.0, cfg.baseline_rate_std_m_s, (n_s, 2))
        th = g.look_c
        C = bperp_c * math.cos(th) + bpar_c * math.sin(th)
        N = -bperp_c * math.sin(th) + bpar_c * math.cos(th)
        base_list: list[Baseline] = []
        for s_i, d in enumerate(slaves):
            bp = tmp / "diff0" / f"{ms}_{yyyymmdd(d)}.base"
            write_base(bp, Baseline(C=float(C[s_i]), N=float(N[s_i]), C_rate=float(rates[s_i, 0]), N_rate=float(rates[s_i, 1])))
            base_list.append(read_base(bp))
        base_arr = np.array([[b.C, b.N, b.C_rate, b.N_rate] for b in base_list])
        bperp_centre = geo.perpendicular_baseline(
            np.array([(L - 1) / 2.0]), np.array([th]), base_arr, par.length, par.prf
        ).astype(np.float64)[0]
        bperp_full_centre = np.insert(bperp_centre, mix, 0.0)

        # --- PS: positions, scr, velocity, dem error, geometry
        ps_line, ps_pixel = _pick_ps(rng, L, W, cfg.ps_fraction)
        n_ps = ps_line.size
        scr_db = rng.uniform(cfg.ps_scr_db[0], cfg.ps_scr_db[1], n_ps)
        amp = cfg.clutter_rms * 10.0 ** (scr_db / 20.0)
        psi0 = rng.uniform(-np.pi, np.pi, n_ps)
        dem_err = rng.normal(0.0, cfg.dem_error_std_m, n_ps)
        ext = g.extent()
        ps_x, ps_y = g.xg[ps_pixel], g.yg(ps_line)
        vel = _velocity(ps_x, ps_y, ext, cfg)
        K = dem_err * geo.dem_error_phase_per_m(g.r[ps_pixel], g.inc[ps_pixel], lam)
        ps_bperp = geo.perpendicular_baseline(ps_line, g.look[ps_pixel], base_arr, par.length, par.prf)  # (n_ps, M-1)

        # --- atmosphere: coarse unit fields per date, bilinear at the PS
        corr = cfg.aps_corr_length_m
        cell = corr / 10.0
        pad = 3.0 * corr
        gx0, gy0 = ext[0] - pad, ext[2] - pad
        nx = int(math.ceil((ext[1] - ext[0] + 2 * pad) / cell)) + 2
        ny = int(math.ceil((ext[3] - ext[2] + 2 * pad) / cell)) + 2
        sigma_cells = (corr / 2.0) / cell  # covariance exp(-d^2 / corr^2)
        aps_ps = np.empty((M, n_ps))
        coords = np.vstack([(ps_y - gy0) / cell, (ps_x - gx0) / cell])
        for k in range(M):
            f = _gaussian_field(np.random.default_rng([cfg.seed, 2, k]), (ny, nx), sigma_cells)
            aps_ps[k] = cfg.aps_std_mm * ndimage.map_coordinates(f, coords, order=1, mode="nearest")

        # --- optional signals: power-law atmosphere, height-correlated delay, seasonal and accelerating motion
        days = np.array([d.toordinal() for d in dates], dtype=np.float64)
        ps_hgt = _terrain(ps_x, ps_y, cfg)
        mm_per_rad = lam * 1000.0 / (4.0 * np.pi)
        aps_pl = np.zeros((M, n_ps))
        if cfg.aps_powerlaw_rad[1] > 0 and n_ps > 1:
            sig = np.random.default_rng([cfg.seed, 3]).uniform(*cfg.aps_powerlaw_rad, M)
            for k in range(M):
                aps_pl[k] = _powerlaw_at(np.random.default_rng([cfg.seed, 4, k]), ps_x, ps_y, ext, cfg.aps_powerlaw_beta)
            aps_pl *= (sig * mm_per_rad)[:, None]
        # zenith total delay (m) per date: 2.3 m at sea level, a per-date lapse of the delay with height
        inc_c = float(np.median(g.inc))
        ztd_slope = np.zeros(M)
        if cfg.tropo_rad_per_km > 0:
            rad_km = np.random.default_rng([cfg.seed, 5]).normal(0.0, cfg.tropo_rad_per_km, M)
            ztd_slope = rad_km / 1000.0 * mm_per_rad / 1000.0 * math.cos(inc_c)  # m of zenith delay per m of height
        ztd_slope = -2.3 / 7000.0 + ztd_slope
        ps_inc = g.inc[ps_pixel]
        # a delay lengthens the path: apparent motion away from the satellite (negative), LOS = zenith / cos(inc)
        tropo_ps = -1000.0 * (ztd_slope[:, None] * ps_hgt[None, :]) / np.cos(ps_inc)[None, :] if cfg.tropo_rad_per_km > 0 else np.zeros((M, n_ps))
        aps_ps = aps_ps + aps_pl + tropo_ps
        seas_amp, seas_phase = _seasonal(ps_x, ps_y, ext, cfg)
        acc = _acceleration(ps_x, ps_y, ext, cfg)

        # --- ifg phase model at the PS (n_ps, M), master column 0
        dt_yr = (days - days[mix]) / 365.25
        t_c = 0.5 * (days[0] + days[-1])  # velocity = slope at mid-span, acceleration about it
        if cfg.acceleration_mm_yr2 == 0 and cfg.seasonal_amplitude_mm == 0:
            disp = vel[:, None] * dt_yr[None, :]  # mm toward the satellite, relative to master
        else:
            defo = _deformation(vel, acc, seas_amp, seas_phase, days, t_c)  # (n_ps, M) mm
            disp = defo - defo[:, mix : mix + 1]
        aps_rel = aps_ps.T - aps_ps[mix][:, None]  # (n_ps, M)
        bperp_full = np.insert(ps_bperp.astype(np.float64), mix, 0.0, axis=1)
        model = geo.mm_to_phase(disp + aps_rel, lam) + K[:, None] * bperp_full
        # target phase per date: psi_master - psi_k = model_k
        target = (amp[:, None] * np.exp(1j * (psi0[:, None] - model))).astype(np.complex64)  # (n_ps, M)

        # --- geo rasters (lon, lat, dem) streamed by blocks
        report(0.05)
        with ExitStack() as es:
            w_lon = es.enter_context(stream_raster_be(tmp / "geo" / f"{ms}.lon", "float", W, L))
            w_lat = es.enter_context(stream_raster_be(tmp / "geo" / f"{ms}.lat", "float", W, L))
            w_dem = es.enter_context(stream_raster_be(tmp / "geo" / f"{ms}_dem.rdc", "float", W, L))
            for l0 in range(0, L, _BLOCK_LINES):
                l1 = min(L, l0 + _BLOCK_LINES)
                yy = g.yg(np.arange(l0, l1))[:, None]
                xx = g.xg[None, :]
                xx, yy = np.broadcast_arrays(xx, yy)
                lon, lat = g.lonlat(xx, yy)
                w_lon.append(lon)
                w_lat.append(lat)
                w_dem.append(_terrain(xx, yy, cfg))
        for d in ("lon", "lat"):
            write_par(tmp / "geo" / f"{ms}.{d}.par", par0, mdate, center_lonlat=lonlat_c, image_format="FLOAT")
        report(0.1)

        # --- SLCs and ifgs, streamed by blocks of lines, all files open
        ps_starts = np.searchsorted(ps_line, np.arange(0, L + _BLOCK_LINES, _BLOCK_LINES))
        n_blocks = (L + _BLOCK_LINES - 1) // _BLOCK_LINES
        scale = np.float32(cfg.clutter_rms / math.sqrt(2.0))
        with ExitStack() as es:
            w_rslc = [es.enter_context(stream_raster_be(tmp / "rslc" / f"{yyyymmdd(d)}.rslc", "complex", W, L)) for d in dates]
            w_diff = [
                es.enter_context(stream_raster_be(tmp / "diff0" / f"{ms}_{yyyymmdd(d)}.diff", "complex", W, L)) for d in slaves
            ]
            for b in range(n_blocks):
                l0 = b * _BLOCK_LINES
                l1 = min(L, l0 + _BLOCK_LINES)
                sel = slice(ps_starts[b], ps_starts[b + 1])
                pl, pp = ps_line[sel] - l0, ps_pixel[sel]

                def slc(k: int) -> NDArray[np.complex64]:
                    r = np.random.default_rng([cfg.seed, 1, k, b])
                    z = (r.standard_normal((l1 - l0, W, 2), dtype=np.float32) * scale).view(np.complex64)[..., 0]
                    z[pl, pp] += target[sel, k]
                    return z

                zm = slc(mix)
                w_rslc[mix].append(zm)
                for s_i, k in enumerate(slave_ix):
                    zs = slc(k)
                    w_rslc[k].append(zs)
                    w_diff[s_i].append(zm * np.conj(zs))
                report(0.1 + 0.85 * (b + 1) / n_blocks)

    # --- truth
    lon_ps, lat_ps = g.lonlat(ps_x, ps_y)
    step = max(1, int(math.ceil(math.sqrt(L * W / 1.0e6))))
    gl, gp = np.arange(0, L, step), np.arange(0, W, step)
    vgrid = _velocity(g.xg[gp][None, :], g.yg(gl)[:, None], ext, cfg).astype(np.float32)
    truth: dict[str, np.ndarray] = {
        "dates": np.array([yyyymmdd(d) for d in dates]),
        "day": days,
        "master_ix": np.array(mix),
        "wavelength": np.array(lam),
        "ps_line": ps_line,
        "ps_pixel": ps_pixel,
        "ps_lonlat": np.column_stack([lon_ps, lat_ps]),
        "ps_hgt": ps_hgt.astype(np.float32),
        "ps_velocity_mm_yr": vel,
        "ps_dem_error_m": dem_err,
        "ps_scr": 10.0 ** (scr_db / 10.0),
        "ps_scr_db": scr_db,
        "ps_amplitude": amp,
        "ps_inc": g.inc[ps_pixel],
        "ps_range": g.r[ps_pixel],
        "ps_K": K,
        "ps_bperp_m": ps_bperp,
        "ps_phase_model": model,
        "aps_ps_mm": aps_ps,
        "aps_powerlaw_ps_mm": aps_pl,
        "tropo_ps_mm": tropo_ps,
        "ztd_slope_m_per_m": ztd_slope,
        "ps_acceleration_mm_yr2": acc,
        "ps_seasonal_amplitude_mm": seas_amp,
        "ps_seasonal_phase_rad": seas_phase,
        "ps_displacement_mm": disp,
        "velocity_reference_day": np.array(t_c),
        "bperp": bperp_full_centre,
        "velocity_grid_mm_yr": vgrid,
        "velocity_grid_lines": gl,
        "velocity_grid_pixels": gp,
    }
    with atomic_path(out_dir / "truth.npz") as tp:
        with open(tp, "wb") as fh:
            np.savez(fh, **truth)
    summary = {
        "config": cfg.model_dump(mode="json"),
        "insar_dir": insar.name,
        "master": ms,
        "master_ix": mix,
        "dates": [yyyymmdd(d) for d in dates],
        "n_ps": int(n_ps),
        "ps_fraction_actual": n_ps / (L * W),
        "wavelength_m": lam,
        "prf_hz": par.prf,
        "incidence_deg": [float(np.degrees(g.inc.min())), float(np.degrees(g.inc.max()))],
        "bperp_centre_m": [float(x) for x in bperp_full_centre],
        "velocity_mm_yr_range": [float(vel.min()), float(vel.max())] if n_ps else [0.0, 0.0],
        "dem_error_m_std": float(dem_err.std()) if n_ps else 0.0,
        "scene_extent_m": {"across": ext[1] - ext[0], "along": ext[3] - ext[2]},
        "sign_conventions": "ifg = master x conj(slave); velocity + toward satellite; "
        "phase = mm_to_phase(d_k - d_m + aps_k - aps_m) + K * bperp_k",
    }
    atomic_write_text(out_dir / "truth.json", json.dumps(summary, indent=2) + "\n")
    if cfg.delay_maps:
        _write_delay_maps(out_dir / "delays", g, cfg, dates, ztd_slope)
    report(1.0)
    return insar


def load_truth(out_dir: Path) -> dict[str, np.ndarray]:
    """Contents of ``out_dir/truth.npz`` as a plain dict (0-d arrays for scalars)."""
    with np.load(Path(out_dir) / "truth.npz", allow_pickle=False) as z:
        return {k: z[k] for k in z.files}
