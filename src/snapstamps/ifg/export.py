"""StaMPS export of a native interferogram stack, in SNAP's StampsExport layout.

``INSAR_<ref>/rslc/<date>.rslc`` (+ ``.rslc.par``, every header from the reference, as SNAP),
``diff0/<ref>_<sec>.diff`` (+ ``.diff.par``, ``.base``), ``geo/<ref>.lon``, ``geo/<ref>.lat``,
``geo/<ref>_dem.rdc`` (+ par), ``dem/`` (empty: StaMPS' PS path does not read it).  Big-endian
float32, written with :mod:`snapstamps.io.stamps_export`.  ``.base`` as SNAP: the baseline at the
centre sample, height 0, on the first and last line; value = mean, rate = difference / duration;
C horizontal, N vertical (:func:`snapstamps.ifg.geocoding.baseline_components`).
"""

from __future__ import annotations

import numpy as np

from ..io.atomic import atomic_dir
from ..io.stamps_export import Baseline, MasterPar, write_base, write_cfloat32_be, write_float32_be, write_par, yyyymmdd
from . import geocoding as G


def pair_base(ref_orbit, sec_orbit, t_first: float, t_last: float, r_centre: float, shift: float) -> tuple[Baseline, float]:
    vals = []
    for t in (t_first, t_last):
        p = G.rdr2geo(t, r_centre, 0.0, ref_orbit)
        ts, _ = G.geo2rdr(p, sec_orbit, t + shift)
        bp, _, c, n = G.baseline_components(ref_orbit.position(t), sec_orbit.position(ts), p)
        vals.append((float(c), float(n), float(bp)))
    dur = t_last - t_first if t_last > t_first else 1.0
    C = 0.5 * (vals[0][0] + vals[1][0])
    N = 0.5 * (vals[0][1] + vals[1][1])
    return Baseline(C=C, N=N, C_rate=(vals[1][0] - vals[0][0]) / dur, N_rate=(vals[1][1] - vals[0][1]) / dur), 0.5 * (vals[0][2] + vals[1][2])


def export_stamps(out, ref, secs, sec_orbits, shifts, ref_orbit, m_slc, results, lon, lat, hgt, t_out, r_samples):
    """Write ``out/INSAR_<ref>`` atomically; returns (path, per-pair baseline dicts)."""
    L, W = m_slc.shape
    rd = ref.info.date
    rs = yyyymmdd(rd)
    insar = out / f"INSAR_{rs}"
    i_c, j_c = (L - 1) // 2, (W - 1) // 2
    t_c = float(t_out[i_c])
    s_c, v_c = ref_orbit.evaluate(t_c, 1)
    lon_c, lat_c = float(lon[i_c, j_c]), float(lat[i_c, j_c])
    par = MasterPar(
        path=None,
        width=W,
        length=L,
        heading=G.heading_deg(v_c, lon_c, lat_c),
        radar_frequency=ref.radar_frequency,
        sensor=f"SENTINEL-1{ref.info.mission[-1]}",
        range_pixel_spacing=ref.range_pixel_spacing,
        azimuth_pixel_spacing=ref.azimuth_pixel_spacing,
        near_range_slc=float(r_samples[0]),
        center_range_slc=float(r_samples[0]),  # SNAP writes the first pixel's range in all three
        sar_to_earth_center=float(np.linalg.norm(s_c)),
        earth_radius_below_sensor=G.earth_radius_at(lat_c),
        prf=1.0 / ref.dt,
    )
    start_tod = float(t_out[0])  # seconds of day (epoch = midnight)
    bases = []
    with atomic_dir(insar) as tmp:
        for d in ("rslc", "diff0", "geo", "dem"):
            (tmp / d).mkdir()
        kw = dict(center_lonlat=(lon_c, lat_c), start_time=start_tod)
        write_par(tmp / "rslc" / f"{rs}.rslc.par", par, rd, **kw)
        write_cfloat32_be(tmp / "rslc" / f"{rs}.rslc", m_slc)
        for k, (sec, r) in enumerate(zip(secs, results)):
            ss = yyyymmdd(sec.info.date)
            write_cfloat32_be(tmp / "rslc" / f"{ss}.rslc", r["rslc"])
            write_par(tmp / "rslc" / f"{ss}.rslc.par", par, rd, **kw)
            write_cfloat32_be(tmp / "diff0" / f"{rs}_{ss}.diff", r["diff"])
            write_par(tmp / "diff0" / f"{rs}_{ss}.diff.par", par, rd, **kw)
            b, bperp_c = pair_base(ref_orbit, sec_orbits[k], float(t_out[0]), float(t_out[-1]), float(r_samples[j_c]), shifts[k])
            write_base(tmp / "diff0" / f"{rs}_{ss}.base", b)
            bases.append({"C": b.C, "N": b.N, "C_rate": b.C_rate, "N_rate": b.N_rate, "bperp_centre_m": bperp_c})
        write_float32_be(tmp / "geo" / f"{rs}.lon", lon.astype(np.float32))
        write_float32_be(tmp / "geo" / f"{rs}.lat", lat.astype(np.float32))
        write_float32_be(tmp / "geo" / f"{rs}_dem.rdc", hgt.astype(np.float32))
        for suf in (".lon", ".lat"):
            write_par(tmp / "geo" / f"{rs}{suf}.par", par, rd, image_format="FLOAT", **kw)
    return insar, bases
