"""Stack overview from annotation and manifest alone: acquisitions, track, common bursts, baselines.

``bperp`` is evaluated for every sub-swath at its mid-range sample, at the time of the middle of
its common bursts, at height 0, with the sign of :func:`snapstamps.ifg.geocoding.baseline_components`
(``(S_secondary - S_reference) . e_perp``, ``e_perp`` perpendicular to the reference line of sight and
pointing away from the Earth; the convention StaMPS' ``.base`` files and the psi engine use).
``btemp_days`` = secondary date - reference date.  The suggested reference maximises the stack's
modelled coherence ``sum_k (1 - |B_k| / B_crit) exp(-|T_k| / T_c)`` (SNAP's InSAR optimal-master
criterion, with ``B_crit = 5 km`` and ``T_c = 1 year``), i.e. it minimises the total baseline.

Sub-swaths whose burst list is empty (burst-extracted products) are skipped and reported
(``skipped_subswaths``); a product without any burst is an error.  ``footprints`` is a GeoJSON
FeatureCollection of the reference's burst polygons (valid lines and samples, corners interpolated
in the annotation's geolocation grid); with an AOI, ``aoi`` lists the sub-swaths and burst ids
whose polygons intersect it (:func:`aoi_bursts`, :func:`subswaths_for_aoi`,
:func:`subswath_covering_aoi` for an engine of one sub-swath).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import InputError
from . import geocoding as G
from .orbits import OrbitInterpolator
from .safe import Swath, burst_polygon, group_by_date, open_date, product_info, resolve_safe

B_CRIT_M = 5000.0
T_C_DAYS = 365.0


@dataclass
class Acquisition:
    """One acquisition date: its product (or consecutive slices, assembled) and sub-swaths.

    ``skipped`` names the sub-swaths left out and why (e.g. the empty sub-swaths of a
    burst-extracted product).
    """

    product: Path
    name: str
    date: str
    swaths: dict[str, Swath]
    slices: tuple[str, ...] = ()
    skipped: dict[str, str] = field(default_factory=dict)


def _check_same_track(acqs: list[Acquisition]) -> None:
    a0 = next(iter(acqs[0].swaths.values())).info
    for a in acqs[1:]:
        i = next(iter(a.swaths.values())).info
        if i.relative_orbit != a0.relative_orbit or i.pass_direction != a0.pass_direction:
            raise InputError(
                f"{a.name}: relative orbit {i.relative_orbit} {i.pass_direction} differs from "
                f"{acqs[0].name} (relative orbit {a0.relative_orbit} {a0.pass_direction}); a stack needs one track"
            )
        if i.mode != a0.mode:
            raise InputError(f"{a.name}: mode {i.mode} differs from {a0.mode}")


def read_acquisitions(products: list[Path], polarisation: str | None = None, cache: Path | None = None) -> list[Acquisition]:
    """Acquisitions of ``products``, one per date: consecutive slices of a date are assembled.

    Sub-swaths without bursts are skipped (and listed in ``Acquisition.skipped``); a product
    with no burst in any sub-swath raises :class:`InputError`.
    """
    acqs = []
    for group in group_by_date([Path(p) for p in products], cache):
        safes = [resolve_safe(Path(p), cache) for p in group]
        info = product_info(safes[0])
        anns = sorted((safes[0] / "annotation").glob("s1?-iw?-slc-*.xml"))
        pols = sorted({a.name.split("-")[3].upper() for a in anns})
        if not anns:
            raise InputError(f"{safes[0].name}: no IW SLC annotation files")
        pol = polarisation or ("VV" if "VV" in pols else pols[0])
        swaths: dict[str, Swath] = {}
        skipped: dict[str, str] = {}
        subs = sorted({a.name.split("-")[1].upper() for a in anns if a.name.split("-")[3].upper() == pol})
        if not subs:
            raise InputError(f"{safes[0].name}: polarisation {pol} not in the product")
        for sub in subs:
            sw = open_date(group, sub, pol, cache=cache, require_bursts=False)
            if sw.bursts:
                swaths[sub] = sw
            else:
                skipped[sub] = "empty burst list in the annotation"
        if not swaths:
            raise InputError(f"{safes[0].name}: no usable burst: every sub-swath ({', '.join(subs)}) has an empty burst list")
        acqs.append(Acquisition(Path(group[0]), safes[0].name, str(info.date), swaths, tuple(s.name for s in safes), skipped))
    _check_same_track(acqs)
    return acqs


def common_bursts(acqs: list[Acquisition], sub: str) -> list[int]:
    ids = None
    for a in acqs:
        if sub not in a.swaths:
            return []
        s = {b.burst_id for b in a.swaths[sub].bursts}
        ids = s if ids is None else ids & s
    return sorted(ids or [])


def pair_baseline(ref: Swath, sec: Swath, burst_ids: list[int] | None = None) -> tuple[float, float]:
    """(bperp, bpar) in m of ``sec`` against ``ref`` at mid-range, middle of the (common) bursts, height 0."""
    bs = [b for b in ref.bursts if not burst_ids or b.burst_id in burst_ids] or ref.bursts
    t_c = 0.5 * (bs[0].t0 + bs[-1].t0 + bs[-1].n_lines * ref.dt)
    r_c = float(ref.slant_range(ref.n_samples / 2.0))
    oref = OrbitInterpolator(ref.orbit)
    osec = OrbitInterpolator(sec.orbit.rebase(ref.epoch))
    p = G.rdr2geo(t_c, r_c, 0.0, oref)
    t_guess = t_c + float((np.datetime64(sec.info.start, "ns") - np.datetime64(ref.info.start, "ns")).astype(np.int64)) * 1e-9
    ts, _ = G.geo2rdr(p, osec, t_guess)
    bp, bpa, _, _ = G.baseline_components(oref.position(t_c), osec.position(ts), p)
    return float(bp), float(bpa)


def stack_overview(products: list[Path], reference: Path | None = None, polarisation: str | None = None, cache: Path | None = None,
                   aoi: tuple[float, float, float, float] | None = None) -> dict:
    """The overview dict (see the module docstring); JSON-ready.

    Adds ``skipped_subswaths`` (per product, sub-swaths left out and why), ``footprints`` (a
    GeoJSON FeatureCollection of the reference's burst polygons) and, with ``aoi`` (W, S, E, N),
    ``aoi`` with the sub-swaths and burst ids the area touches.
    """
    acqs = read_acquisitions(products, polarisation, cache)
    if len(acqs) < 2:
        raise InputError("stack-overview needs at least two products")
    subs = sorted(set.intersection(*(set(a.swaths) for a in acqs)))
    if not subs:
        raise InputError("the products share no sub-swath")
    sub0 = subs[len(subs) // 2]
    # baselines of every acquisition against every candidate (mid sub-swath) for the suggestion
    n = len(acqs)
    B = np.zeros((n, n))
    ids0 = common_bursts(acqs, sub0)
    for i in range(n):
        for j in range(n):
            if i != j:
                B[i, j] = pair_baseline(acqs[i].swaths[sub0], acqs[j].swaths[sub0], ids0)[0]
    days = np.array([np.datetime64(a.date, "D").astype(np.int64) for a in acqs], np.float64)
    T = days[None, :] - days[:, None]
    coh = np.clip(1 - np.abs(B) / B_CRIT_M, 0, None) * np.exp(-np.abs(T) / T_C_DAYS)
    score = coh.sum(axis=1)
    best = int(np.argmax(score))
    if reference is not None:
        rn = resolve_safe(Path(reference), cache).name
        hits = [i for i, a in enumerate(acqs) if rn in (a.slices or (a.name,))]
        if not hits:
            raise InputError(f"{reference}: the reference is not among the products")
        ref_i = hits[0]
    else:
        ref_i = best
    pairs = []
    for j, a in enumerate(acqs):
        if j == ref_i:
            continue
        for sub in subs:
            ids = common_bursts([acqs[ref_i], a], sub)
            bp, bpa = pair_baseline(acqs[ref_i].swaths[sub], a.swaths[sub], ids)
            pairs.append({
                "reference": acqs[ref_i].name,
                "secondary": a.name,
                "subswath": sub,
                "bperp_m": round(bp, 3),
                "bpar_m": round(bpa, 3),
                "btemp_days": int(days[j] - days[ref_i]),
                "common_bursts": len(ids),
            })
    info0 = next(iter(acqs[0].swaths.values())).info
    ref_acq = acqs[ref_i]
    extra: dict = {
        "skipped_subswaths": {a.name: a.skipped for a in acqs if a.skipped},
        "footprints": burst_features(ref_acq.swaths, ref_acq.name),
    }
    if aoi is not None:
        extra["aoi"] = {"bbox": list(aoi), "subswaths": aoi_bursts(ref_acq.swaths, aoi)}
    return {
        "reference": acqs[ref_i].name,
        "suggested_reference": acqs[best].name,
        "track": {"relative_orbit": info0.relative_orbit, "pass": info0.pass_direction, "mission_mode": info0.mode},
        "acquisitions": [
            {"product": a.name, "slices": list(a.slices or (a.name,)), "date": a.date, "subswaths": {s: [b.burst_id for b in sw.bursts] for s, sw in a.swaths.items()}} for a in acqs
        ],
        "common_bursts": {s: common_bursts(acqs, s) for s in subs},
        "pairs": pairs,
        "sign_convention": "bperp_m = (S_secondary - S_reference) . e_perp, e_perp perpendicular to the reference LOS pointing away from the Earth; btemp_days = secondary - reference",
        **extra,
    }


def burst_features(swaths: dict[str, Swath], product: str = "") -> dict:
    """GeoJSON FeatureCollection (EPSG:4326) of the bursts' valid-area polygons of ``swaths``."""
    feats = []
    for sub, sw in sorted(swaths.items()):
        for b in sw.bursts:
            ring = burst_polygon(sw, b)
            if ring is None:
                continue
            feats.append({
                "type": "Feature",
                "geometry": {"type": "Polygon", "coordinates": [[list(p) for p in ring]]},
                "properties": {"product": product, "subswath": sub, "burst_id": b.burst_id, "burst_index": b.index},
            })
    return {"type": "FeatureCollection", "features": feats}


def check_aoi(aoi) -> tuple[float, float, float, float]:
    """``aoi`` as (W, S, E, N) floats in lon/lat degrees, or :class:`InputError`."""
    try:
        w, s_, e, n = (float(x) for x in aoi)
    except (TypeError, ValueError):
        raise InputError(f"aoi {aoi!r}: expected four numbers W S E N (lon/lat degrees)") from None
    if not (np.isfinite([w, s_, e, n]).all() and -180 <= w < e <= 180 and -90 <= s_ < n <= 90):
        raise InputError(f"aoi {aoi!r}: must be W S E N in lon/lat degrees with W < E and S < N")
    return w, s_, e, n


def aoi_bursts(swaths: dict[str, Swath], aoi) -> dict[str, list[int]]:
    """Burst ids per sub-swath whose valid-area polygon intersects the AOI box (sub-swaths touched only)."""
    from shapely.geometry import Polygon, box

    w, s_, e, n = check_aoi(aoi)
    area = box(w, s_, e, n)
    out: dict[str, list[int]] = {}
    for sub, sw in sorted(swaths.items()):
        ids = []
        for b in sw.bursts:
            ring = burst_polygon(sw, b)
            if ring is not None and Polygon(ring).intersects(area):
                ids.append(b.burst_id)
        if ids:
            out[sub] = ids
    return out


def subswaths_for_aoi(products: list[Path], aoi, polarisation: str | None = None, cache: Path | None = None) -> list[str]:
    """The sub-swaths of the first product (date) whose bursts cover part of the AOI; :class:`InputError` if none."""
    acq = read_acquisitions(list(products)[:1], polarisation, cache)[0]
    hit = aoi_bursts(acq.swaths, aoi)
    if not hit:
        raise InputError(f"aoi {list(aoi)}: touches no burst of {acq.name} (sub-swaths {', '.join(acq.swaths)})")
    return sorted(hit)


def subswath_covering_aoi(products: list[Path], aoi, polarisation: str | None = None, cache: Path | None = None) -> str:
    """The one sub-swath for an engine that processes one: the only one the AOI touches, or the one
    whose bursts contain the whole AOI; :class:`InputError` naming the candidates otherwise."""
    from shapely.geometry import Polygon, box
    from shapely.ops import unary_union

    acq = read_acquisitions(list(products)[:1], polarisation, cache)[0]
    hit = aoi_bursts(acq.swaths, aoi)
    if not hit:
        raise InputError(f"aoi {list(aoi)}: touches no burst of {acq.name} (sub-swaths {', '.join(acq.swaths)})")
    if len(hit) == 1:
        return next(iter(hit))
    area = box(*check_aoi(aoi))
    full = [sub for sub in hit
            if unary_union([Polygon(burst_polygon(acq.swaths[sub], b)) for b in acq.swaths[sub].bursts if b.burst_id in hit[sub]]).contains(area)]
    if len(full) >= 1:
        return full[0]
    raise InputError(f"aoi {list(aoi)}: spans sub-swaths {', '.join(sorted(hit))} of {acq.name} and none covers it whole; "
                     "the native engine processes one sub-swath: give --subswath, or use the snap backend (merges sub-swaths)")
