"""Native geometry against SNAP on a real pair (Amsterdam, S1A IW3, 2023-03-31 reference, 2023-03-19 secondary).

SNAP's output after TOPSAR-Split, precise orbits, back-geocoding (SRTM 3"), deburst and subset
(84 x 338 at x=9178, y=912): per-pixel latitude/longitude/elevation (float32), SNAP's h2ph, both
dates' orbits (1 s state vectors) and the product metadata.  The native engine's orbit
interpolator, ``geo2rdr``, ``rdr2geo`` and ``baseline_components`` are checked against them.

SNAP's azimuth timing: the subset's Abstracted_Metadata ``first_line_time`` is NOT the time of
its first line.  The pixels' positions put line ``i`` at ``productFirstLineUtcTime +
(subset_offset_y + i) * line_time_interval`` (the debursted product's first line time from
the original annotation carried in the metadata); ``first_line_time`` is 1.19 lines (2.44 ms)
later than that (measured here), so geo2rdr against ``first_line_time`` lands 1.19 lines early.

SNAP's BandMaths step (in the product's Processing_Graph) stored the secondary as
``slv * exp(j (fep + topo))`` and ``h2ph = topo / elevation / (4 pi / lambda)``; the folded range
ramp is measured from the shift of the stored secondary's range-spectrum envelope against the
reference's (the envelope: the smoothed mean power spectrum, Hamming window and empty band edge).

Tolerances: the lat/lon/height are float32, whose rounding (half a unit in the last place,
propagated through geo2rdr per pixel) bounds how well any pixel can land: about 0.015 line and
0.015 sample here; a residual may reach twice that bound (three rounded coordinates plus SNAP's
interpolation of DEM-post geometry to pixels).
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from real_data import read_zarr_v2, real_dir, snap_metadata, snap_orbit, snap_value

EPOCH = np.datetime64("2023-03-31", "ns")


@pytest.fixture(scope="module")
def pair() -> dict:
    from snapstamps.ifg import geocoding as G
    from snapstamps.ifg.orbits import OrbitInterpolator, to_seconds

    d = real_dir("sarxarray-amsterdam")
    z19, z31 = d / "20230319-coreg.znap", d / "20230331-coreg.znap"
    am, sec = snap_metadata(z19)
    assert sec is not None
    f = lambda z, n: read_zarr_v2(z / n).astype(np.float64)  # noqa: E731
    text = (z19 / "SNAP" / "product_metadata.json").read_text()
    first = re.search(r'"productFirstLineUtcTime".*?"elems"\s*:\s*"([^"]+)"', text, re.S).group(1)
    dt = float(snap_value(am, "line_time_interval"))
    t_first = float(to_seconds(np.datetime64(first, "ns"), EPOCH))
    out = {
        "G": G,
        "lat": f(z31, "latitude_VV"), "lon": f(z31, "longitude_VV"), "hgt": f(z31, "elevation_VV"),
        "h2ph": f(z19, "h2ph_VV_19Mar2023"),
        "om": OrbitInterpolator(snap_orbit(am, EPOCH)), "os": OrbitInterpolator(snap_orbit(sec, EPOCH)),
        "dt": dt, "t0": t_first + int(snap_value(am, "subset_offset_y")) * dt,
        "t_abstracted": float(to_seconds(snap_value(am, "first_line_time"), EPOCH)),
        "R0": float(snap_value(am, "slant_range_to_first_pixel")), "dr": float(snap_value(am, "range_spacing")),
        "wavelength": G.SPEED_OF_LIGHT / (float(snap_value(am, "radar_frequency")) * 1e6),
        "sec_shift": float(to_seconds(snap_value(sec, "first_line_time"), EPOCH)) - t_first,
        "snap_bperp": None,
        "am": am,
    }
    bl = re.search(r'"Secondary_19Mar2023".*?"Perp Baseline".*?"elems"\s*:\s*\[\s*([-0-9.eE]+)', text, re.S)
    out["snap_bperp"] = float(bl.group(1))
    L, W = out["lat"].shape
    out["T"] = out["t0"] + np.arange(L)[:, None] * dt + np.zeros((1, W))
    out["R"] = out["R0"] + np.arange(W)[None, :] * out["dr"] + np.zeros((L, 1))
    return out


def _land(p: dict, lon, lat, hgt) -> tuple[np.ndarray, np.ndarray]:
    G = p["G"]
    t, r = G.geo2rdr(G.geodetic_to_ecef(lon, lat, hgt), p["om"], p["T"])
    return (t - p["t0"]) / p["dt"], (r - p["R0"]) / p["dr"]


def test_geo2rdr_puts_each_pixel_on_its_grid_position(pair: dict) -> None:
    p = pair
    L, W = p["lat"].shape
    line, sample = _land(p, p["lon"], p["lat"], p["hgt"])
    az = line - np.arange(L)[:, None]
    rg = sample - np.arange(W)[None, :]
    # float32 rounding bound, per pixel, propagated through geo2rdr
    half_ulp = lambda x: np.spacing(np.abs(x).astype(np.float32)).astype(np.float64) / 2  # noqa: E731
    b_az = np.zeros_like(az)
    b_rg = np.zeros_like(rg)
    for dlon, dlat, dh in ((half_ulp(p["lon"]), 0, 0), (0, half_ulp(p["lat"]), 0), (0, 0, half_ulp(p["hgt"]))):
        l1, s1 = _land(p, p["lon"] + dlon, p["lat"] + dlat, p["hgt"] + dh)
        b_az += np.abs(l1 - line)
        b_rg += np.abs(s1 - sample)
    offset_abstracted = (p["t_abstracted"] - p["t0"]) / p["dt"]
    print(f"geo2rdr residuals: azimuth mean {az.mean():+.4f} std {az.std():.4f} max|.| {np.abs(az).max():.4f} lines; "
          f"range mean {rg.mean():+.4f} std {rg.std():.4f} max|.| {np.abs(rg).max():.4f} samples; float32 bound "
          f"{b_az.max():.4f} lines, {b_rg.max():.4f} samples; SNAP first_line_time is {offset_abstracted:+.3f} lines after line 0")
    assert np.abs(az).max() < 2 * b_az.max()
    assert np.abs(rg).max() < 2 * b_rg.max()
    # SNAP's abstracted first_line_time convention: about a line later than the pixels' own timing
    assert 1.0 < offset_abstracted < 1.4


def test_topographic_phase_equals_snap_h2ph_times_height(pair: dict) -> None:
    p = pair
    G = p["G"]
    P = G.geodetic_to_ecef(p["lon"], p["lat"], p["hgt"])
    _, rm = G.geo2rdr(P, p["om"], p["T"])
    _, rs = G.geo2rdr(P, p["os"], p["T"] + p["sec_shift"])
    P0 = G.rdr2geo(p["T"], p["R"], np.zeros_like(p["T"]), p["om"])
    _, rs0 = G.geo2rdr(P0, p["os"], p["T"] + p["sec_shift"])
    k = 4 * np.pi / p["wavelength"]
    # range difference of the pixel's point minus that of the ellipsoid point at the same (t, R)
    topo_native = k * ((rs - rm) - (rs0 - p["R"]))
    topo_snap = k * p["h2ph"] * p["hgt"]
    d = topo_native - topo_snap
    d -= d.mean()
    # native h2ph (d delta-R / dh at the pixel) against SNAP's
    P1 = G.rdr2geo(p["T"], p["R"], np.full_like(p["T"], 100.0), p["om"])
    _, rs1 = G.geo2rdr(P1, p["os"], p["T"] + p["sec_shift"])
    h2ph_native = (rs1 - rs0) / 100.0
    ratio = p["h2ph"] / h2ph_native
    print(f"topographic phase native - SNAP (constant removed): std {d.std():.5f} rad, max|.| {np.abs(d).max():.5f} rad; "
          f"topographic phase span {np.ptp(topo_native):.3f} rad; h2ph native {h2ph_native.mean():.4e}, SNAP {p['h2ph'].mean():.4e}, "
          f"SNAP/native {ratio.mean():.4f} +- {ratio.std():.4f}")
    # 0.01 rad: 30x below the phase noise of a 5x5-look pixel at the pair's coherence 0.75 (~0.3 rad)
    assert np.abs(d).max() < 0.01
    # SNAP's h2ph is 2.3 % smaller, and the difference is exactly h / (h + c): SNAP divided its
    # topographic phase by an elevation c higher than its elevation band (1/ratio - 1 = a + c / h)
    assert np.all(np.sign(ratio) > 0)
    A = np.column_stack([np.ones(ratio.size), 1.0 / p["hgt"].ravel()])
    (a, c), *_ = np.linalg.lstsq(A, 1.0 / ratio.ravel() - 1.0, rcond=None)
    resid = 1.0 / ratio.ravel() - 1.0 - A @ np.array([a, c])
    print(f"h2ph: SNAP = native x h / (h + c) with c = {c:.3f} m (scale term a = {a:+.5f}, fit residual {resid.std():.1e})")
    assert abs(a) < 1e-3 and resid.std() < 1e-4 and 0 < c < 5.0


def test_perpendicular_baseline_against_snap(pair: dict) -> None:
    p = pair
    G = p["G"]
    L, W = p["lat"].shape
    om, os_ = p["om"], p["os"]

    def bperp(t, r):
        P = G.rdr2geo(t, r, 0.0, om)
        ts, _ = G.geo2rdr(P, os_, t + p["sec_shift"])
        return float(G.baseline_components(om.position(t), os_.position(ts), P)[0])

    b_crop = bperp(p["T"][L // 2, W // 2], p["R"][L // 2, W // 2])
    # SNAP stores one Bperp for the product, evaluated away from this 84 x 338 crop; over the burst
    # the native bperp varies with range and time: SNAP's value must be one the geometry takes there
    am = p["am"]
    clat, clon = float(snap_value(am, "centre_lat")), float(snap_value(am, "centre_lon"))
    Pc = G.geodetic_to_ecef(clon, clat, 0.0)
    tc, rc = G.geo2rdr(Pc, om, p["T"][L // 2, W // 2])
    b_centre = bperp(float(tc), float(rc))
    lo, hi = min(b_crop, b_centre), max(b_crop, b_centre)
    print(f"bperp native at the crop centre {b_crop:.3f} m, at SNAP's scene centre {b_centre:.3f} m; SNAP stored {p['snap_bperp']:.3f} m "
          f"(difference at the crop {p['snap_bperp'] - b_crop:+.3f} m)")
    assert lo - 0.05 <= p["snap_bperp"] <= hi + 0.05
    assert abs(p["snap_bperp"] - b_crop) / abs(b_crop) < 0.02


def _envelope(x: np.ndarray, pad: int = 8, smooth: int = 12) -> np.ndarray:
    """Mean range power spectrum, smoothed over ``smooth`` bins: the band envelope (Hamming window
    and the empty 12 % of the band), without the scene's speckle structure."""
    from scipy.ndimage import uniform_filter1d

    p = (np.abs(np.fft.fft(x, n=x.shape[1] * pad, axis=1)) ** 2).mean(axis=0)
    return uniform_filter1d(p, smooth * pad, mode="wrap")


def _shift(a: np.ndarray, b: np.ndarray) -> float:
    """Circular shift of envelope ``b`` relative to ``a`` in rad/sample (log-spectra cross-correlation, parabolic peak)."""
    n = a.size
    la, lb = np.log(a) - np.log(a).mean(), np.log(b) - np.log(b).mean()
    xc = np.fft.ifft(np.fft.fft(lb) * np.conj(np.fft.fft(la))).real
    k = int(np.argmax(xc))
    y0, y1, y2 = xc[k - 1], xc[k], xc[(k + 1) % n]
    kk = k + 0.5 * (y0 - y2) / (y0 - 2 * y1 + y2)
    kk = kk - n if kk > n / 2 else kk
    return float(2 * np.pi * kk / n)


def test_flat_earth_ramp_equals_the_one_snap_folded_in(pair: dict) -> None:
    """SNAP's BandMaths stored ``slv * exp(j (fep + topo))``: the folded range ramp shifts the stored
    secondary's spectral envelope against the reference's by its rate (rad/sample); it must be the
    native flat-earth + topographic phase rate, and removing the native phase must re-align the
    envelopes.  Noise: the scatter of the estimate over 6 azimuth blocks (standard error of the mean);
    3 standard errors allowed."""
    p = pair
    G = p["G"]
    d = real_dir("sarxarray-amsterdam")
    f = lambda z, n: read_zarr_v2(d / z / n).astype(np.float64)  # noqa: E731
    m = f("20230331-coreg.znap", "i_VV_31Mar2023") + 1j * f("20230331-coreg.znap", "q_VV_31Mar2023")
    s = f("20230319-coreg.znap", "i_VV_19Mar2023") + 1j * f("20230319-coreg.znap", "q_VV_19Mar2023")
    P = G.geodetic_to_ecef(p["lon"], p["lat"], p["hgt"])
    _, rm = G.geo2rdr(P, p["om"], p["T"])
    _, rs = G.geo2rdr(P, p["os"], p["T"] + p["sec_shift"])
    phase = 4 * np.pi / p["wavelength"] * (rs - rm)  # native geometric phase of ref x conj(sec): flat earth + topography
    phase -= phase.mean()
    native_rate = float(np.mean(np.diff(phase, axis=1)))
    snap_rate = _shift(_envelope(m), _envelope(s))
    after = _shift(_envelope(m), _envelope(s * np.exp(-1j * phase)))
    blocks = np.array_split(np.arange(m.shape[0]), 6)
    per_block = [_shift(_envelope(m[b]), _envelope(s[b])) for b in blocks]
    se = float(np.std(per_block, ddof=1) / np.sqrt(len(blocks)))
    ifg = m * np.conj(s)
    u = ifg / np.maximum(np.abs(ifg), 1e-30)
    F = np.abs(np.fft.fft2(u, s=(u.shape[0] * 8, u.shape[1] * 8)))
    ky, kx = np.unravel_index(np.argmax(F), F.shape)
    fringe_rg = float(np.fft.fftfreq(F.shape[1])[kx] * 2 * np.pi)
    print(f"flat-earth range ramp: SNAP folded {snap_rate:+.5f} rad/sample, native {native_rate:+.5f} "
          f"(difference {snap_rate - native_rate:+.5f}, {np.ptp(np.arange(m.shape[1]) * (snap_rate - native_rate)):.3f} rad across the crop); "
          f"standard error {se:.5f}; after removing the native phase {after:+.5f}; SNAP-flattened interferogram fringe "
          f"{fringe_rg:+.5f} rad/sample (native fringes across the crop: {abs(native_rate) * m.shape[1] / (2 * np.pi):.2f})")
    assert abs(native_rate) > 3 * se  # the ramp is measurable here
    assert abs(snap_rate - native_rate) < 3 * se
    assert abs(after) < 3 * se
    # and SNAP's folded phase leaves the interferogram without range fringes (peak within one padded bin of 0)
    assert abs(fringe_rg) <= 2 * np.pi / F.shape[1]
