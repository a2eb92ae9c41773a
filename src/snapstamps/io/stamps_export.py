"""Read and write an ``INSAR_<master>/`` folder exactly as SNAP's StampsExport writes it.

Layout (see ``stamps-psi.md`` §1 and ``snap-chain.md`` §3)::

    INSAR_<master>/
      rslc/<YYYYMMDD>.rslc        complex float32 big-endian, interleaved (re, im), every date
      rslc/<YYYYMMDD>.rslc.par    Gamma-style header; only the master's is read
      diff0/<M>_<S>.diff          master x conj(slave), topographic phase removed, one per slave
      diff0/<M>_<S>.base          5-line baseline file (horizontal C, vertical N and rates)
      geo/<M>.lon, geo/<M>.lat    float32 big-endian, degrees
      geo/*_dem.rdc               float32 big-endian, height (m) in radar geometry (optional)
      dem/                        projected DEM (not used by the PS path)

All rasters are row-major ``azimuth_lines x range_samples`` without any header.

Par files are parsed with StaMPS' ``readparm`` semantics: the file is split on whitespace,
the first token that *starts with* the key is found and the next token is its value (units
are ignored).  Consequently every key written must be a unique prefix among the keys of the
file; :func:`write_par` checks this.

Reading never loads a whole raster: blocks and scattered pixels are read through
``np.memmap`` with 64-bit offsets (StaMPS' C helpers overflow int32 beyond 2**31 elements).
"""

from __future__ import annotations

import datetime as _dt
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ..errors import InputError
from .atomic import atomic_path, atomic_write_text

__all__ = [
    "SPEED_OF_LIGHT",
    "MasterPar",
    "read_par",
    "write_par",
    "Baseline",
    "read_base",
    "write_base",
    "StampsStack",
    "open_stack",
    "write_cfloat32_be",
    "write_float32_be",
    "BigEndianRasterWriter",
    "stream_raster_be",
    "parse_yyyymmdd",
    "yyyymmdd",
]

SPEED_OF_LIGHT = 299792458.0

_CPLX_BE = np.dtype(">c8")
_F32_BE = np.dtype(">f4")


def yyyymmdd(d: _dt.date) -> str:
    """``date`` -> ``'YYYYMMDD'``."""
    return d.strftime("%Y%m%d")


def parse_yyyymmdd(s: str) -> _dt.date:
    """``'YYYYMMDD'`` -> ``date`` (raises ``ValueError`` if not a valid date)."""
    if len(s) != 8 or not s.isdigit():
        raise ValueError(f"not a YYYYMMDD date: {s!r}")
    return _dt.date(int(s[:4]), int(s[4:6]), int(s[6:8]))


# --------------------------------------------------------------------------- par files


@dataclass(frozen=True)
class MasterPar:
    """The master ``.rslc.par`` values the PS path needs (SI units, angles in degrees)."""

    path: Path | None
    width: int  # range_samples
    length: int  # azimuth_lines
    heading: float  # deg
    radar_frequency: float  # Hz
    sensor: str
    range_pixel_spacing: float  # m
    azimuth_pixel_spacing: float  # m (nan if absent: StaMPS does not read it)
    near_range_slc: float  # m
    center_range_slc: float  # m
    sar_to_earth_center: float  # m
    earth_radius_below_sensor: float  # m
    prf: float  # Hz

    @property
    def wavelength(self) -> float:
        """Radar wavelength (m) = c / radar_frequency, as StaMPS computes it."""
        return SPEED_OF_LIGHT / self.radar_frequency


# (dataclass field, par key, kind); the key is what readparm prefix-matches.
_PAR_FIELDS: list[tuple[str, str, type]] = [
    ("width", "range_samples", int),
    ("length", "azimuth_lines", int),
    ("heading", "heading", float),
    ("radar_frequency", "radar_frequency", float),
    ("sensor", "sensor", str),
    ("range_pixel_spacing", "range_pixel_spacing", float),
    ("near_range_slc", "near_range_slc", float),
    ("center_range_slc", "center_range_slc", float),
    ("sar_to_earth_center", "sar_to_earth_center", float),
    ("earth_radius_below_sensor", "earth_radius_below_sensor", float),
    ("prf", "prf", float),
]
_PAR_OPTIONAL: list[tuple[str, str, type]] = [("azimuth_pixel_spacing", "azimuth_pixel_spacing", float)]


def _readparm(tokens: list[str], key: str) -> str | None:
    """Value token following the first token that starts with ``key`` (readparm rule)."""
    for i, tok in enumerate(tokens[:-1]):
        if tok.startswith(key):
            return tokens[i + 1]
    return None


def read_par(path: Path) -> MasterPar:
    """Parse a Gamma/SNAP ``.rslc.par`` with StaMPS ``readparm`` semantics.

    Raises :class:`InputError` (naming the file and key) if the file is missing or a key
    StaMPS needs is absent or not a number.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        raise InputError(f"{path}: master parameter file not found") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read parameter file ({exc.strerror})") from None
    tokens = text.split()
    values: dict[str, object] = {}
    for name, key, kind in _PAR_FIELDS + _PAR_OPTIONAL:
        raw = _readparm(tokens, key)
        if raw is None:
            if (name, key, kind) in _PAR_OPTIONAL:
                values[name] = float("nan")
                continue
            raise InputError(f"{path}: missing parameter '{key}'")
        try:
            if kind is int:
                f = float(raw)
                if not f.is_integer():
                    raise ValueError
                values[name] = int(f)
            elif kind is float:
                values[name] = float(raw)
            else:
                values[name] = raw
        except ValueError:
            raise InputError(f"{path}: parameter '{key}' has a non-numeric value {raw!r}") from None
    if values["width"] <= 0 or values["length"] <= 0:  # type: ignore[operator]
        raise InputError(f"{path}: range_samples and azimuth_lines must be positive")
    for name in ("radar_frequency", "prf", "sar_to_earth_center", "earth_radius_below_sensor", "near_range_slc"):
        if not values[name] > 0:  # type: ignore[operator]
            raise InputError(f"{path}: parameter '{dict((n, k) for n, k, _ in _PAR_FIELDS)[name]}' must be positive")
    return MasterPar(path=path, **values)  # type: ignore[arg-type]


def _fmt(x: float) -> str:
    """Shortest round-tripping decimal for a float (what repr gives), plain for integers."""
    x = float(x)
    if x.is_integer() and abs(x) < 1e15:
        return f"{x:.1f}"
    return repr(x)


def write_par(
    path: Path,
    par: MasterPar,
    date: _dt.date,
    *,
    title: str | None = None,
    center_lonlat: tuple[float, float] | None = None,
    start_time: float = 0.0,
    image_format: Literal["FCOMPLEX", "SCOMPLEX", "FLOAT"] = "FCOMPLEX",
) -> None:
    """Write a Gamma-style par file (``key:<TAB>value<TAB>unit`` lines, LF) as SNAP's HeaderWriter.

    Keys are written in SNAP's order (title, sensor, date, times, sizes, format, centre,
    heading, spacings, frequency/prf, Earth geometry, ranges).  Values are written with full
    float precision (SNAP writes the pixel spacings through an integer getter; we do not
    reproduce that truncation, so our look angles are exact).  The orbit state vectors SNAP
    appends are not written (nothing in the PS path reads them).  Written atomically.
    """
    if par.width <= 0 or par.length <= 0:
        raise ValueError("width and length must be positive")
    azimuth_line_time = 1.0 / par.prf
    center_time = start_time + azimuth_line_time * (par.length - 1) / 2.0
    end_time = start_time + azimuth_line_time * (par.length - 1)
    lon_c, lat_c = center_lonlat if center_lonlat is not None else (0.0, 0.0)
    az_sp = par.azimuth_pixel_spacing
    rows: list[tuple[str, str, str]] = [
        ("title", title or f"{par.sensor}_{yyyymmdd(date)}", ""),
        ("sensor", par.sensor, ""),
        ("date", f"{date.year} {date.month} {date.day}", ""),
        ("start_time", _fmt(start_time), "s"),
        ("center_time", _fmt(center_time), "s"),
        ("end_time", _fmt(end_time), "s"),
        ("azimuth_line_time", _fmt(azimuth_line_time), "s"),
        ("range_samples", str(int(par.width)), ""),
        ("azimuth_lines", str(int(par.length)), ""),
        ("range_looks", "1", ""),
        ("azimuth_looks", "1", ""),
        ("image_format", image_format, ""),
        ("image_geometry", "SLANT_RANGE", ""),
        ("center_latitude", _fmt(lat_c), "degrees"),
        ("center_longitude", _fmt(lon_c), "degrees"),
        ("heading", _fmt(par.heading), "degrees"),
        ("range_pixel_spacing", _fmt(par.range_pixel_spacing), "m"),
        ("azimuth_pixel_spacing", _fmt(az_sp) if np.isfinite(az_sp) else "0.0", "m"),
        ("radar_frequency", _fmt(par.radar_frequency), "Hz"),
        ("prf", _fmt(par.prf), "Hz"),
        ("azimuth_proc_bandwidth", _fmt(0.0), "Hz"),
        ("sar_to_earth_center", _fmt(par.sar_to_earth_center), "m"),
        ("earth_radius_below_sensor", _fmt(par.earth_radius_below_sensor), "m"),
        ("earth_semi_major_axis", _fmt(6378137.0), "m"),
        ("earth_semi_minor_axis", _fmt(6356752.314245179), "m"),
        ("near_range_slc", _fmt(par.near_range_slc), "m"),
        ("center_range_slc", _fmt(par.center_range_slc), "m"),
        ("far_range_slc", _fmt(par.near_range_slc + par.range_pixel_spacing * (par.width - 1)), "m"),
    ]
    keys = [k + ":" for k, _, _ in rows]
    for k in keys:
        clash = [o for o in keys if o != k and o.startswith(k[:-1])]
        if clash:  # pragma: no cover - guards edits of the table above
            raise AssertionError(f"par key {k} is a prefix of {clash}")
    for _, value, _ in rows:
        if not value or any(c.isspace() for c in value.split(" ", 2)[0]):  # pragma: no cover
            raise ValueError(f"empty value in par row {value!r}")
    text = "".join(f"{k}\t{v}\t{u}\n" if u else f"{k}\t{v}\n" for k, (_, v, u) in zip(keys, rows))
    atomic_write_text(path, text)


# --------------------------------------------------------------------------- base files


@dataclass(frozen=True)
class Baseline:
    """A StampsExport ``.base``: horizontal C and vertical N baseline (m) and their rates (m/s)."""

    C: float
    N: float
    C_rate: float
    N_rate: float


def read_base(path: Path) -> Baseline:
    """Parse a ``.base`` file: the 3 numbers (T, C, N) after ``initial_baseline(TCN):`` and
    after ``initial_baseline_rate:``; T is ignored, as StaMPS does."""
    path = Path(path)
    try:
        tokens = path.read_text(encoding="utf-8", errors="replace").split()
    except FileNotFoundError:
        raise InputError(f"{path}: baseline file not found") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read baseline file ({exc.strerror})") from None
    out: list[float] = []
    for key in ("initial_baseline(TCN)", "initial_baseline_rate"):
        ix = next((i for i, t in enumerate(tokens) if t.startswith(key)), None)
        if ix is None or ix + 3 >= len(tokens):
            raise InputError(f"{path}: missing '{key}'")
        try:
            _, c, n = (float(t) for t in tokens[ix + 1 : ix + 4])
        except ValueError:
            raise InputError(f"{path}: '{key}' is not followed by three numbers") from None
        if not (np.isfinite(c) and np.isfinite(n)):
            raise InputError(f"{path}: '{key}' holds NaN or infinite values")
        out += [c, n]
    return Baseline(C=out[0], N=out[1], C_rate=out[2], N_rate=out[3])


def write_base(path: Path, b: Baseline) -> None:
    """Write the 5-line tab-separated StampsExport ``.base`` file (atomically).

    Values use 10 decimals (sub-nm / sub-nm-per-s), enough for an exact-enough round trip.
    """
    z = f"{0.0:.10f}"
    text = (
        f"initial_baseline(TCN):\t{z}\t{b.C:.10f}\t{b.N:.10f}\tm\tm\tm\n"
        f"initial_baseline_rate:\t{z}\t{b.C_rate:.10f}\t{b.N_rate:.10f}\tm/s\tm/s\tm/s\n"
        f"precision_baseline(TCN):\t{z}\t{z}\t{z}\tm\tm\tm\n"
        f"precision_baseline_rate:\t{z}\t{z}\t{z}\tm/s\tm/s\tm/s\n"
        f"unwrap_phase_constant:\t{0.0:.5f}\tradians\n"
    )
    atomic_write_text(path, text)


# --------------------------------------------------------------------------- binary writers


def _as_2d(array: ArrayLike) -> np.ndarray:
    a = np.asarray(array)
    if a.ndim != 2:
        raise ValueError(f"expected a 2-D (lines, pixels) array, got shape {a.shape}")
    return a


def write_cfloat32_be(path: Path, array: ArrayLike) -> None:
    """Write a complex (lines, pixels) array as big-endian interleaved float32 (atomically)."""
    a = _as_2d(array)
    with atomic_path(path) as tmp:
        np.ascontiguousarray(a, dtype=_CPLX_BE).tofile(tmp)


def write_float32_be(path: Path, array: ArrayLike) -> None:
    """Write a real (lines, pixels) array as big-endian float32 (atomically)."""
    a = _as_2d(array)
    if np.iscomplexobj(a):
        raise ValueError("write_float32_be needs a real array")
    with atomic_path(path) as tmp:
        np.ascontiguousarray(a, dtype=_F32_BE).tofile(tmp)


class BigEndianRasterWriter:
    """Appends blocks of lines to an open big-endian raster (see :func:`stream_raster_be`)."""

    def __init__(self, fh, dtype: np.dtype, width: int) -> None:
        self._fh = fh
        self._dtype = dtype
        self.width = int(width)
        self.lines_written = 0

    def append(self, block: ArrayLike) -> None:
        """Append a ``(n_lines, width)`` block (a 1-D array is taken as one line)."""
        a = np.asarray(block)
        if a.ndim == 1:
            a = a[None, :]
        if a.ndim != 2 or a.shape[1] != self.width:
            raise ValueError(f"block of shape {a.shape} does not have width {self.width}")
        if self._dtype.kind != "c" and np.iscomplexobj(a):
            raise ValueError("complex block for a real raster")
        self._fh.write(np.ascontiguousarray(a, dtype=self._dtype).tobytes())
        self.lines_written += a.shape[0]


@contextmanager
def stream_raster_be(
    path: Path, kind: Literal["complex", "float"], width: int, length: int | None = None
) -> Iterator[BigEndianRasterWriter]:
    """Write a big raster block by block, atomically.

    ``kind='complex'`` writes interleaved big-endian float32 pairs, ``'float'`` big-endian
    float32.  The file appears under ``path`` only when the block closes without error and,
    if ``length`` is given, exactly ``length`` lines were appended.
    """
    dtype = _CPLX_BE if kind == "complex" else _F32_BE
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            w = BigEndianRasterWriter(fh, dtype, width)
            yield w
        if length is not None and w.lines_written != length:
            raise ValueError(f"{path}: {w.lines_written} lines written, {length} expected")


# --------------------------------------------------------------------------- the stack


@dataclass
class StampsStack:
    """A validated ``INSAR_<master>/`` folder (see :func:`open_stack`).

    Raster access goes through read-only big-endian memmaps and returns native-endian
    arrays; 0-based (line, pixel) indices as in ``docs/conventions.md``.
    """

    root: Path
    master: _dt.date
    slaves: list[_dt.date]
    par: MasterPar
    baselines: list[Baseline]
    rslc: dict[_dt.date, Path]
    diff: dict[_dt.date, Path]
    lon: Path
    lat: Path
    dem: Path | None

    @property
    def dates(self) -> list[_dt.date]:
        """All acquisition dates, sorted, master included."""
        return sorted([self.master, *self.slaves])

    @property
    def master_ix(self) -> int:
        """0-based position of the master in :attr:`dates`."""
        return self.dates.index(self.master)

    @property
    def shape(self) -> tuple[int, int]:
        """(length, width) = (azimuth_lines, range_samples)."""
        return (self.par.length, self.par.width)

    def baseline_array(self) -> NDArray[np.float64]:
        """``(n_slaves, 4)`` float64: C, N, C_rate, N_rate of each ifg (slave order)."""
        return np.array([[b.C, b.N, b.C_rate, b.N_rate] for b in self.baselines], dtype=np.float64).reshape(-1, 4)

    def _map(self, path: Path, dtype: np.dtype) -> np.memmap:
        """A transient read-only memmap (not cached: mapped pages would count in the RSS)."""
        return np.memmap(path, dtype=dtype, mode="r", shape=self.shape)

    def _read_lines(self, path: Path, dtype: np.dtype, line0: int, line1: int) -> np.ndarray:
        """Lines ``[line0, line1)`` read with one positioned read (64-bit offset)."""
        width = self.par.width
        dtype = np.dtype(dtype)
        with open(path, "rb") as fh:
            fh.seek(int(line0) * width * dtype.itemsize)
            data = np.fromfile(fh, dtype=dtype, count=(line1 - line0) * width)
        if data.size != (line1 - line0) * width:
            raise InputError(f"{path}: truncated (short read at lines {line0}-{line1})")
        return data.reshape(line1 - line0, width)

    def _check_lines(self, line0: int, line1: int) -> None:
        if not (0 <= line0 <= line1 <= self.par.length):
            raise IndexError(f"line range [{line0}, {line1}) outside 0..{self.par.length}")

    def rslc_block(self, d: _dt.date, line0: int, line1: int) -> NDArray[np.complex64]:
        """Lines ``[line0, line1)`` of the SLC of date ``d``: complex64 ``(line1-line0, width)``."""
        self._check_lines(line0, line1)
        return self._read_lines(self.rslc[d], _CPLX_BE, line0, line1).astype(np.complex64)

    def diff_block(self, slave: _dt.date, line0: int, line1: int) -> NDArray[np.complex64]:
        """Lines ``[line0, line1)`` of ifg master x conj(slave): complex64 ``(line1-line0, width)``."""
        self._check_lines(line0, line1)
        return self._read_lines(self.diff[slave], _CPLX_BE, line0, line1).astype(np.complex64)

    def _flat(self, lines: ArrayLike, pixels: ArrayLike) -> NDArray[np.int64]:
        li = np.asarray(lines, dtype=np.int64).ravel()
        px = np.asarray(pixels, dtype=np.int64).ravel()
        if li.shape != px.shape:
            raise ValueError("lines and pixels must have the same length")
        L, W = self.shape
        if li.size and (li.min() < 0 or li.max() >= L or px.min() < 0 or px.max() >= W):
            raise IndexError("pixel index outside the image")
        return li * np.int64(W) + px

    def _gather(self, path: Path, dtype: np.dtype, lines: ArrayLike, pixels: ArrayLike) -> np.ndarray:
        flat = self._flat(lines, pixels)
        mm = self._map(path, dtype).reshape(-1)
        try:
            return np.array(mm[flat])
        finally:
            del mm

    def diff_at(self, slave: _dt.date, lines: ArrayLike, pixels: ArrayLike) -> NDArray[np.complex64]:
        """Ifg values at scattered 0-based (line, pixel): complex64 ``(n,)``."""
        return self._gather(self.diff[slave], _CPLX_BE, lines, pixels).astype(np.complex64)

    def rslc_at(self, d: _dt.date, lines: ArrayLike, pixels: ArrayLike) -> NDArray[np.complex64]:
        """SLC values of date ``d`` at scattered (line, pixel): complex64 ``(n,)``."""
        return self._gather(self.rslc[d], _CPLX_BE, lines, pixels).astype(np.complex64)

    def lonlat_at(self, lines: ArrayLike, pixels: ArrayLike) -> NDArray[np.float64]:
        """``(n, 2)`` float64 lon, lat (deg) at scattered (line, pixel)."""
        lon = self._gather(self.lon, _F32_BE, lines, pixels).astype(np.float64)
        lat = self._gather(self.lat, _F32_BE, lines, pixels).astype(np.float64)
        return np.column_stack([lon, lat])

    def dem_at(self, lines: ArrayLike, pixels: ArrayLike) -> NDArray[np.float32]:
        """``(n,)`` float32 DEM height (m); zeros if the stack has no DEM file (as StaMPS)."""
        if self.dem is None:
            return np.zeros(self._flat(lines, pixels).shape, dtype=np.float32)
        return self._gather(self.dem, _F32_BE, lines, pixels).astype(np.float32)


_DIFF_RE = re.compile(r"^(\d{8})_(\d{8})\.diff$")
_RSLC_RE = re.compile(r"^(\d{8})\.rslc$")
_MIN_IFGS = 3
_BYTE_ORDER_SAMPLES = 4096


def _looks_absurd(v: np.ndarray) -> bool | None:
    """Whether float32 samples look like garbage (wrong byte order); None if undecidable.

    Physical rasters (SLC/ifg values, degrees, heights) are zero/NaN (no-data) or have
    magnitudes within a few decades.  Reading such data with the wrong byte order puts
    mantissa bits into the exponent: magnitudes become random over ~1e-38..1e38, or
    subnormal/tiny for values with zero low-order bytes.
    """
    v = v[(v != 0) & ~np.isnan(v)]
    if v.size < 16:
        return None
    mag = np.abs(v.astype(np.float64))
    bad = np.isinf(mag) | (mag < 1e-20) | (mag > 1e20)
    if bad.mean() > 0.2:
        return True
    lg = np.log2(mag[~bad])
    if lg.size >= 16:
        q75, q25 = np.percentile(lg, [75, 25])
        if q75 - q25 > 30.0:
            return True
    return False


def _check_byte_order(path: Path, n_floats: int) -> None:
    """Raise InputError if a float32 raster reads sanely little-endian but not big-endian."""
    if n_floats <= 0:
        return
    n = min(_BYTE_ORDER_SAMPLES, n_floats)
    idx = np.unique(np.linspace(0, n_floats - 1, n).astype(np.int64))
    raw = np.ascontiguousarray(np.memmap(path, dtype=np.uint8, mode="r", shape=(n_floats, 4))[idx])
    # interpret the same 4 raw bytes both ways
    be_vals = raw.view(">f4").ravel()
    le_vals = raw.view("<f4").ravel()
    absurd_be = _looks_absurd(be_vals)
    absurd_le = _looks_absurd(le_vals)
    if absurd_be and absurd_le is False:
        raise InputError(f"{path}: wrong byte order (data look little-endian; StaMPS export files are big-endian)")


def _check_size(path: Path, expected: int) -> None:
    size = path.stat().st_size
    if size < expected:
        raise InputError(f"{path}: truncated ({size} bytes, expected {expected} = width x length x element size)")
    if size > expected:
        raise InputError(f"{path}: inconsistent size ({size} bytes, expected {expected} = width x length x element size)")


def _pick_geo(geo: Path, master: str, suffix: str, required: bool) -> Path | None:
    own = geo / (f"{master}_{suffix}" if suffix == "dem.rdc" else f"{master}{suffix}")
    if own.is_file():
        return own
    cands = sorted(p for p in geo.glob(f"*{suffix}") if p.is_file())
    if len(cands) == 1:
        return cands[0]
    if not cands:
        if required:
            raise InputError(f"{own}: missing (no geo/*{suffix} file)")
        return None
    if not required:  # several DEM files: take the first, as mt_prep_snap's ls does
        return cands[0]
    raise InputError(f"{geo}: several *{suffix} files and none named {own.name}")


def open_stack(path: Path) -> StampsStack:
    """Open and validate an ``INSAR_<master>/`` folder written by SNAP's StampsExport.

    Validation happens before anything is returned and raises :class:`InputError` with a
    one-line message naming the offending file for: a missing folder, ``rslc/``, ``diff0/``,
    ``geo/``, master par, lon/lat; a par without a required key; a ``.diff`` not named
    ``<master>_<slave>.diff`` or with another master; a master-master ifg; a missing
    ``.base``; a slave without ``.rslc`` or an ``.rslc`` without ifg; a raster whose size is
    not width*length*8 (complex) or *4 (float); little-endian data; fewer than 3 ifgs.
    """
    root = Path(path)
    if not root.is_dir():
        raise InputError(f"{root}: StaMPS export folder not found")
    rslc_dir, diff_dir, geo_dir = root / "rslc", root / "diff0", root / "geo"
    for d in (rslc_dir, diff_dir, geo_dir):
        if not d.is_dir():
            raise InputError(f"{d}: missing folder (expected SNAP StampsExport layout rslc/, diff0/, geo/)")

    # --- interferograms: names, master, slaves
    diffs = sorted(p for p in diff_dir.glob("*.diff") if p.is_file())
    master_s: str | None = None
    first_diff: Path | None = None
    diff: dict[_dt.date, Path] = {}
    for p in diffs:
        m = _DIFF_RE.match(p.name)
        if m is None:
            raise InputError(f"{p}: interferogram name is not <master>_<slave>.diff (YYYYMMDD_YYYYMMDD.diff)")
        ms, ss = m.groups()
        try:
            parse_yyyymmdd(ms)
            sd = parse_yyyymmdd(ss)
        except ValueError:
            raise InputError(f"{p}: interferogram name holds an invalid date") from None
        if master_s is None:
            master_s, first_diff = ms, p
        elif ms != master_s:
            raise InputError(f"{p}: master date {ms} differs from {master_s} of {first_diff.name if first_diff else ''}")
        if ss == ms:
            raise InputError(f"{p}: master-master interferogram (StampsExport writes none; remove it)")
        diff[sd] = p
    if len(diff) < _MIN_IFGS:
        raise InputError(f"{diff_dir}: too few dates ({len(diff)} interferograms, at least {_MIN_IFGS} needed)")
    assert master_s is not None
    master = parse_yyyymmdd(master_s)
    slaves = sorted(diff)

    # --- baselines
    baselines = []
    for s in slaves:
        bp = diff[s].with_suffix(".base")
        if not bp.is_file():
            raise InputError(f"{bp}: missing baseline file")
        baselines.append(read_base(bp))

    # --- master par and SLCs
    par_path = rslc_dir / f"{master_s}.rslc.par"
    if not par_path.is_file():
        raise InputError(f"{par_path}: master parameter file not found")
    par = read_par(par_path)
    rslc: dict[_dt.date, Path] = {}
    for p in sorted(rslc_dir.glob("*.rslc")):
        m = _RSLC_RE.match(p.name)
        if m is None:
            raise InputError(f"{p}: SLC name is not YYYYMMDD.rslc")
        try:
            d = parse_yyyymmdd(m.group(1))
        except ValueError:
            raise InputError(f"{p}: SLC name holds an invalid date") from None
        if d != master and d not in diff:
            raise InputError(f"{p}: SLC without interferogram (no diff0/{master_s}_{m.group(1)}.diff)")
        rslc[d] = p
    for d in [master, *slaves]:
        if d not in rslc:
            raise InputError(f"{rslc_dir / (yyyymmdd(d) + '.rslc')}: missing SLC" + ("" if d == master else " of a slave with an interferogram"))

    # --- geocoding
    lon = _pick_geo(geo_dir, master_s, ".lon", True)
    lat = _pick_geo(geo_dir, master_s, ".lat", True)
    dem = _pick_geo(geo_dir, master_s, "dem.rdc", False)
    assert lon is not None and lat is not None

    # --- sizes, then byte order
    n = par.width * par.length
    complex_files = [rslc[d] for d in sorted(rslc)] + [diff[s] for s in slaves]
    float_files = [lon, lat] + ([dem] if dem is not None else [])
    for p in complex_files:
        _check_size(p, n * 8)
    for p in float_files:
        _check_size(p, n * 4)
    for p in complex_files:
        _check_byte_order(p, 2 * n)
    for p in float_files:
        _check_byte_order(p, n)

    return StampsStack(
        root=root,
        master=master,
        slaves=slaves,
        par=par,
        baselines=baselines,
        rslc=rslc,
        diff=diff,
        lon=lon,
        lat=lat,
        dem=dem,
    )
