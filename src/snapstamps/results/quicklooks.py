"""Quicklook PNGs of a psi result, as STAC assets (roles ``thumbnail``, ``overview``, ``visual``).

- ``velocity_map.png`` (roles ``overview``, ``visual``): PS coloured by mean LOS velocity on a
  diverging scale (red = away from the satellite, blue = toward), colour bar, reference area,
  over a hillshade of the stack DEM;
- ``velocity_thumbnail.png`` (role ``thumbnail``): the same map, 256 px, no decorations;
- ``baseline_plot.png`` (role ``overview``): perpendicular baseline against time at the scene
  centre, each slave joined to the master, as SNAP's stack overview;
- ``coherence_histogram.png`` (role ``overview``): temporal coherence of the PS.

Only the documented product files are read (:func:`snapstamps.results.model.load_result`).
Plots are drawn on matplotlib's Agg canvas without pyplot; output is deterministic for a given
result.  The hillshade background is made once per result (:func:`.hillshade.make_hillshade`).
"""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import numpy as np

from .assets import Asset
from .model import PsiResult, load_result, reference_geometry, scene_bperp

__all__ = [
    "VELOCITY_CMAP", "velocity_limits", "velocity_map_png", "baseline_plot_png",
    "coherence_histogram_png", "make_quicklooks",
]

#: Diverging colour map of the velocity: low (away from the satellite) red, high (toward) blue.
VELOCITY_CMAP = "RdBu"
VELOCITY_LABEL = "mean LOS velocity (mm/yr, + toward the satellite)"


def _figure(**kw):
    """A matplotlib ``Figure`` on an Agg canvas (pyplot is not imported: no figure manager, no
    global state; the image is what ``pyplot.figure(**kw)`` + ``savefig`` would draw)."""
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    matplotlib.rcParams["svg.hashsalt"] = "snapstamps"
    fig = Figure(**kw)
    FigureCanvasAgg(fig)
    return fig


def _png_meta() -> dict[str, str]:
    # no creation time: identical inputs give identical files
    return {"Software": "snapstamps (matplotlib)"}


def velocity_limits(v: np.ndarray) -> tuple[float, float]:
    """Symmetric colour limits shared with the viewer (98th percentile of |v|, 0.5 mm/yr steps)."""
    from .viewer import default_velocity_limits

    return default_velocity_limits(v)


def _as_result(result: PsiResult | str | Path) -> PsiResult:
    return result if isinstance(result, PsiResult) else load_result(result)


def _draw_map(ax, res: PsiResult, vlim: tuple[float, float], marker_scale: float, decorate: bool):
    """Scatter the PS on ``ax`` in lon/lat with the right aspect; return the scatter artist."""
    from .hillshade import make_hillshade

    lon, lat, v = res.column("longitude"), res.column("latitude"), res.column("mean_velocity")
    ok = np.isfinite(lon) & np.isfinite(lat) & np.isfinite(v)
    lon, lat, v = lon[ok], lat[ok], v[ok]
    lat0 = float(np.mean(lat)) if len(lat) else 0.0
    ax.set_aspect(1.0 / max(math.cos(math.radians(lat0)), 1e-6))
    ax.set_facecolor("#e9e9e6")
    hs = make_hillshade(res, max_px=800)
    if hs is not None:
        x0, y0, x1, y1 = hs.bounds
        r = 6378137.0
        lon0, lon1 = math.degrees(x0 / r), math.degrees(x1 / r)
        la0 = math.degrees(2 * math.atan(math.exp(y0 / r)) - math.pi / 2)
        la1 = math.degrees(2 * math.atan(math.exp(y1 / r)) - math.pi / 2)
        ax.imshow(hs.rgba, extent=(lon0, lon1, la0, la1), origin="upper", interpolation="bilinear", zorder=0)
    order = np.argsort(np.abs(v), kind="stable")  # strongest motion drawn last
    n = max(len(v), 1)
    s = float(np.clip(marker_scale * 6000.0 / n, 0.05, 16.0 * marker_scale))
    sc = ax.scatter(lon[order], lat[order], c=v[order], s=s, cmap=VELOCITY_CMAP, vmin=vlim[0], vmax=vlim[1],
                    linewidths=0, rasterized=True, zorder=2)
    if len(lon):
        pad_x = 0.04 * max(np.ptp(lon), 1e-4)
        pad_y = 0.04 * max(np.ptp(lat), 1e-4)
        ax.set_xlim(lon.min() - pad_x, lon.max() + pad_x)
        ax.set_ylim(lat.min() - pad_y, lat.max() + pad_y)
    if decorate:
        ref = reference_geometry(res)
        if ref.get("kind") == "circle":
            from matplotlib.patches import Ellipse

            c = ref["centre_lonlat"]
            w = 2 * ref["radius_m"] / (111320.0 * math.cos(math.radians(c[1])))
            h = 2 * ref["radius_m"] / 110540.0
            ax.add_patch(Ellipse((c[0], c[1]), w, h, fill=False, ls="--", lw=1.5, ec="k", zorder=3,
                                 label="reference area"))
        elif ref.get("kind") == "box":
            from matplotlib.patches import Rectangle

            ax.add_patch(Rectangle((ref["lon"][0], ref["lat"][0]), ref["lon"][1] - ref["lon"][0],
                                   ref["lat"][1] - ref["lat"][0], fill=False, ls="--", lw=1.5, ec="k", zorder=3,
                                   label="reference area"))
        if ref.get("centroid_lonlat"):
            c = ref["centroid_lonlat"]
            ax.plot([c[0]], [c[1]], marker="^", ms=9, mfc="#ffd400", mec="k", ls="none", zorder=4,
                    label=f"reference PS centroid ({ref.get('n_reference_ps')} PS)"
                    if ref.get("kind") != "all" else f"reference: mean of all {ref.get('n_reference_ps')} PS")
        ax.legend(loc="lower left", fontsize=7, framealpha=0.8)
        ax.set_xlabel("longitude (°)")
        ax.set_ylabel("latitude (°)")
        ax.tick_params(labelsize=7)
    else:
        ax.set_axis_off()
    return sc


def velocity_map_png(result: PsiResult | str | Path, path: str | Path,
                     vlim: tuple[float, float] | None = None, dpi: int = 150) -> Asset:
    """The velocity map with its colour bar (roles ``overview``, ``visual``)."""
    res = _as_result(result)
    v = res.column("mean_velocity")
    vlim = vlim or velocity_limits(v)
    lon, lat = res.column("longitude"), res.column("latitude")
    ratio = 1.0
    if res.n_points and np.isfinite(lon).any():
        ratio = (np.nanmax(lon) - np.nanmin(lon) + 1e-6) * math.cos(math.radians(float(np.nanmean(lat)))) / (
            np.nanmax(lat) - np.nanmin(lat) + 1e-6)
    map_h = 6.5
    map_w = float(np.clip(map_h * ratio, 3.0, 11.0))
    if map_w >= 11.0:
        map_h = float(np.clip(map_w / ratio, 3.0, 6.5))
    fig = _figure(figsize=(map_w + 2.2, map_h + 0.8), dpi=dpi, layout="constrained")
    ax = fig.subplots()
    sc = _draw_map(ax, res, vlim, marker_scale=1.0, decorate=True)
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(4))
    ax.yaxis.set_major_locator(MaxNLocator(6))
    ax.ticklabel_format(useOffset=False, style="plain")
    cb = fig.colorbar(sc, ax=ax, shrink=0.85, extend="both", pad=0.02)
    cb.set_label(VELOCITY_LABEL)
    span = f"{res.dates[0]} – {res.dates[-1]}" if res.dates else ""
    ax.set_title(f"Mean LOS velocity, {res.n_points:,} PS, {len(res.dates)} dates {span}", fontsize=9)
    path = Path(path)
    fig.savefig(path, dpi=dpi, metadata=_png_meta())
    return Asset("velocity_map", path, ["overview", "visual"], "image/png", "Mean LOS velocity map",
                 f"PS coloured by {VELOCITY_LABEL}; colour limits {vlim[0]:g} to {vlim[1]:g} mm/yr",
                 extra={"snapstamps:velocity_limits_mm_yr": [vlim[0], vlim[1]]})


def velocity_thumbnail_png(result: PsiResult | str | Path, path: str | Path,
                           vlim: tuple[float, float] | None = None, size_px: int = 256) -> Asset:
    """A small velocity map without decorations (role ``thumbnail``)."""
    res = _as_result(result)
    vlim = vlim or velocity_limits(res.column("mean_velocity"))
    dpi = 64
    fig = _figure(figsize=(size_px / dpi, size_px / dpi), dpi=dpi)
    ax = fig.add_axes((0, 0, 1, 1))
    _draw_map(ax, res, vlim, marker_scale=0.3, decorate=False)
    path = Path(path)
    fig.savefig(path, dpi=dpi, metadata=_png_meta())
    return Asset("thumbnail", path, ["thumbnail"], "image/png", "Velocity thumbnail")


def baseline_plot_png(result: PsiResult | str | Path, path: str | Path, dpi: int = 150) -> Asset | None:
    """Perpendicular baseline against time, each slave joined to the master (role ``overview``).

    ``None`` when ``stack.json`` has no baselines.
    """
    res = _as_result(result)
    bp = scene_bperp(res)
    dates_iso = res.stack.get("dates") or res.dates
    if bp is None or not dates_iso:
        return None
    import matplotlib.dates as mdates

    dates = [dt.date.fromisoformat(d) for d in dates_iso]
    master = dt.date.fromisoformat(res.stack.get("master") or res.master)
    mi = dates.index(master)
    fig = _figure(figsize=(8.0, 4.2), dpi=dpi, layout="constrained")
    ax = fig.subplots()
    for d, b in zip(dates, bp):
        ax.plot([master, d], [0.0, b], color="#8aa6c1", lw=0.8, zorder=1)
    ax.scatter(dates, bp, s=22, color="#2166ac", zorder=2, label="slave")
    ax.scatter([master], [bp[mi]], s=90, marker="*", color="#b2182b", zorder=3, label=f"master {master.isoformat()}")
    ax.axhline(0.0, color="0.6", lw=0.6, zorder=0)
    ax.set_xlabel("acquisition date")
    ax.set_ylabel("perpendicular baseline (m)")
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(mdates.AutoDateLocator()))
    span = (dates[-1] - dates[0]).days
    ax.set_title(f"Baselines of {len(dates)} images (scene centre): temporal span {span} d, "
                 f"perpendicular {bp.min():.0f} to {bp.max():.0f} m", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    path = Path(path)
    fig.savefig(path, dpi=dpi, metadata=_png_meta())
    return Asset("baseline_plot", path, ["overview"], "image/png", "Baseline plot",
                 "Perpendicular baseline against time at the scene centre, every slave joined to the master "
                 "(SNAP stack overview)",
                 extra={"snapstamps:bperp_m": [round(float(b), 3) for b in bp]})


def coherence_histogram_png(result: PsiResult | str | Path, path: str | Path, dpi: int = 150) -> Asset:
    """Histogram of the temporal coherence of the PS (role ``overview``)."""
    res = _as_result(result)
    c = res.column("temporal_coherence")
    c = c[np.isfinite(c)]
    fig = _figure(figsize=(6.0, 3.8), dpi=dpi, layout="constrained")
    ax = fig.subplots()
    ax.hist(c, bins=np.linspace(0.0, 1.0, 51), color="#4393c3", edgecolor="#2166ac", lw=0.4)
    if len(c):
        med = float(np.median(c))
        ax.axvline(med, color="#b2182b", lw=1.2, label=f"median {med:.3f}")
        ax.legend(fontsize=8, loc="upper left")
    ax.set_xlim(0, 1)
    ax.set_xlabel("temporal coherence")
    ax.set_ylabel("number of PS")
    ax.set_title(f"Temporal coherence of {len(c):,} PS", fontsize=9)
    ax.grid(alpha=0.3)
    path = Path(path)
    fig.savefig(path, dpi=dpi, metadata=_png_meta())
    return Asset("coherence_histogram", path, ["overview"], "image/png", "Temporal-coherence histogram")


def make_quicklooks(result_dir: str | Path | PsiResult, out_dir: str | Path | None = None) -> list[Asset]:
    """Write every quicklook PNG (default: into the result directory); return them as assets."""
    res = _as_result(result_dir)
    out = Path(out_dir) if out_dir else res.path
    out.mkdir(parents=True, exist_ok=True)
    vlim = velocity_limits(res.column("mean_velocity"))
    assets = [
        velocity_map_png(res, out / "velocity_map.png", vlim),
        velocity_thumbnail_png(res, out / "velocity_thumbnail.png", vlim),
    ]
    b = baseline_plot_png(res, out / "baseline_plot.png")
    if b is not None:
        assets.append(b)
    assets.append(coherence_histogram_png(res, out / "coherence_histogram.png"))
    return assets
