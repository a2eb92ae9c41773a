"""Network inversion of unwrapped interferograms (snapstamps.sbas.network): synthetic truth and the
real Mexico City small-baseline network (Sentinel-1 T005A, GAMMA, 13 dates, 30 interferograms)."""

from __future__ import annotations

import numpy as np
from real_data import real_dir

from snapstamps.sbas.network import connected, design_matrix, invert_network, triplet_closure, triplets


def _network(n_dates: int = 8) -> list[tuple[int, int]]:
    return [(i, j) for i in range(n_dates) for j in range(i + 1, min(i + 3, n_dates))]


def test_synthetic_inversion_recovers_the_series_and_closure_flags_unwrapping_errors() -> None:
    rng = np.random.default_rng(3)
    n, pairs = 8, _network(8)
    truth = np.cumsum(rng.normal(0, 1.0, (n, 40)), axis=0)
    truth -= truth[0]
    sigma = 0.05
    d = np.stack([truth[j] - truth[i] for i, j in pairs]) + rng.normal(0, sigma, (len(pairs), 40))
    ts, rms = invert_network(unw=d, pairs=pairs, n_dates=n)
    # least-squares error of each date: sqrt of the diagonal of sigma^2 (A^T A)^-1
    A = design_matrix(pairs=pairs, n_dates=n)
    se = sigma * np.sqrt(np.diag(np.linalg.inv(A.T @ A)))
    assert np.all(np.abs(ts[1:] - truth[1:]) < 5 * se[:, None])
    assert np.all(ts[0] == 0) and np.all(rms < 3 * sigma)
    t, c = triplet_closure(unw=d, pairs=pairs)
    assert len(t) == len(triplets(pairs=pairs)) == n - 2
    assert np.all(np.abs(c) < 5 * np.sqrt(3) * sigma)
    # a 2 pi unwrapping error in one interferogram shows in every triplet holding it
    bad = 4
    d2 = d.copy()
    d2[bad, :10] += 2 * np.pi
    _, c2 = triplet_closure(unw=d2, pairs=pairs)
    holding = [k for k, tr in enumerate(t) if bad in tr]
    assert holding and np.all(np.abs(np.abs(c2[holding][:, :10]) - 2 * np.pi) < 0.5)
    # a pixel missing interferograms so that the network splits: no made-up answer
    d3 = d.copy()
    cut = [k for k, (i, j) in enumerate(pairs) if i < 4 <= j]
    d3[cut, 0] = np.nan
    ts3, _ = invert_network(unw=d3, pairs=pairs, n_dates=n)
    assert np.isnan(ts3[:, 0]).all() and np.isfinite(ts3[:, 1:]).all()
    assert not connected(pairs=[pairs[k] for k in range(len(pairs)) if k not in cut], n_dates=n)


def _read_mexico():
    import rasterio

    d = real_dir("pyrate-mexico-city") / "geotiffs"
    unw, coh, pd = [], [], []
    for f in sorted(d.glob("cropA_*_VV_8rlks_eqa_unw.tif")):
        with rasterio.open(f) as ds:
            a = ds.read(1).astype(np.float64)
            tags = ds.tags()
            if ds.nodata is not None:
                a[a == ds.nodata] = np.nan  # GAMMA/PyRate: 0 is no data
            assert tags["DATA_UNITS"] == "RADIANS"
            wavelength = float(tags["WAVELENGTH_METRES"])
        with rasterio.open(f.with_name(f.name.replace("_eqa_unw", "_flat_eqa_cc"))) as ds:
            coh.append(ds.read(1).astype(np.float64))
        unw.append(a)
        pd.append((tags["FIRST_DATE"], tags["SECOND_DATE"]))
    dates = sorted({x for p in pd for x in p})
    pairs = [(dates.index(a), dates.index(b)) for a, b in pd]
    return np.array(unw), np.array(coh), dates, pairs, wavelength


def test_mexico_city_network_closes_and_inverts() -> None:
    from scipy.ndimage import uniform_filter

    unw, coh, dates, pairs, wavelength = _read_mexico()
    assert len(pairs) == 30 and len(dates) == 13 and connected(pairs=pairs, n_dates=len(dates))
    # each interferogram was unwrapped from its own origin: reference all to one 5 x 5 window,
    # the most coherent one valid in every interferogram
    cm = np.where(np.isfinite(unw).all(axis=0), np.nanmean(coh, axis=0), 0.0)
    w = uniform_filter(cm, 5)
    w[:2], w[-2:], w[:, :2], w[:, -2:] = 0, 0, 0, 0
    i, j = np.unravel_index(np.argmax(w), w.shape)
    unw = unw - np.nanmean(unw[:, i - 2 : i + 3, j - 2 : j + 3], axis=(1, 2))[:, None, None]
    # closure noise predicted from the coherence: Cramer-Rao phase std of an L-look interferogram,
    # L = 8 range x 2 azimuth looks (the GAMMA multilook parameter files), summed over the loop
    L = 16
    g = np.clip(np.where(coh > 0, coh, np.nan), 1e-3, 0.999)
    sig = np.sqrt((1 - g**2) / (2 * L * g**2))
    t, c = triplet_closure(unw=unw, pairs=pairs)
    assert len(t) == 24
    s_c = np.stack([np.sqrt(sig[a] ** 2 + sig[b] ** 2 + sig[k] ** 2) for a, b, k in t])
    ok = np.isfinite(c) & np.isfinite(s_c)
    ac = np.abs(c[ok])
    print(f"Mexico City closure over {len(t)} triplets: median |c| {np.median(ac):.3f} rad, 90th percentile "
          f"{np.percentile(ac, 90):.3f}, |c| > pi {100 * np.mean(ac > np.pi):.3f} %; predicted closure std (coherence, "
          f"{L} looks) median {np.median(s_c[ok]):.3f} rad")
    # the median closure is within the noise predicted from the coherence (Gaussian: median |c| =
    # 0.67 sigma), and unwrapping errors (|c| > pi) are rare
    assert np.median(ac) < 0.674 * np.median(s_c[ok])
    assert np.mean(ac > np.pi) < 0.01
    ts, rms = invert_network(unw=unw, pairs=pairs, n_dates=len(dates))
    good = np.isfinite(rms)
    assert good.mean() > 0.95
    print(f"inversion misfit rms: median {np.median(rms[good]):.3f} rad")
    assert np.median(rms[good]) < np.median(sig[np.isfinite(sig)]) * np.sqrt(3)
    # the series is the deformation: Mexico City subsides by centimetres per month; the linear
    # rate over the 6 months reaches tens of cm/yr somewhere in the crop
    years = (np.array(dates, dtype="datetime64[D]") - np.datetime64(dates[0], "D")).astype(float) / 365.25
    x = years - years.mean()
    rate = np.tensordot(x, np.nan_to_num(ts), axes=(0, 0)) / np.sum(x**2)  # rad/yr
    mm_yr = rate * wavelength / (4 * np.pi) * 1e3
    print(f"linear rate: 1st/99th percentile {np.nanpercentile(mm_yr[good], 1):.0f} / {np.nanpercentile(mm_yr[good], 99):.0f} mm/yr (LOS, sign as in the files)")
    assert np.nanmax(np.abs(mm_yr[good])) > 100.0
