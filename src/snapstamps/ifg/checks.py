"""Checks of an interferogram stack: the ones that need no pixels (before a run), and the accuracy
of an ifg-stack result against the SAFE simulator's truth (tests, demo, benchmark)."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from ..errors import InputError


def preflight(reference, secondaries, subswath: str, polarisation: str = "VV", bbox=None, orbits: Path | None = None,
              cache: Path | None = None) -> dict:
    """The ifg-stack checks that need no pixels, from the annotation (and EOF files) alone.

    Products readable; the sub-swath holds bursts on every date (burst-extracted products: the
    empty sub-swaths are an error naming the product); one track, distinct dates; an orbit (EOF
    file of ``orbits``, else the annotation's) covering every date's bursts; with ``bbox`` the
    AOI inside the reference bursts; the reference's bursts over the AOI present on every date
    (matched by burst id).  Returns a summary (dates, burst ids); raises :class:`InputError`.
    """
    from ..workflows.ifg_stack import _aoi_check, _check_track, _orbit_for
    from .orbits import OrbitInterpolator
    from .overview import aoi_bursts
    from .safe import group_by_date, open_date

    refs = [reference] if isinstance(reference, (str, Path)) else list(reference)
    ref_groups = group_by_date([Path(p) for p in refs], cache)
    if len(ref_groups) != 1:
        raise InputError(f"reference: {len(ref_groups)} dates given; slices of the reference must be of one date")
    sec_groups = group_by_date([Path(p) for p in secondaries], cache)
    if not sec_groups:
        raise InputError("no secondary product")
    ref = open_date(ref_groups[0], subswath, polarisation, cache=cache)
    secs = [open_date(g, subswath, polarisation, cache=cache) for g in sec_groups]
    for s in secs:
        _check_track(ref, s)
    for sw in [ref, *secs]:
        _orbit_for(sw, orbits, lambda _m: None)
    ids = [b.burst_id for b in ref.bursts]
    if bbox is not None:
        _aoi_check(ref, OrbitInterpolator(ref.orbit), SimpleNamespace(bbox=tuple(bbox), subswath=subswath.upper()))
        ids = aoi_bursts({subswath.upper(): ref}, bbox).get(subswath.upper(), [])
        if not ids:
            raise InputError(f"bbox {list(bbox)}: touches no {subswath.upper()} burst of {ref.info.name}")
    for s in secs:
        missing = [i for i in ids if s.burst_by_id(i) is None]
        if missing:
            raise InputError(f"{s.info.name}: bursts {missing} of the reference are missing (no match by burst id)")
    return {
        "reference": ref.info.name,
        "secondaries": [s.info.name for s in secs],
        "subswath": subswath.upper(),
        "burst_ids": ids,
        "dates": [str(ref.info.date)] + [str(s.info.date) for s in secs],
    }



def truth_in_grid(truth: dict, summary: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(index into the truth PS, line, pixel) of every simulated PS inside the exported grid."""
    s0, W = summary["first_sample"], summary["n_samples"]
    idx, li, px = [], [], []
    for sg in summary["deburst"]:
        m = (truth["ps_burst_id"] == sg["burst_id"]) & (truth["ps_burst_line"] >= sg["burst_line0"]) & (truth["ps_burst_line"] < sg["burst_line0"] + sg["n_lines"])
        m &= (truth["ps_sample"] >= s0) & (truth["ps_sample"] < s0 + W)
        ii = np.nonzero(m)[0]
        idx.append(ii)
        li.append(sg["out_line0"] + truth["ps_burst_line"][ii] - sg["burst_line0"])
        px.append(truth["ps_sample"][ii] - s0)
    return np.concatenate(idx), np.concatenate(li).astype(np.int64), np.concatenate(px).astype(np.int64)


def _peak(a: np.ndarray, li, px) -> tuple[np.ndarray, np.ndarray]:
    """Sub-pixel peak of |a|^2 at (li, px) by parabolic fit on both axes."""
    def fit(m1, c, p1):
        den = m1 - 2 * c + p1
        return np.where(np.abs(den) > 0, 0.5 * (m1 - p1) / den, 0.0)
    p = np.abs(a) ** 2
    dy = fit(p[li - 1, px], p[li, px], p[li + 1, px])
    dx = fit(p[li, px - 1], p[li, px], p[li, px + 1])
    return dy, dx


def accuracy(out_dir: Path, sim_dir: Path, isolation: int = 10) -> dict:
    """Phase residuals, coregistration offsets of isolated targets, burst-boundary phase jumps, bperp errors."""
    out_dir, sim_dir = Path(out_dir), Path(sim_dir)
    summary = json.loads((out_dir / "ifg_stack.json").read_text())
    with np.load(sim_dir / "truth.npz") as z:
        truth = {k: z[k] for k in z.files}
    # (the stack is read file by file below)
    idx, li, px = truth_in_grid(truth, summary)
    L, W = summary["n_lines"], summary["n_samples"]
    inner = (li >= 2) & (li < L - 2) & (px >= 2) & (px < W - 2)
    idx, li, px = idx[inner], li[inner], px[inner]
    # isolation: no other PS within `isolation` pixels
    grid = np.zeros((L, W), np.int32)
    np.add.at(grid, (li, px), 1)
    from scipy import ndimage

    cnt = ndimage.uniform_filter(grid.astype(float), size=2 * isolation + 1, mode="constant") * (2 * isolation + 1) ** 2
    iso = np.rint(cnt[li, px]) == 1
    dates = [str(d) for d in truth["dates"]]
    ref_i = int(truth["reference_index"])
    rs = dates[ref_i]
    insar = Path(summary["insar_dir"])
    from ..io.stamps_export import read_par

    par = read_par(insar / "rslc" / f"{rs}.rslc.par")
    shape = (par.length, par.width)
    m = np.fromfile(insar / "rslc" / f"{rs}.rslc", dtype=">c8").reshape(shape)
    dm_y, dm_x = _peak(m, li[iso], px[iso])
    res = {"n_ps_in_grid": int(idx.size), "n_isolated": int(iso.sum()), "pairs": []}
    # burst boundaries in the output grid
    bounds = [sg["out_line0"] for sg in summary["deburst"][1:]]
    for pair in summary["pairs"]:
        sd = pair["date"].replace("-", "")
        k = dates.index(sd)
        diff = np.fromfile(insar / "diff0" / f"{rs}_{sd}.diff", dtype=">c8").reshape(shape)
        s = np.fromfile(insar / "rslc" / f"{sd}.rslc", dtype=">c8").reshape(shape)
        model = truth["ps_phase_model"][idx, k]
        r = np.angle(diff[li, px] * np.exp(-1j * model))
        z_all = np.exp(1j * r)
        c = np.angle(np.mean(z_all))
        ds_y, ds_x = _peak(s, li[iso], px[iso])
        e = {
            "secondary": sd,
            "phase_offset_rad": float(c),
            "phase_rms_rad": float(np.sqrt(np.mean(np.angle(z_all * np.exp(-1j * c)) ** 2))),
            "az_offset_px": float(np.median(ds_y - dm_y)),
            "rg_offset_px": float(np.median(ds_x - dm_x)),
            "esd_shift_lines": pair["esd_shift_lines"],
            "true_relative_timing_error_lines": float((truth["timing_error_s"][k] - truth["timing_error_s"][ref_i]) / (1.0 / par.prf)),
            "bperp_centre_m": pair["bperp_centre_m"],
            "bperp_true_m": float(truth["bperp_scene_centre"][k]),
        }
        jumps = []
        for b in bounds:
            above = (li >= b - 60) & (li < b)
            below = (li >= b) & (li < b + 60)
            if above.sum() > 5 and below.sum() > 5:
                jumps.append(float(np.angle(np.mean(z_all[below]) * np.conj(np.mean(z_all[above])))))
        e["boundary_jumps_rad"] = jumps
        res["pairs"].append(e)
    return res
