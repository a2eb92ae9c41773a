"""The PSI product files, written from a point table and its metadata (no run object needed).

Files written in the result directory (each via a temporary name and a rename):

``ps_mean_v.xy``
    ``lon lat v`` — mean LOS velocity (mm/yr, positive toward the satellite) of value type
    ``velocity_type`` (default ``'v-daps'``: DEM error and an APS estimate that keeps
    deformation removed; StaMPS' ``'v-d'`` etc. on request), plus ``ref_velocity``.
``ps_data.xy``
    ``lon lat v hgt dem_error`` (5 columns as StaMPS' ``ps_output``): v in mm/yr as above
    (StaMPS writes v_std there when a bootstrap exists — a variable-reuse bug we do not
    reproduce), DEM height (m), DEM error (m, positive = terrain above the DEM).
``ps_u-dm.<n>.xy``, n = 1..M in date order
    ``lon lat d`` — LOS displacement (mm, positive toward the satellite) of image n relative to
    the master, DEM error and master APS removed, referenced to the reference area.  The
    master file is zero (StaMPS' ``ps_output`` leaves the master APS residual in it; we fix it).
``ps_points.csv`` / ``ps_points.parquet`` (GeoParquet 1.0, WKB points, OGC:CRS84)
    the columns of :data:`snapstamps.results.model.POINT_COLUMNS`, then one column per date
    ``YYYYMMDD`` (mm, relative to the first date, EGMS).
``psi_metadata.json``
    conventions, units, dates, reference area, counts, adapted parameters, all parameters,
    the file names and ``product_version`` (:func:`product_version`).

Writing products makes the derived outputs of the folder (quicklooks, COGs, report, viewer,
``assets.json``) stale: :func:`write_products` rebuilds those listed in its ``assets.json``
(:func:`snapstamps.results.derived.refresh_derived`).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import InputError
from ..io.atomic import atomic_path, atomic_write_text
from ..io.jsonable import json_default
from .model import ATTRIBUTE_COLUMNS, is_date_column

__all__ = ["write_products", "write_geoparquet", "product_version", "VELOCITY_DESCRIPTIONS"]

#: What each StaMPS velocity type removes (``velocity_type``), as recorded in the metadata.
VELOCITY_DESCRIPTIONS = {
    "v-daps": "DEM error re-estimated and an APS estimate that keeps deformation removed (psi.aps); "
    "velocity of each PS' deformation model (linear, plus acceleration/seasonal where the data support them) "
    "at mid-span, generalised least squares with the per-date APS + noise variances",
    "v-da": "DEM error, master APS and the tropospheric correction (tropo_method) removed",
    "v-dao": "DEM error and the tropospheric correction removed, then a plane per interferogram",
    "v-d": "DEM error (SCLA) and master APS removed; no deramp, no SCN",
    "v-do": "DEM error removed, then a plane per interferogram (orbit ramp) removed; no SCN",
    "v-ds": "DEM error, master APS and spatially correlated noise (step 8) removed",
    "v-dso": "DEM error and spatially correlated noise removed, then a plane per interferogram",
}


def _atomic_write(path: Path, writer: Callable[[str], Any]) -> None:
    """Let ``writer(tmp)`` write a temporary sibling of ``path``, then rename it into place."""
    with atomic_path(path) as tmp:
        writer(str(tmp))


def _xy_prefix(lon: np.ndarray, lat: np.ndarray) -> list[str]:
    """``"lon lat "`` of every point (``%.7f``), formatted once for all ``.xy`` files."""
    lonlat = zip(np.asarray(lon, np.float64).tolist(), np.asarray(lat, np.float64).tolist())
    return ["%.7f %.7f " % ll for ll in lonlat]  # noqa: UP031 - printf formatting, as np.savetxt


def _write_xy(path: Path, prefix: list[str], columns: list[np.ndarray], fmt: str) -> None:
    """Rows ``prefix[i] + fmt % (columns...)[i]``: the text ``np.savetxt`` writes with the whole
    format, without its per-row Python loop over arrays (the lon/lat part is shared by all files)."""
    cols = [np.asarray(c, np.float64).tolist() for c in columns]
    text = "".join([pre + fmt % row + "\n" for pre, row in zip(prefix, zip(*cols))])
    _atomic_write(path, lambda tmp: Path(tmp).write_text(text))


def _csv_column(values: np.ndarray, float_format: str) -> list[str]:
    """Float or integer values as pandas' ``to_csv(float_format=...)`` writes them (NaN empty)."""
    if values.dtype.kind == "f":
        return [float_format % x if x == x else "" for x in values.tolist()]
    return [str(x) for x in values.tolist()]


def write_csv(table: pd.DataFrame, path: Path, float_format: str = "%.6f", block_rows: int = 1024) -> None:
    """``table.to_csv(path, index=False, float_format=float_format)``, byte for byte, for tables of
    numbers (float and integer columns, plain column names); other tables go through pandas.

    pandas formats every value through a Python callable (~3 us each); formatting whole columns
    here is several times faster.  Rows are formatted and written ``block_rows`` at a time, so the
    text never exists whole in memory.
    """
    import os

    names = [str(c) for c in table.columns]
    arrays = [table[c].to_numpy() for c in table.columns]
    plain = all(n and not any(ch in n for ch in ',"\r\n') for n in names) and len(names) > 0
    if not plain or any(a.dtype.kind not in "fiu" for a in arrays):
        _atomic_write(path, lambda tmp: table.to_csv(tmp, index=False, float_format=float_format))
        return
    nl = os.linesep

    def write(tmp: str) -> None:
        with open(tmp, "w", encoding="utf-8", newline="") as fh:
            fh.write(",".join(names) + nl)
            for r0 in range(0, len(table), block_rows):
                cols = [_csv_column(a[r0 : r0 + block_rows], float_format) for a in arrays]
                fh.write("".join([",".join(r) + nl for r in zip(*cols)]))

    _atomic_write(path, write)


def write_geoparquet(table: pd.DataFrame, path: Path) -> None:
    """GeoParquet 1.0 with a WKB point geometry column (lon/lat, OGC:CRS84)."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    import shapely

    pts = shapely.points(table["longitude"].to_numpy(), table["latitude"].to_numpy())
    wkb = shapely.to_wkb(pts)
    tbl = pa.Table.from_pandas(table, preserve_index=False)
    tbl = tbl.append_column("geometry", pa.array(wkb, type=pa.binary()))
    bbox = [
        float(table["longitude"].min()), float(table["latitude"].min()),
        float(table["longitude"].max()), float(table["latitude"].max()),
    ] if len(table) else []
    geo = {
        "version": "1.0.0",
        "primary_column": "geometry",
        "columns": {"geometry": {"encoding": "WKB", "geometry_types": ["Point"], "bbox": bbox}},
    }
    meta = dict(tbl.schema.metadata or {})
    meta[b"geo"] = json.dumps(geo).encode()
    tbl = tbl.replace_schema_metadata(meta)
    _atomic_write(path, lambda tmp: pq.write_table(tbl, tmp))


def write_products(
    out_dir: str | Path, table: pd.DataFrame, metadata: dict[str, Any], u_dm: np.ndarray | None = None
) -> dict[str, str]:
    """Write every product file of ``table`` (point columns, then ``YYYYMMDD`` columns) and ``metadata``.

    ``metadata`` goes to ``psi_metadata.json`` with the file names added under ``files``.
    ``u_dm`` (N, M) mm, StaMPS' ``'u-dm'`` series (relative to the master) for ``ps_u-dm.<n>.xy``;
    None: the table's date columns.  Returns the paths by product name.
    """
    out = Path(out_dir)
    missing = [c for c in ATTRIBUTE_COLUMNS if c not in table.columns]
    if missing:
        raise InputError(f"point table lacks the column(s) {', '.join(missing)}")
    date_cols = [c for c in table.columns if is_date_column(c)]
    table = table[ATTRIBUTE_COLUMNS + date_cols]
    lon, lat = table["longitude"].to_numpy(), table["latitude"].to_numpy()
    v = table["mean_velocity"].to_numpy()
    files: dict[str, str] = {}

    prefix = _xy_prefix(lon, lat)
    _write_xy(out / "ps_mean_v.xy", prefix, [v], "%.4f")
    files["ps_mean_v.xy"] = str(out / "ps_mean_v.xy")
    dem_error = table["dem_error"].to_numpy()
    _write_xy(out / "ps_data.xy", prefix, [v, table["height"].to_numpy() - dem_error, dem_error], "%.4f %.4f %.4f")
    files["ps_data.xy"] = str(out / "ps_data.xy")
    for n, c in enumerate(date_cols, start=1):
        d = table[c].to_numpy() if u_dm is None else np.asarray(u_dm)[:, n - 1]
        _write_xy(out / f"ps_u-dm.{n}.xy", prefix, [d], "%.4f")
    for stale in out.glob("ps_u-dm.*.xy"):  # from an earlier run with more dates
        k = stale.name.split(".")[1]
        if not k.isdigit() or int(k) > len(date_cols):
            stale.unlink()
    files["ps_u-dm"] = str(out / "ps_u-dm.<n>.xy")

    write_csv(table, out / "ps_points.csv")
    files["ps_points.csv"] = str(out / "ps_points.csv")
    write_geoparquet(table, out / "ps_points.parquet")
    files["ps_points.parquet"] = str(out / "ps_points.parquet")
    meta = {k: v for k, v in metadata.items() if k != "product_version"}
    meta["files"] = {k: Path(p).name for k, p in files.items()}
    meta["product_version"] = product_version(out / "ps_points.csv", meta)
    atomic_write_text(out / "psi_metadata.json", json.dumps(meta, indent=2, default=json_default) + "\n")
    files["psi_metadata.json"] = str(out / "psi_metadata.json")
    from .derived import refresh_derived

    refresh_derived(out)
    return files


#: psi parameters that change how a run is executed, never its results: left out of :func:`product_version`
EXECUTION_ONLY_PARAMETERS = frozenset({"n_cores"})


def product_version(points_csv: Path, metadata: dict[str, Any]) -> str:
    """Version id of a set of products: SHA-256 (16 hex digits) of the point table and the metadata.

    The same run gives the same id; any change of a point value, a date, the reference area or a
    parameter gives another (except :data:`EXECUTION_ONLY_PARAMETERS`, e.g. ``n_cores``: the same
    results computed with more cores keep their id).  Derived outputs record the id they were made from
    (:mod:`snapstamps.results.derived`).
    """
    import hashlib

    h = hashlib.sha256()
    with open(points_csv, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    clean = {k: v for k, v in metadata.items() if k not in ("product_version", "software")}
    if isinstance(clean.get("parameters"), dict):  # how a run was executed is not what it produced
        clean["parameters"] = {k: v for k, v in clean["parameters"].items() if k not in EXECUTION_ONLY_PARAMETERS}
    h.update(json.dumps(clean, sort_keys=True, default=json_default).encode())
    return h.hexdigest()[:16]
