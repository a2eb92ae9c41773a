"""Export a psi result as a static web viewer folder (works from ``file://`` and any static server).

Layout of the folder::

    index.html, viewer.css, viewer.js      the viewer (no network access at run time)
    vendor/                                third-party JS/CSS copied from npm at build time
    data/meta.js                           dates, reference area, colour limits, background, ...
    data/points.js                         positions, velocity, coherence, pid of every PS (base64)
    data/ts/c<k>.js                        time series and attributes of PS k*chunk .. (k+1)*chunk-1:
                                           lon/lat float64, other attributes float32, series float32
    data/background.png                    hillshade of the stack DEM (EPSG:3857), unless tiles are used

Data files are JavaScript (``window.SNAPSTAMPS_*`` assignments and ``SNAPSTAMPS_CHUNK(...)``
calls) rather than JSON so that browsers load them from ``file://`` without ``fetch``.
Positions are float32 Web-Mercator offsets (m) from the scene centre (mm precision over
100 km); velocities, coherences and displacements float32.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import shutil
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from .. import __version__
from .model import DISPLACEMENT_DESCRIPTION, POINT_COLUMNS, PsiResult, load_result, lonlat_to_mercator, reference_geometry

__all__ = ["export_viewer", "viewer_static_dir", "static_assets_dir", "default_velocity_limits", "DEFAULT_CHUNK"]

DEFAULT_CHUNK = 8192
#: Attributes shipped per point in the chunk files, in this order (the first two float64, the rest float32).
CHUNK_ATTRIBUTES = ["longitude", "latitude"] + [
    c.name for c in POINT_COLUMNS if c.name not in ("pid", "longitude", "latitude")]
ATTRIBUTE_UNITS = {c.name: c.unit for c in POINT_COLUMNS if c.name in CHUNK_ATTRIBUTES}


def static_assets_dir() -> Path:
    """The shipped viewer assets (``index.html``, JS, CSS, ``vendor/``) inside the package."""
    return Path(str(resources.files("snapstamps.viewer") / "static"))


def default_velocity_limits(v: np.ndarray) -> tuple[float, float]:
    """Symmetric colour limits: the 98th percentile of |v| rounded up to 0.5 mm/yr (at least 1)."""
    v = np.asarray(v, dtype=np.float64)
    v = v[np.isfinite(v)]
    if not len(v):
        return -10.0, 10.0
    a = float(np.percentile(np.abs(v), 98))
    a = max(1.0, math.ceil(a * 2) / 2)
    return -a, a


def _b64(*arrays: np.ndarray) -> str:
    return base64.b64encode(b"".join(np.ascontiguousarray(a).tobytes() for a in arrays)).decode("ascii")


def _js_assign(name: str, value: Any) -> str:
    return f"window.{name} = {json.dumps(value, separators=(',', ':'), allow_nan=False)};\n"


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def _copy_assets(out: Path) -> None:
    src = static_assets_dir()
    for item in src.rglob("*"):
        if item.is_file() and "__pycache__" not in item.parts:
            dst = out / item.relative_to(src)
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(item, dst)


def _clean(x: float) -> float | None:
    return float(x) if x is not None and math.isfinite(float(x)) else None


def export_viewer(
    result_dir: str | Path | PsiResult,
    out_dir: str | Path,
    tiles_url: str | None = None,
    tiles_attribution: str | None = None,
    title: str | None = None,
    chunk_size: int = DEFAULT_CHUNK,
) -> Path:
    """Write the static viewer of a psi result into ``out_dir``; return ``out_dir/index.html``.

    ``tiles_url`` (an XYZ template such as ``https://tile.example.org/{z}/{x}/{y}.png``) replaces
    the DEM hillshade background; it is the only thing the viewer would then fetch, and only
    the user's browser fetches it.
    """
    from .hillshade import make_hillshade

    res = result_dir if isinstance(result_dir, PsiResult) else load_result(result_dir)
    out = Path(out_dir)
    data = out / "data"
    ts_dir = data / "ts"
    if ts_dir.exists():
        shutil.rmtree(ts_dir)
    ts_dir.mkdir(parents=True, exist_ok=True)
    _copy_assets(out)

    n = res.n_points
    lon, lat = res.column("longitude"), res.column("latitude")
    x, y = lonlat_to_mercator(lon, lat)
    if n:
        bx0, bx1, by0, by1 = float(np.nanmin(x)), float(np.nanmax(x)), float(np.nanmin(y)), float(np.nanmax(y))
    else:
        bx0 = bx1 = by0 = by1 = 0.0
    ox, oy = 0.5 * (bx0 + bx1), 0.5 * (by0 + by1)
    v = res.column("mean_velocity")
    coh = res.column("temporal_coherence")
    pid = res.table["pid"].to_numpy(dtype=np.int64)
    if n and (pid.max() > 2**31 - 1 or pid.min() < -(2**31)):
        raise ValueError("pid beyond int32")
    pos = np.empty(2 * n, np.float32)
    pos[0::2] = x - ox
    pos[1::2] = y - oy
    points_js = (
        "window.SNAPSTAMPS_POINTS = \""
        + _b64(pos, v.astype(np.float32), np.nan_to_num(coh, nan=0.0).astype(np.float32), pid.astype(np.int32))
        + "\";\n"
    )
    _write(data / "points.js", points_js)

    disp = res.displacements()
    attrs = np.column_stack([res.column(c) for c in CHUNK_ATTRIBUTES]) if n else np.zeros((0, len(CHUNK_ATTRIBUTES)))
    n_chunks = int(math.ceil(n / chunk_size)) if n else 0
    for k in range(n_chunks):
        a, b = k * chunk_size, min(n, (k + 1) * chunk_size)
        payload = _b64(attrs[a:b, :2].astype(np.float64), attrs[a:b, 2:].astype(np.float32),
                       disp[a:b].astype(np.float32))
        _write(ts_dir / f"c{k}.js", f"SNAPSTAMPS_CHUNK({k},\"{payload}\");\n")

    background: dict[str, Any] = {"kind": "none"}
    bg_png = data / "background.png"
    if tiles_url:
        background = {"kind": "tiles", "url": tiles_url, "attribution": tiles_attribution or ""}
        bg_png.unlink(missing_ok=True)
    else:
        hs = make_hillshade(res)
        if hs is not None:
            from matplotlib.image import imsave  # what pyplot.imsave calls; pyplot is not needed

            imsave(bg_png, hs.rgba)
            x0, y0, x1, y1 = hs.bounds
            background = {"kind": "image", "src": "data/background.png",
                          "bounds": [x0 - ox, y0 - oy, x1 - ox, y1 - oy], "attribution": f"Hillshade: {hs.source}"}

    ref = reference_geometry(res)
    if ref.get("kind") == "circle":
        cx, cy = lonlat_to_mercator(np.array([ref["centre_lonlat"][0]]), np.array([ref["centre_lonlat"][1]]))
        k = 1.0 / math.cos(math.radians(ref["centre_lonlat"][1]))  # ground metres -> mercator metres
        ref["merc"] = {"cx": float(cx[0] - ox), "cy": float(cy[0] - oy), "r": ref["radius_m"] * k}
    elif ref.get("kind") == "box":
        bx, byy = lonlat_to_mercator(np.array(ref["lon"]), np.array(ref["lat"]))
        ref["merc"] = {"x0": float(bx[0] - ox), "x1": float(bx[1] - ox), "y0": float(byy[0] - oy), "y1": float(byy[1] - oy)}
    if ref.get("centroid_lonlat"):
        c = ref["centroid_lonlat"]
        mx, my = lonlat_to_mercator(np.array([c[0]]), np.array([c[1]]))
        ref["centroid_merc"] = [float(mx[0] - ox), float(my[0] - oy)]

    vmin, vmax = default_velocity_limits(v)
    stats = {}
    if n and np.isfinite(v).any():
        vf = v[np.isfinite(v)]
        stats = {"mean": float(vf.mean()), "std": float(vf.std()), "min": float(vf.min()), "max": float(vf.max()),
                 "p2": float(np.percentile(vf, 2)), "p98": float(np.percentile(vf, 98))}
    meta = {
        "title": title or f"PSI result {res.path.name}",
        "generator": f"snapstamps {__version__}",
        "product_version": res.product_version,
        "n_points": n,
        "dates": res.dates,
        "master": res.master,
        "origin_merc": [ox, oy],
        "bounds_merc": [bx0 - ox, by0 - oy, bx1 - ox, by1 - oy],
        "chunk_size": chunk_size,
        "n_chunks": n_chunks,
        "attributes": CHUNK_ATTRIBUTES,
        "attribute_units": ATTRIBUTE_UNITS,
        "velocity_limits": [vmin, vmax],
        "velocity_statistics": stats,
        "velocity_label": "mean LOS velocity (mm/yr, positive toward the satellite)",
        "displacement_label": DISPLACEMENT_DESCRIPTION,
        "reference": ref,
        "background": background,
        "counts": res.metadata.get("counts", {}),
        "sensor": res.metadata.get("sensor") or res.stack.get("sensor"),
    }
    _write(data / "meta.js", _js_assign("SNAPSTAMPS_META", meta))
    return out / "index.html"


def _inputs_signature(result_dir: Path) -> str:
    h = hashlib.sha256(__version__.encode())
    for name in ("ps_points.parquet", "ps_points.csv", "psi_metadata.json", "stack.json"):
        p = result_dir / name
        if p.exists():
            st = p.stat()
            h.update(f"{name}:{st.st_size}:{st.st_mtime_ns}".encode())
    for p in sorted(static_assets_dir().rglob("*")):
        if p.is_file():
            h.update(f"{p.name}:{p.stat().st_size}:{p.stat().st_mtime_ns}".encode())
    return h.hexdigest()


def viewer_static_dir(result_dir: str | Path, cache_dir: str | Path | None = None,
                      tiles_url: str | None = None) -> Path:
    """A ready static viewer folder for ``result_dir``, built on first use and when inputs change.

    This is what a server mounts (e.g. Starlette/FastAPI
    ``app.mount("/jobs/{id}/viewer", StaticFiles(directory=viewer_static_dir(d), html=True))``);
    the viewer's link is that mount point's ``index.html``.  Default folder:
    ``RESULT_DIR/viewer``.
    """
    rd = Path(result_dir)
    out = Path(cache_dir) if cache_dir else rd / "viewer"
    sig = _inputs_signature(rd) + (tiles_url or "")
    stamp = out / ".snapstamps-viewer"
    if stamp.exists() and stamp.read_text() == sig and (out / "index.html").exists():
        return out
    export_viewer(rd, out, tiles_url=tiles_url)
    stamp.write_text(sig)
    return out
