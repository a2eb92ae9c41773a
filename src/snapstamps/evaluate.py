"""Accuracy of a psi result against the simulator's ground truth.

Matches PS by pixel (line, pixel), as in the StaMPS reference run: precision and recall
of the PS set, velocity RMSE after removing the constant offset (the reference area makes
velocities relative), and DEM-error RMS.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd


def evaluate(points: pd.DataFrame, truth: dict[str, np.ndarray]) -> dict[str, Any]:
    """Compare a ``ps_points`` table with ``truth.npz`` contents."""
    key_est = points["line"].to_numpy(np.int64) * 1_000_000 + points["pixel"].to_numpy(np.int64)
    key_true = truth["ps_line"].astype(np.int64) * 1_000_000 + truth["ps_pixel"].astype(np.int64)
    common, i_est, i_true = np.intersect1d(key_est, key_true, return_indices=True)
    n_est, n_true = len(key_est), len(key_true)
    tp = len(common)
    res: dict[str, Any] = {
        "n_ps": n_est,
        "n_true_ps": n_true,
        "true_positives": tp,
        "precision": tp / n_est if n_est else 0.0,
        "recall": tp / n_true if n_true else 0.0,
    }
    if tp:
        v_est = points["mean_velocity"].to_numpy()[i_est]
        v_true = truth["ps_velocity_mm_yr"][i_true]
        err = v_est - v_true
        err = err[np.isfinite(err)]
        off = float(np.mean(err))
        res["velocity_offset_mm_yr"] = off
        res["velocity_rmse_mm_yr"] = float(np.sqrt(np.mean((err - off) ** 2)))
        res["velocity_corr"] = float(np.corrcoef(v_est, v_true)[0, 1]) if tp > 2 else float("nan")
        h_est = points["dem_error"].to_numpy()[i_est]
        h_true = truth["ps_dem_error_m"][i_true]
        herr = h_est - h_true
        herr = herr[np.isfinite(herr)]
        res["dem_error_rms_m"] = float(np.sqrt(np.mean(herr**2)))
        res["dem_error_rms_m_after_offset"] = float(np.sqrt(np.mean((herr - herr.mean()) ** 2)))
    return res


def evaluate_dir(psi_dir: Path, sim_dir: Path) -> dict[str, Any]:
    """Compare the psi result in ``psi_dir`` (read by :func:`snapstamps.results.model.load_result`) with the simulator's truth in ``sim_dir``."""
    from .simulate.stamps_stack import load_truth

    from .results.model import load_result

    return evaluate(load_result(psi_dir).table, load_truth(Path(sim_dir)))


def atmosphere_velocity_bound(truth: dict[str, np.ndarray], ref_mask: np.ndarray | None = None) -> float:
    """RMS velocity error (mm/yr) that the simulated atmosphere alone imposes.

    The per-date APS at each PS (relative to the master's, i.e. as it enters the
    interferograms, and referenced to the scene mean) is fitted by a line in time exactly
    as the velocity estimator does; the RMS of those fitted slopes is the error an ideal
    estimator without atmospheric filtering cannot avoid.
    """
    aps = np.asarray(truth["aps_ps_mm"], dtype=np.float64)  # (n_dates, n_ps)
    m = int(truth["master_ix"])
    dates = [str(d) for d in truth["dates"]]
    t = np.array([pd.Timestamp(d).toordinal() for d in dates], dtype=np.float64)
    # interferometric APS in displacement units: aps_slave - aps_master (sign irrelevant for RMS)
    d = aps - aps[m]
    d = d - d.mean(axis=1, keepdims=True) if ref_mask is None else d - d[:, ref_mask].mean(axis=1, keepdims=True)
    cols = [k for k in range(len(t)) if k != m]
    tt = (t[cols] - t[m]) / 365.25
    A = np.column_stack([np.ones_like(tt), tt])
    coef, *_ = np.linalg.lstsq(A, d[cols], rcond=None)
    slopes = coef[1]
    slopes = slopes - slopes.mean()
    return float(np.sqrt(np.mean(slopes**2)))


def impulse_response(x: np.ndarray, frac_bw: float, alpha: float = 0.7) -> np.ndarray:
    """Amplitude response (peak 1) of a generalised-Hamming(``alpha``) spectrum of fractional width ``frac_bw``, ``x`` in samples."""
    u = frac_bw * np.asarray(x, np.float64)
    return (alpha * np.sinc(u) + 0.5 * (1 - alpha) * (np.sinc(u - 1) + np.sinc(u + 1))) / alpha


def evaluate_footprint(
    points: pd.DataFrame,
    ps_line: np.ndarray,
    ps_pixel: np.ndarray,
    ps_velocity_mm_yr: np.ndarray,
    frac_az: float,
    frac_rg: float,
    alpha: float = 0.7,
    floor_db: float = -40.0,
    ps_dem_error_m: np.ndarray | None = None,
) -> dict[str, Any]:
    """Accuracy of PS detected on band-limited SLCs, where one scatterer lights several pixels.

    A simulated PS is a point target seen through the SAR impulse response
    ``h(dy, dx) = h_az(dy) h_rg(dx)`` (generalised Hamming ``alpha``, fractional bandwidths
    ``frac_az``, ``frac_rg``): its main lobe (the pixels before the first nulls: 3 x 3 for
    Sentinel-1 IW) and its sidelobe crosses along range and azimuth carry its stable phase, so
    PSI selects them too.  Each detection is attributed to the true PS whose response at that
    pixel is strongest, if that response is at least ``floor_db`` below the PS's peak; otherwise it
    is a clutter false alarm.  Returned:

    * ``precision``: attributed detections / detections; split into ``exact``, ``main_lobe``
      (including exact) and ``sidelobe`` fractions, and ``clutter_false_alarms`` (count);
    * ``recall``: true PS with a detection in their main lobe / true PS;
    * ``velocity_rmse_mm_yr`` (after removing the mean offset, the reference area makes velocities
      relative): per recalled PS, the detection at its peak pixel, else the main-lobe detection
      nearest the peak; ``velocity_rmse_sidelobe_mm_yr`` for the sidelobe detections (reported only);
    * ``precision_exact_pixel`` / ``recall_exact_pixel``: the strict pixel-identity figures.
    """
    from scipy.spatial import cKDTree

    pl = points["line"].to_numpy(np.int64)
    pp = points["pixel"].to_numpy(np.int64)
    tl = np.asarray(ps_line, np.int64)
    tp = np.asarray(ps_pixel, np.int64)
    n_est, n_true = pl.size, tl.size
    res: dict[str, Any] = {"n_ps": int(n_est), "n_true_ps": int(n_true), "rule": f"impulse-response footprint >= {floor_db:g} dB, main lobe for recall"}
    if n_est == 0 or n_true == 0:
        res.update(precision=0.0, recall=0.0)
        return res
    # main-lobe half widths: last integer offset before the first null of each axis
    def half_width(frac: float) -> int:
        x = np.arange(0, 20, 0.01)
        h = impulse_response(x, frac, alpha)
        return int(np.floor(x[np.argmax(h <= 0)]))

    hw_az, hw_rg = half_width(frac_az), half_width(frac_rg)
    if impulse_response(np.array([hw_az]), frac_az, alpha)[0] <= 1e-3:
        hw_az -= 1
    if impulse_response(np.array([hw_rg]), frac_rg, alpha)[0] <= 1e-3:
        hw_rg -= 1
    radius = 12
    tree = cKDTree(np.column_stack([tl, tp]))
    best_db = np.full(n_est, -np.inf)
    owner = np.full(n_est, -1)
    for j, nb in enumerate(tree.query_ball_point(np.column_stack([pl, pp]), r=radius * 1.5)):
        if not nb:
            continue
        nb = np.asarray(nb)
        dy, dx = pl[j] - tl[nb], pp[j] - tp[nb]
        h = np.abs(impulse_response(dy, frac_az, alpha) * impulse_response(dx, frac_rg, alpha))
        k = int(np.argmax(h))
        best_db[j] = 20 * np.log10(max(h[k], 1e-12))
        owner[j] = nb[k]
    attributed = best_db >= floor_db
    dy = np.where(owner >= 0, pl - tl[owner.clip(0)], 99)
    dx = np.where(owner >= 0, pp - tp[owner.clip(0)], 99)
    exact = attributed & (dy == 0) & (dx == 0)
    main = attributed & (np.abs(dy) <= hw_az) & (np.abs(dx) <= hw_rg)
    side = attributed & ~main
    res.update(
        main_lobe_half_width_px={"azimuth": hw_az, "range": hw_rg},
        precision=float(attributed.mean()),
        precision_exact_pixel=float(exact.mean()),
        fraction_main_lobe=float(main.mean()),
        fraction_sidelobe=float(side.mean()),
        clutter_false_alarms=int((~attributed).sum()),
    )
    # recall: a detection in the main lobe; velocity from the detection nearest the peak
    chosen = np.full(n_true, -1)
    dist = np.full(n_true, np.inf)
    for j in np.flatnonzero(main):
        t = owner[j]
        d = float(dy[j] ** 2 + dx[j] ** 2)
        if d < dist[t]:
            dist[t], chosen[t] = d, j
    rec = chosen >= 0
    res["recall"] = float(rec.mean())
    res["recall_exact_pixel"] = float(np.mean(dist == 0))
    v = points["mean_velocity"].to_numpy(np.float64)
    vt = np.asarray(ps_velocity_mm_yr, np.float64)
    if rec.any():
        err = v[chosen[rec]] - vt[rec]
        off = float(np.nanmean(err))
        res["velocity_offset_mm_yr"] = off
        res["velocity_rmse_mm_yr"] = float(np.sqrt(np.nanmean((err - off) ** 2)))
        res["velocity_corr"] = float(np.corrcoef(v[chosen[rec]], vt[rec])[0, 1]) if rec.sum() > 2 else float("nan")
        if side.any():
            es = v[side] - vt[owner[side]] - off
            res["velocity_rmse_sidelobe_mm_yr"] = float(np.sqrt(np.nanmean(es**2)))
        if ps_dem_error_m is not None and "dem_error" in points:
            he = points["dem_error"].to_numpy(np.float64)[chosen[rec]] - np.asarray(ps_dem_error_m, np.float64)[rec]
            res["dem_error_rms_m"] = float(np.sqrt(np.nanmean(he**2)))
    return res


def noise_velocity_bound(truth: dict[str, np.ndarray]) -> float:
    """RMS velocity error (mm/yr) that the PS's own phase noise imposes on a line fit.

    A point target with signal-to-clutter ratio SCR has a phase noise of about
    ``1/sqrt(2 SCR)`` rad in each SLC.  The master's noise is common to every interferogram of
    the PS (the fit's intercept absorbs it), so each date contributes its own SLC noise; the
    slope of a least-squares line through N dates with that noise has the standard deviation
    ``sigma / sqrt(sum (t - mean t)^2)``.  Returns the RMS over the PS, in mm/yr.
    """
    scr = np.asarray(truth["ps_scr"], dtype=np.float64)
    wavelength = float(truth["wavelength"])
    sigma_mm = (1.0 / np.sqrt(2.0 * scr)) * wavelength * 1000.0 / (4.0 * np.pi)
    t = np.array([pd.Timestamp(str(d)).toordinal() for d in truth["dates"]], dtype=np.float64) / 365.25
    t = np.delete(t, int(truth["master_ix"]))
    spread = float(np.sum((t - t.mean()) ** 2))
    return float(np.sqrt(np.mean(sigma_mm**2 / spread)))


def velocity_error_bound(truth: dict[str, np.ndarray]) -> float:
    """Combined bound (mm/yr): atmosphere and PS phase noise, independent, added in quadrature."""
    return float(np.hypot(atmosphere_velocity_bound(truth), noise_velocity_bound(truth)))
