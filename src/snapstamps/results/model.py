"""The PSI result model: its point columns (defined here once) and the loader.

A psi result directory (written by :func:`snapstamps.results.products.write_products`) holds
``ps_points.parquet`` (or ``ps_points.csv``), ``psi_metadata.json`` and ``stack.json``.
:func:`load_result` reads them into a :class:`PsiResult`, which the viewer, the quicklooks,
the rasters, the report, the STAC catalog and the evaluation share.  :data:`POINT_COLUMNS`
names, types, units and describes the attribute columns of the point table, in order; one
``YYYYMMDD`` column per date (LOS displacement, mm) follows them.  The stack's DEM (for the
hillshade background) is read from the ``INSAR_<master>`` directory that ``stack.json`` names,
when it still exists.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from ..errors import InputError

if TYPE_CHECKING:  # pandas (and pyarrow, which it loads: ~75 MB, ~1 s) only where a table is read
    import pandas as pd

__all__ = [
    "Column", "POINT_COLUMNS", "ATTRIBUTE_COLUMNS", "REQUIRED_COLUMNS", "DISPLACEMENT_DESCRIPTION",
    "date_column", "is_date_column", "columns_description", "PsiResult", "load_result",
    "reference_geometry", "scene_bperp", "read_stack_dem", "lonlat_to_mercator", "EARTH_RADIUS_M",
]

#: Web-Mercator sphere radius (m), EPSG:3857.
EARTH_RADIUS_M = 6378137.0


@dataclass(frozen=True)
class Column:
    """One attribute column of the point table: name, dtype (``int64``/``float64``), unit, meaning."""

    name: str
    dtype: str
    unit: str
    description: str


#: The attribute columns of ``ps_points.csv`` / ``.parquet``, in file order (the one definition).
POINT_COLUMNS: tuple[Column, ...] = (  # EGMS L2b order (users-and-products.md section 3.1)
    Column("pid", "int64", "", "point identifier, 1..N"),
    Column("latitude", "float64", "°", "latitude (EPSG:4326)"),
    Column("longitude", "float64", "°", "longitude (EPSG:4326)"),
    Column("easting", "float64", "m", "easting, ETRS89-LAEA (EPSG:3035)"),
    Column("northing", "float64", "m", "northing, ETRS89-LAEA (EPSG:3035)"),
    Column("height", "float64", "m", "DEM height + dem_error"),
    Column("height_wgs84", "float64", "m", "height above the WGS84 ellipsoid (empty without PROJ's EGM96 grid)"),
    Column("line", "int64", "", "0-based line in the INSAR_<master> grid"),
    Column("pixel", "int64", "", "0-based pixel in the INSAR_<master> grid"),
    Column("mean_velocity", "float64", "mm/yr", "mean LOS velocity, positive toward the satellite"),
    Column("mean_velocity_std", "float64", "mm/yr", "standard deviation of mean_velocity"),
    Column("acceleration", "float64", "mm/yr²", "LOS acceleration"),
    Column("acceleration_std", "float64", "mm/yr²", "standard deviation of acceleration"),
    Column("seasonality", "float64", "mm", "amplitude of the annual term"),
    Column("seasonality_std", "float64", "mm", "standard deviation of seasonality"),
    Column("rmse", "float64", "mm", "RMS residual of the time series about the deformation model"),
    Column("temporal_coherence", "float64", "", "temporal coherence"),
    Column("amplitude_dispersion", "float64", "", "amplitude dispersion"),
    Column("incidence_angle", "float64", "°", "incidence angle"),
    Column("los_east", "float64", "", "east component of the unit vector ground to satellite"),
    Column("los_north", "float64", "", "north component of the unit vector ground to satellite"),
    Column("los_up", "float64", "", "up component of the unit vector ground to satellite"),
    Column("dem_error", "float64", "m", "DEM error, positive = terrain above the DEM"),
)
ATTRIBUTE_COLUMNS = [c.name for c in POINT_COLUMNS]
REQUIRED_COLUMNS = ["pid", "latitude", "longitude", "mean_velocity", "temporal_coherence"]
DISPLACEMENT_DESCRIPTION = "LOS displacement relative to the first date (mm, positive toward the satellite)"


def date_column(date: dt.date | str) -> str:
    """Name of the displacement column of ``date`` (``YYYYMMDD``)."""
    d = dt.date.fromisoformat(date) if isinstance(date, str) else date
    return d.strftime("%Y%m%d")


def is_date_column(name: object) -> bool:
    """True for a ``YYYYMMDD`` displacement column name."""
    return isinstance(name, str) and len(name) == 8 and name.isdigit()


def columns_description() -> str:
    """One line naming every column with its unit, for catalogs and documentation."""
    cols = ", ".join(f"{c.name} ({c.unit})" if c.unit and c.unit != "°" else c.name for c in POINT_COLUMNS)
    return f"{cols}, then {DISPLACEMENT_DESCRIPTION.split(' (')[0].lower()} (mm) per date YYYYMMDD"


@dataclass
class PsiResult:
    """The contents of a psi result directory.

    ``table`` has the documented point columns plus one ``YYYYMMDD`` column per date (mm);
    ``dates`` are ISO 8601 strings in the order of ``date_columns``.
    """

    path: Path
    table: pd.DataFrame
    metadata: dict[str, Any]
    stack: dict[str, Any]
    dates: list[str]
    date_columns: list[str]
    files: dict[str, Path] = field(default_factory=dict)
    #: values derived from the result and reused by several outputs (e.g. the hillshade of the
    #: quicklooks and the viewer); not part of its contents
    cache: dict[Any, Any] = field(default_factory=dict, init=False, repr=False, compare=False)

    @property
    def n_points(self) -> int:
        """Number of PS."""
        return int(len(self.table))

    @property
    def product_version(self) -> str | None:
        """Version id of the products (``psi_metadata.json``), which derived outputs record."""
        v = self.metadata.get("product_version")
        return str(v) if v else None

    @property
    def master(self) -> str | None:
        """Master (reference) date, ISO 8601."""
        return self.metadata.get("master") or self.stack.get("master")

    def column(self, name: str) -> NDArray[np.float64]:
        """A point column as float64 (NaN where missing or absent)."""
        if name not in self.table.columns:
            return np.full(self.n_points, np.nan)
        import pandas as pd

        return pd.to_numeric(self.table[name], errors="coerce").to_numpy(dtype=np.float64)

    def displacements(self) -> NDArray[np.float32]:
        """``(N, n_dates)`` float32 LOS displacement (mm), as in the table (relative to the first date)."""
        if not self.date_columns:
            return np.zeros((self.n_points, 0), np.float32)
        return self.table[self.date_columns].to_numpy(dtype=np.float32)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise InputError(f"{path}: missing (not a psi result directory?)") from None
    except json.JSONDecodeError as e:
        raise InputError(f"{path}: not valid JSON ({e})") from None


def _read_points(result_dir: Path) -> tuple[pd.DataFrame, Path]:
    pq_path = result_dir / "ps_points.parquet"
    csv_path = result_dir / "ps_points.csv"
    if pq_path.exists():
        import pyarrow.parquet as pq

        schema = pq.read_schema(pq_path)
        cols = [c for c in schema.names if c != "geometry"]
        return pq.read_table(pq_path, columns=cols).to_pandas(), pq_path
    if csv_path.exists():
        import pandas as pd

        return pd.read_csv(csv_path), csv_path
    raise InputError(f"{result_dir}: neither ps_points.parquet nor ps_points.csv found (not a psi result directory?)")


def load_result(result_dir: str | Path) -> PsiResult:
    """Read ``ps_points.parquet`` (or ``.csv``), ``psi_metadata.json`` and ``stack.json``.

    Raises :class:`~snapstamps.errors.InputError` naming the file when one is missing or a
    required column is absent.  ``stack.json`` is optional (an empty dict when absent).
    """
    d = Path(result_dir)
    if not d.is_dir():
        raise InputError(f"{d}: not a directory")
    table, points_path = _read_points(d)
    missing = [c for c in REQUIRED_COLUMNS if c not in table.columns]
    if missing:
        raise InputError(f"{points_path}: missing column(s) {', '.join(missing)}")
    meta = _read_json(d / "psi_metadata.json")
    stack = _read_json(d / "stack.json") if (d / "stack.json").exists() else {}
    date_cols = [c for c in table.columns if is_date_column(c)]
    iso = [dt.date(int(c[:4]), int(c[4:6]), int(c[6:])).isoformat() for c in date_cols]
    meta_dates = meta.get("dates") or stack.get("dates")
    if meta_dates and len(meta_dates) == len(iso) and list(meta_dates) != iso:
        raise InputError(f"{points_path}: date columns disagree with the dates of psi_metadata.json")
    files = {"points": points_path, "metadata": d / "psi_metadata.json"}
    if (d / "stack.json").exists():
        files["stack"] = d / "stack.json"
    return PsiResult(path=d, table=table, metadata=meta, stack=stack, dates=iso, date_columns=date_cols, files=files)


def _finite(x: Any) -> float | None:
    try:
        f = float(x)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def reference_geometry(result: PsiResult) -> dict[str, Any]:
    """The reference area in plain JSON (no infinities).

    ``kind`` is ``"circle"`` (``centre_lonlat``, ``radius_m``), ``"box"`` (``lon``, ``lat``
    ranges clipped to the PS extent) or ``"all"`` (the mean of all PS, StaMPS' default);
    ``centroid_lonlat`` is the centroid of the reference PS when known, ``n_reference_ps``
    their number.
    """
    ref = result.metadata.get("reference_area") or {}
    out: dict[str, Any] = {
        "n_reference_ps": ref.get("n_reference_ps"),
        "centroid_lonlat": ref.get("reference_ps_centroid_lonlat"),
    }
    radius = _finite(ref.get("ref_radius"))
    centre = ref.get("ref_centre_lonlat") or [None, None]
    if radius is not None and radius >= 0 and all(_finite(c) is not None for c in centre):
        out.update(kind="circle", centre_lonlat=[float(centre[0]), float(centre[1])], radius_m=radius)
        return out
    lon = ref.get("ref_lon") or [None, None]
    lat = ref.get("ref_lat") or [None, None]
    lons, lats = result.column("longitude"), result.column("latitude")
    if any(_finite(v) is not None for v in list(lon) + list(lat)) and len(lons):
        lo0 = _finite(lon[0]); lo1 = _finite(lon[1]); la0 = _finite(lat[0]); la1 = _finite(lat[1])
        box_lon = [max(lo0, float(np.nanmin(lons))) if lo0 is not None else float(np.nanmin(lons)),
                   min(lo1, float(np.nanmax(lons))) if lo1 is not None else float(np.nanmax(lons))]
        box_lat = [max(la0, float(np.nanmin(lats))) if la0 is not None else float(np.nanmin(lats)),
                   min(la1, float(np.nanmax(lats))) if la1 is not None else float(np.nanmax(lats))]
        out.update(kind="box", lon=box_lon, lat=box_lat)
        return out
    out.update(kind="all")
    return out


def scene_bperp(result: PsiResult) -> NDArray[np.float64] | None:
    """Perpendicular baseline (m) of every date at the scene centre, 0 at the master.

    From ``stack.json`` (``baselines``: C, N, Cdot, Ndot per slave; ``geometry``); ``None``
    when the stack description lacks them.
    """
    from ..psi import geometry as g

    st = result.stack
    try:
        base = np.asarray(st["baselines"], dtype=np.float64).reshape(-1, 4)
        geo = st["geometry"]
        dates = st["dates"]
        master_ix = int(st.get("master_ix", dates.index(st["master"])))
    except (KeyError, ValueError, TypeError):
        return None
    if len(base) != len(dates) - 1:
        return None
    r = g.slant_range(np.array([geo["width"] / 2.0]), geo["near_range"], geo["range_pixel_spacing"])
    theta = g.look_angle(r, geo["sar_to_earth_center"], geo["earth_radius"])
    bp = g.perpendicular_baseline(np.array([geo["length"] / 2.0 - 0.5]), theta, base, geo["length"], geo["prf"])[0]
    return np.insert(bp.astype(np.float64), master_ix, 0.0)


def read_stack_dem(result: PsiResult, max_samples: int = 2_000_000) -> tuple[NDArray, NDArray, NDArray] | None:
    """``(lon, lat, height)`` samples of the stack's DEM in radar geometry, or ``None``.

    Reads ``geo/<master>.lon``, ``.lat`` and ``<master>_dem.rdc`` of the ``INSAR_<master>``
    directory named in ``stack.json`` (float32 big-endian, ``length x width``), every k-th
    line and pixel so that at most ``max_samples`` are read.
    """
    st = result.stack
    insar = st.get("insar_dir")
    geo = st.get("geometry") or {}
    if not insar or "width" not in geo or "length" not in geo:
        return None
    gdir = Path(insar) / "geo"
    master = str(st.get("master", "")).replace("-", "")
    lon_p, lat_p, dem_p = gdir / f"{master}.lon", gdir / f"{master}.lat", gdir / f"{master}_dem.rdc"
    if not dem_p.exists():
        cands = sorted(gdir.glob("*_dem.rdc")) if gdir.is_dir() else []
        dem_p = cands[0] if cands else dem_p
    if not (lon_p.exists() and lat_p.exists() and dem_p.exists()):
        return None
    length, width = int(geo["length"]), int(geo["width"])
    n = length * width
    if any(p.stat().st_size != 4 * n for p in (lon_p, lat_p, dem_p)):
        return None
    step = max(1, int(math.ceil(math.sqrt(n / max_samples))))
    out = []
    for p in (lon_p, lat_p, dem_p):
        mm = np.memmap(p, dtype=">f4", mode="r", shape=(length, width))
        out.append(np.asarray(mm[::step, ::step], dtype=np.float64).ravel())
        del mm
    lon, lat, h = out
    ok = np.isfinite(lon) & np.isfinite(lat) & np.isfinite(h) & ((lon != 0) | (lat != 0))
    if not ok.any():
        return None
    return lon[ok], lat[ok], h[ok]


def lonlat_to_mercator(lon: NDArray, lat: NDArray) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """EPSG:4326 degrees -> EPSG:3857 metres."""
    lon = np.asarray(lon, dtype=np.float64)
    lat = np.clip(np.asarray(lat, dtype=np.float64), -85.05112878, 85.05112878)
    x = EARTH_RADIUS_M * np.radians(lon)
    y = EARTH_RADIUS_M * np.log(np.tan(np.pi / 4 + np.radians(lat) / 2))
    return x, y
