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
    from .simulate.stamps_stack import load_truth

    points = pd.read_csv(Path(psi_dir) / "ps_points.csv")
    return evaluate(points, load_truth(Path(sim_dir)))


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
