"""Import existing StaMPS results into the project's point products, viewer, quicklooks and STAC.

Two inputs are read:

* a **StaMPS-Visualizer CSV export** (``stusi`` files): a header row, then a first row holding
  the reference point (``lon, lat, NaN``) and the dates as MATLAB datenums, then one row per
  point ``lon, lat, v, d_1 .. d_n``: mean LOS velocity (mm/yr) and the displacement series (mm);
* a **StaMPS output folder**: ``ps_plot_ts_*.mat`` (``lonlat``, ``ph_mm``, ``day``; read with
  scipy where it is a MATLAB v5-7.2 file) when present, else the text files ``ps_mean_v.xy``
  (``lon lat v``), ``ps_u-dm.<n>.xy`` (``lon lat d``, one per date) and optionally ``ps_data.xy``
  (``lon lat v hgt ...``); the dates then come from ``day.1.in`` (``YYYYMMDD`` per line, as
  StaMPS' ``mt_prep`` writes it) or ``dates.txt``, and ``ref_lonlat`` / ``master_day.1.in``
  when present.

Units and signs follow StaMPS (mm and mm/yr, positive toward the satellite); what a file does
not say is recorded in ``psi_metadata.json`` under ``assumptions``.  Nothing is estimated: the
velocities and series are the file's.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from ..errors import InputError

__all__ = ["ImportedPoints", "read_visualizer_csv", "read_stamps_folder", "read_stamps", "write_imported", "import_stamps"]

_MATLAB_DATENUM_OFFSET = 366  # MATLAB datenum(1,1,1) = 367; Python date.fromordinal(1) = 0001-01-01


@dataclass
class ImportedPoints:
    """Points read from a StaMPS result: lon/lat (deg), velocity (mm/yr), series (N, n_dates) mm."""

    lon: NDArray[np.float64]
    lat: NDArray[np.float64]
    velocity: NDArray[np.float64]
    dates: list[str]
    displacement: NDArray[np.float64]
    source: str
    reference_lonlat: tuple[float, float] | None = None
    master: str | None = None
    height: NDArray[np.float64] | None = None
    assumptions: list[str] = field(default_factory=list)

    def check(self) -> "ImportedPoints":
        n = self.lon.size
        if n == 0:
            raise InputError(f"{self.source}: no points")
        for name, a in (("lat", self.lat), ("velocity", self.velocity)):
            if a.shape != (n,):
                raise InputError(f"{self.source}: {name} has {a.size} values for {n} points")
        if self.displacement.shape != (n, len(self.dates)):
            raise InputError(f"{self.source}: displacement series of shape {self.displacement.shape}, expected ({n}, {len(self.dates)})")
        if not (np.all(np.abs(self.lon) <= 180) and np.all(np.abs(self.lat) <= 90)):
            raise InputError(f"{self.source}: longitudes/latitudes out of range (not lon/lat degrees?)")
        if sorted(self.dates) != self.dates or len(set(self.dates)) != len(self.dates):
            raise InputError(f"{self.source}: dates not strictly increasing")
        return self


def datenum_to_iso(x: float) -> str:
    """MATLAB datenum (days) -> ISO 8601 date."""
    if not np.isfinite(x) or not 500_000 < x < 1_000_000:
        raise InputError(f"{x!r} is not a MATLAB datenum of a date")
    return dt.date.fromordinal(int(round(x)) - _MATLAB_DATENUM_OFFSET).isoformat()


def read_visualizer_csv(path: Path) -> ImportedPoints:
    """A StaMPS-Visualizer export (PS or SBAS)."""
    path = Path(path)
    try:
        a = pd.read_csv(path, header=0).to_numpy(dtype=np.float64)
    except FileNotFoundError:
        raise InputError(f"{path}: not found") from None
    except (ValueError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: not a StaMPS-Visualizer CSV export ({str(exc).splitlines()[0]})") from None
    if a.ndim != 2 or a.shape[0] < 2 or a.shape[1] < 4:
        raise InputError(f"{path}: not a StaMPS-Visualizer CSV export (needs a reference/date row and point rows of lon, lat, v, series)")
    head = a[0]
    if np.isfinite(head[2]):
        raise InputError(f"{path}: first row is not the reference/date row (lon, lat, NaN, datenums)")
    dates = [datenum_to_iso(x) for x in head[3:]]
    pts = a[1:]
    return ImportedPoints(
        lon=pts[:, 0], lat=pts[:, 1], velocity=pts[:, 2], dates=dates, displacement=pts[:, 3:],
        source=str(path), reference_lonlat=(float(head[0]), float(head[1])),
        assumptions=[
            "units mm/yr (velocity) and mm (series), positive toward the satellite: StaMPS' convention, not stated in the file",
            "the master date is not in the export; the series are as exported (not zero at any date)",
            "reference point: the export's first row",
        ],
    ).check()


def _read_xy(path: Path, min_cols: int) -> NDArray[np.float64]:
    try:
        a = np.loadtxt(path, ndmin=2)
    except ValueError as exc:
        raise InputError(f"{path}: not a whitespace-separated numeric table ({exc})") from None
    if a.shape[1] < min_cols:
        raise InputError(f"{path}: {a.shape[1]} columns, expected at least {min_cols}")
    return a


def _dates_file(folder: Path) -> tuple[list[str], str] | None:
    for name in ("day.1.in", "dates.txt"):
        p = folder / name
        if p.is_file():
            out = []
            for tok in p.read_text().split():
                if not re.fullmatch(r"\d{8}", tok):
                    raise InputError(f"{p}: {tok!r} is not a YYYYMMDD date")
                out.append(dt.date(int(tok[:4]), int(tok[4:6]), int(tok[6:])).isoformat())
            return sorted(out), name
    return None


def _read_mat(path: Path) -> dict:
    from scipy.io import loadmat

    try:
        return loadmat(path, squeeze_me=False)
    except NotImplementedError:
        raise InputError(f"{path}: MATLAB v7.3 (HDF5) file; save it with -v7 to import it, or export the .xy text files") from None
    except (ValueError, OSError) as exc:
        raise InputError(f"{path}: not a readable MATLAB file ({exc})") from None


def read_stamps_folder(folder: Path) -> ImportedPoints:
    """A StaMPS output folder (see the module docstring for the files and their precedence)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"{folder}: not a folder")
    assumptions = ["units mm/yr and mm, positive toward the satellite: StaMPS' convention"]
    ref = None
    if (folder / "ref_lonlat").is_file():
        v = np.loadtxt(folder / "ref_lonlat").ravel()
        ref = (float(v[0]), float(v[1]))
    mats = sorted(folder.glob("ps_plot_ts_*.mat"))
    if mats:
        m = _read_mat(mats[0])
        need = [k for k in ("lonlat", "ph_mm", "day") if k not in m]
        if need:
            raise InputError(f"{mats[0]}: missing variable(s) {', '.join(need)} (not a ps_plot time-series file?)")
        lonlat = np.asarray(m["lonlat"], np.float64)
        ph = np.asarray(m["ph_mm"], np.float64)
        days = np.asarray(m["day"], np.float64).ravel()
        order = np.argsort(days)
        dates = [datenum_to_iso(x) for x in days[order]]
        ph = ph[:, order]
        t = (days[order] - days[order][0]) / 365.25
        if "ph_disp" in m and np.asarray(m["ph_disp"]).size == lonlat.shape[0]:
            v = np.asarray(m["ph_disp"], np.float64).ravel()
        else:
            tt = t - t.mean()
            v = (ph - ph.mean(axis=1, keepdims=True)) @ tt / np.sum(tt**2)
            assumptions.append(f"velocity: least-squares slope of the series of {mats[0].name} (the file holds no ph_disp)")
        master = None
        if "master_day" in m:
            master = datenum_to_iso(float(np.asarray(m["master_day"]).ravel()[0]))
        if "ref_lonlat" in m:
            r = np.asarray(m["ref_lonlat"], np.float64).ravel()
            ref = (float(r[0]), float(r[1]))
        return ImportedPoints(lonlat[:, 0], lonlat[:, 1], v, dates, ph, str(mats[0]), ref, master, None, assumptions).check()
    mean_v = folder / "ps_mean_v.xy"
    if not mean_v.is_file():
        raise InputError(f"{folder}: neither ps_plot_ts_*.mat nor ps_mean_v.xy found (not a StaMPS output folder?)")
    mv = _read_xy(mean_v, 3)
    files = sorted(folder.glob("ps_u-dm.*.xy"), key=lambda p: int(p.name.split(".")[1]) if p.name.split(".")[1].isdigit() else -1)
    files = [p for p in files if p.name.split(".")[1].isdigit()]
    series = []
    for p in files:
        a = _read_xy(p, 3)
        if a.shape[0] != mv.shape[0] or not np.allclose(a[:, :2], mv[:, :2], atol=1e-6):
            raise InputError(f"{p}: points differ from those of {mean_v.name}")
        series.append(a[:, 2])
    got = _dates_file(folder)
    if series:
        if got is None:
            raise InputError(f"{folder}: ps_u-dm.<n>.xy without dates: put day.1.in (YYYYMMDD per line) beside them")
        dates, src = got
        if len(dates) != len(series):
            raise InputError(f"{folder / src}: {len(dates)} dates for {len(series)} ps_u-dm files")
    else:
        dates = []
        assumptions.append("no ps_u-dm.<n>.xy files: velocities only")
    height = None
    if (folder / "ps_data.xy").is_file():
        pdx = _read_xy(folder / "ps_data.xy", 4)
        if pdx.shape[0] == mv.shape[0]:
            height = pdx[:, 3]
    master = None
    if (folder / "master_day.1.in").is_file():
        tok = (folder / "master_day.1.in").read_text().split()[0]
        master = dt.date(int(tok[:4]), int(tok[4:6]), int(tok[6:8])).isoformat()
    disp = np.column_stack(series) if series else np.zeros((mv.shape[0], 0))
    return ImportedPoints(mv[:, 0], mv[:, 1], mv[:, 2], dates, disp, str(folder), ref, master, height, assumptions).check()


def read_stamps(path: Path) -> ImportedPoints:
    """A StaMPS-Visualizer CSV file or a StaMPS output folder."""
    p = Path(path)
    if p.is_dir():
        return read_stamps_folder(p)
    if p.suffix.lower() == ".csv":
        return read_visualizer_csv(p)
    raise InputError(f"{p}: expected a StaMPS-Visualizer .csv export or a StaMPS output folder")


def point_table(pts: ImportedPoints) -> pd.DataFrame:
    """The project's point table (:data:`snapstamps.results.model.POINT_COLUMNS`; unknown ones NaN, or -1 for indices)."""
    from ..results.model import POINT_COLUMNS, date_column

    n = pts.lon.size
    known = {
        "pid": np.arange(1, n + 1, dtype=np.int64), "latitude": pts.lat, "longitude": pts.lon,
        "height": pts.height, "mean_velocity": pts.velocity,
    }
    cols = {}
    for c in POINT_COLUMNS:
        v = known.get(c.name)
        cols[c.name] = v if v is not None else (np.full(n, -1, np.int64) if c.dtype == "int64" else np.full(n, np.nan))
    table = pd.DataFrame(cols)
    for k, d in enumerate(pts.dates):
        table[date_column(d)] = pts.displacement[:, k]
    return table


def metadata(pts: ImportedPoints) -> dict:
    """``psi_metadata.json`` of an import: conventions, dates, reference point, provenance, assumptions."""
    from .. import __version__

    v = pts.velocity
    assumptions = list(pts.assumptions)
    master = pts.master
    if master is None and pts.dates:
        master = pts.dates[0]
        assumptions.append(f"'master' recorded as the first date {master} (the input does not name it)")
    return {
        "software": {"name": "snapstamps", "version": __version__, "backend": "import", "imported_from": pts.source},
        "conventions": {
            "velocity": "mean LOS velocity, mm/yr, positive toward the satellite",
            "displacement": "LOS displacement series, mm, positive toward the satellite, as in the imported file",
            "crs": "EPSG:4326 (longitude, latitude in degrees)",
            "dates": "ISO 8601",
            "unknown_columns": "height, temporal_coherence, amplitude_dispersion, incidence_angle, dem_error, line, pixel: "
                               "NaN (or -1) unless the input holds them",
        },
        "master": master,
        "dates": pts.dates,
        "sensor": None,
        "reference_area": {
            "reference_ps_centroid_lonlat": list(pts.reference_lonlat) if pts.reference_lonlat else None,
            "source": "the input file" if pts.reference_lonlat else "not in the input",
        },
        "counts": {"candidates": None, "ps": int(pts.lon.size)},
        "velocity_statistics_mm_yr": {
            "mean": float(np.nanmean(v)), "std": float(np.nanstd(v)), "min": float(np.nanmin(v)), "max": float(np.nanmax(v)),
        },
        "assumptions": assumptions,
        "adapted_parameters": [],
    }


def write_imported(pts: ImportedPoints, out: Path) -> dict[str, Path]:
    """The product files of an import (the results layer's writer: ``ps_points.csv``, GeoParquet,
    StaMPS-style ``.xy``, ``psi_metadata.json``) and ``stack.json``, into ``out``."""
    from ..io.atomic import atomic_write_text
    from ..results.products import write_products

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    meta = metadata(pts)
    files = {k: Path(v) for k, v in write_products(out, point_table(pts), meta).items()}
    stack = {"master": meta["master"], "dates": pts.dates, "source": pts.source}
    atomic_write_text(out / "stack.json", json.dumps(stack, indent=2) + "\n")
    files["stack.json"] = out / "stack.json"
    return files


def import_stamps(source: Path, out: Path, *, viewer: bool = True, stac: bool = True, tiles_url: str | None = None) -> dict:
    """Read ``source`` and write products, quicklooks/COGs/report/viewer and a STAC catalog into ``out``."""
    from ..results.derived import make_job_outputs

    pts = read_stamps(Path(source))
    files = write_imported(pts, Path(out))
    assets = make_job_outputs(Path(out), viewer=viewer, tiles_url=tiles_url)
    result = {"n_points": int(pts.lon.size), "dates": pts.dates, "files": {k: str(v) for k, v in files.items()},
              "assets": {a.key: str(a.path) for a in assets}}
    if stac:
        from ..stac.psi import build_psi_catalog

        result["catalog"] = str(build_psi_catalog(Path(out), Path(out) / "stac", quicklooks_dir=Path(out)))
    return result
