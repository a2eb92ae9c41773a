"""The engine's TOPS ramp on real pixels: a real IW3 burst crop (Azores, S1A 2022-09-18).

The local azimuth Doppler centroid is estimated in short azimuth windows from the lag-one
azimuth correlation ``C = sum s[l+1] conj(s[l])`` (``f = arg C / (2 pi dt)``, wrapped to the PRF
``1/dt``).  Before deramping it must follow :func:`snapstamps.ifg.tops.local_doppler` of the ramp
built from the real annotation (sweeping ~1.7 kHz over the crop, several PRFs); after multiplying
by ``exp(-j ramp_phase)`` it must be flat near zero.

Tolerance, from the data: each window is also estimated from its two range halves; the spread of
their difference gives the estimator noise ``sigma_est`` of a whole window (``std(f1 - f2) / 2``,
robust std).  The annotation's ``dataDcRmsError`` (the fit error of the Doppler-centroid
polynomial, ``sigma_dc``) is added in quadrature; a window passes within
``4 sqrt(sigma_est^2 + sigma_dc^2)``.  Only land windows are used (mean power 10 dB or more above
the darkest quarter of windows): the sea in this crop is near the noise floor and has its own
Doppler anomaly (surface motion: +40..+80 Hz measured), which is not the antenna's.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

import numpy as np
from real_data import real_dir

WL, WC = 32, 100  # azimuth lines x range samples per window


def _windows(x: np.ndarray, dt: float, c0: int = 0, nc: int = WC, model: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(Doppler Hz, window power) per WL x nc window of the lag-one azimuth correlation.

    With ``model`` (Hz per lag-one pair), the Doppler the model predicts for each window: the
    lag-one correlation of a signal at the model frequency, weighted like the data (``|C|``).
    """
    c = x[1:] * np.conj(x[:-1])
    if model is not None:
        c = np.abs(c) * np.exp(2j * np.pi * model * dt)
    L = (c.shape[0] // WL) * WL
    C = (c.shape[1] // WC) * WC
    cc = c[:L, :C].reshape(L // WL, WL, C // WC, WC)[..., c0 : c0 + nc].sum(axis=(1, 3))
    pw = (np.abs(x[:-1]) ** 2)[:L, :C].reshape(L // WL, WL, C // WC, WC).mean(axis=(1, 3))
    return np.angle(cc) / (2 * np.pi * dt), pw


def test_deramp_flattens_the_real_doppler_centroid() -> None:
    import rasterio

    from snapstamps.ifg.safe import read_annotation
    from snapstamps.ifg.tops import local_doppler, ramp_phase

    d = real_dir("sarprocessing-azores")
    ann = next(d.glob("s1a-iw3-slc-vv-*.xml"))
    sw = read_annotation(ann)
    assert len(sw.bursts) == 9
    b = sw.bursts[6]  # the crop: rows 9800-10400, columns 11000-12400, inside burst 6 (lines 9084-10597)
    assert b.line0 == 9084
    with rasterio.Env(), rasterio.open(next(d.glob("*.tiff"))) as ds:
        a = ds.read(1).astype(np.complex64)
    row0, col0 = 9800, 11000
    rows = row0 + np.arange(a.shape[0])
    cols = col0 + np.arange(a.shape[1])
    t = b.time(rows - b.line0)[:, None]
    tau = sw.tau(cols)[None, :]
    prf = 1.0 / sw.dt
    f_before, pw = _windows(a, sw.dt)
    deramped = a * np.exp(-1j * ramp_phase(b.ramp, t, tau)).astype(np.complex64)
    f_after, _ = _windows(deramped, sw.dt)
    # the model: local_doppler between lines l and l+1 of every pixel, averaged over each window as
    # the estimator averages (weighted by |C|: the Doppler sweeps ~100 Hz along a window, and the
    # power varies along it at the coast)
    f_pix = local_doppler(b.ramp, b.time(rows[:-1] + 0.5 - b.line0)[:, None], tau)
    f_model, _ = _windows(a, sw.dt, model=f_pix)
    lc = row0 + np.arange(f_before.shape[0]) * WL + WL / 2 + 0.5
    cc = col0 + np.arange(f_before.shape[1]) * WC + WC / 2
    f_centre = local_doppler(b.ramp, b.time(lc - b.line0)[:, None], sw.tau(cc)[None, :])
    assert np.ptp(f_centre) > 2 * prf, "the crop should sweep several PRFs"

    land = 10 * np.log10(pw) >= 10 * np.log10(np.quantile(pw, 0.25)) + 10.0
    assert land.sum() >= 50, "too few land windows in the crop"

    # estimator noise from the two range halves of each window (after deramp)
    h1, _ = _windows(deramped, sw.dt, 0, WC // 2)
    h2, _ = _windows(deramped, sw.dt, WC // 2, WC // 2)
    diff = (h1 - h2)[land]
    sigma_est = 1.4826 * np.median(np.abs(diff - np.median(diff))) / 2.0
    root = ET.parse(ann).getroot()
    rms = [float(e.text) for e in root.iter("dataDcRmsError")]
    sigma_dc = float(np.median(rms))
    tol = 4.0 * np.hypot(sigma_est, sigma_dc)
    assert 0.5 < sigma_est < 20.0 and 0.0 < sigma_dc < 20.0

    wrap = lambda f: (f + prf / 2) % prf - prf / 2  # noqa: E731
    before_res = wrap(f_before - f_model)[land]
    after = f_after[land]
    print(f"Doppler on {land.sum()} land windows: before - local_doppler: mean {before_res.mean():.2f} Hz, rms "
          f"{np.sqrt(np.mean(before_res**2)):.2f}, max {np.abs(before_res).max():.2f}; after deramp: mean {after.mean():.2f}, "
          f"rms {np.sqrt(np.mean(after**2)):.2f}, max {np.abs(after).max():.2f}; raw before spread (std) "
          f"{f_before[land].std():.1f} Hz; sigma_est {sigma_est:.2f} Hz, sigma_dc {sigma_dc:.2f} Hz, tol {tol:.2f} Hz")
    # before: follows the local Doppler of the ramp (wrapped to the PRF), far from flat
    assert np.abs(before_res).max() < tol
    assert np.mean(np.abs(f_before[land]) > tol) > 0.5, "before deramping most windows should be far from zero Doppler"
    # after: flat near zero
    assert np.abs(after).max() < tol
    assert abs(after.mean()) < np.hypot(sigma_est / np.sqrt(land.sum()) * 4, sigma_dc)

    # the check has teeth: a ramp with the wrong sign of the steering rate leaves the data far from flat
    from dataclasses import replace

    wrong = replace(b.ramp, ks=-b.ramp.ks)
    f_wrong, _ = _windows(a * np.exp(-1j * ramp_phase(wrong, t, tau)).astype(np.complex64), sw.dt)
    assert np.mean(np.abs(f_wrong[land]) > tol) > 0.5
