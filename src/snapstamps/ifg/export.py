"""StaMPS export of a native interferogram stack, in SNAP's StampsExport layout, streamed in blocks.

``INSAR_<ref>/rslc/<date>.rslc`` (+ ``.rslc.par``, every header from the reference, as SNAP),
``diff0/<ref>_<sec>.diff`` (+ ``.diff.par``, ``.base``), ``geo/<ref>.lon``, ``geo/<ref>.lat``,
``geo/<ref>_dem.rdc`` (+ par), ``dem/`` (empty: StaMPS' PS path does not read it).  Big-endian
float32.  ``.base`` as SNAP: the baseline at the centre sample, height 0, on the first and last
line; value = mean, rate = difference / duration; C horizontal, N vertical
(:func:`snapstamps.ifg.geocoding.baseline_components`).

The rasters are written block by block with :func:`snapstamps.io.stamps_export.stream_raster_be`
(:class:`StampsStreamWriter`), so no full-AOI array is needed: the engine appends each block of
output lines as soon as it is computed.  The writer works inside a folder being built (the
temporary of :func:`snapstamps.io.atomic.atomic_dir`): each raster appears under its final name
only when complete, and the whole ``INSAR_<ref>/`` only when the run succeeds.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike

from ..io.atomic import atomic_dir
from ..io.stamps_export import (
    Baseline,
    BigEndianRasterWriter,
    MasterPar,
    stream_raster_be,
    write_base,
    write_par,
    yyyymmdd,
)
from . import geocoding as G

__all__ = ["StampsStreamWriter", "export_stamps", "master_par", "pair_base"]


def pair_base(ref_orbit, sec_orbit, t_first: float, t_last: float, r_centre: float, shift: float) -> tuple[Baseline, float]:
    """SNAP's ``.base`` of one pair and the perpendicular baseline at the centre sample (m)."""
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


def master_par(ref, ref_orbit, width: int, length: int, t_centre: float, lonlat_centre: tuple[float, float], r_first: float) -> MasterPar:
    """The reference header of every ``.par`` (SNAP writes the reference's header for all images).

    ``t_centre``: zero-Doppler time (s of day) of the centre line; ``lonlat_centre``: the
    geocoded centre pixel; ``r_first``: slant range of the first sample (m).
    """
    s_c, v_c = ref_orbit.evaluate(t_centre, 1)
    lon_c, lat_c = lonlat_centre
    return MasterPar(
        path=None,
        width=width,
        length=length,
        heading=G.heading_deg(v_c, lon_c, lat_c),
        radar_frequency=ref.radar_frequency,
        sensor=f"SENTINEL-1{ref.info.mission[-1]}",
        range_pixel_spacing=ref.range_pixel_spacing,
        azimuth_pixel_spacing=ref.azimuth_pixel_spacing,
        near_range_slc=float(r_first),
        center_range_slc=float(r_first),  # SNAP writes the first pixel's range in all three
        sar_to_earth_center=float(np.linalg.norm(s_c)),
        earth_radius_below_sensor=G.earth_radius_at(lat_c),
        prf=1.0 / ref.dt,
    )


#: lines converted to big-endian at a time: bounds the writer's copies of a block (same bytes)
_APPEND_LINES = 32


def _append(w: BigEndianRasterWriter, block: ArrayLike, dtype: type) -> None:
    """Append ``block`` to ``w`` a few lines at a time."""
    a = np.asarray(block, dtype)
    if a.ndim != 2:
        w.append(a)
        return
    for r0 in range(0, max(a.shape[0], 1), _APPEND_LINES):
        w.append(a[r0 : r0 + _APPEND_LINES])


class StampsStreamWriter:
    """Writes ``INSAR_<ref>/`` into ``root`` (a folder being built) block by block.

    ``width`` x ``length`` is the output grid.  :meth:`reference` streams the reference SLC and
    the geometry, :meth:`pair` one secondary's coregistered SLC and interferogram; each raster
    must receive exactly ``length`` lines or its context fails and nothing is left under its
    name.  :meth:`write_base` and :meth:`write_headers` write the small text files.
    """

    def __init__(self, root: Path, ref_date: _dt.date, width: int, length: int) -> None:
        self.root = Path(root)
        self.ref_date = ref_date
        self.rs = yyyymmdd(ref_date)
        self.width = int(width)
        self.length = int(length)
        for d in ("rslc", "diff0", "geo", "dem"):
            (self.root / d).mkdir(parents=True, exist_ok=True)

    @contextmanager
    def reference(self) -> Iterator[Callable[[ArrayLike, ArrayLike, ArrayLike, ArrayLike], None]]:
        """Yield ``put(slc, lon, lat, hgt)`` appending one block of lines to the reference rasters."""
        r, W, L = self.root, self.width, self.length
        with ExitStack() as st:
            w_slc = st.enter_context(stream_raster_be(r / "rslc" / f"{self.rs}.rslc", "complex", W, L))
            w_lon = st.enter_context(stream_raster_be(r / "geo" / f"{self.rs}.lon", "float", W, L))
            w_lat = st.enter_context(stream_raster_be(r / "geo" / f"{self.rs}.lat", "float", W, L))
            w_hgt = st.enter_context(stream_raster_be(r / "geo" / f"{self.rs}_dem.rdc", "float", W, L))

            def put(slc: ArrayLike, lon: ArrayLike, lat: ArrayLike, hgt: ArrayLike) -> None:
                _append(w_slc, slc, np.complex64)
                _append(w_lon, lon, np.float32)
                _append(w_lat, lat, np.float32)
                _append(w_hgt, hgt, np.float32)

            yield put

    @contextmanager
    def pair(self, sec_date: _dt.date) -> Iterator[Callable[[ArrayLike, ArrayLike], None]]:
        """Yield ``put(rslc, diff)`` appending one block of lines to the secondary's rasters."""
        ss = yyyymmdd(sec_date)
        r, W, L = self.root, self.width, self.length
        with ExitStack() as st:
            w_rslc = st.enter_context(stream_raster_be(r / "rslc" / f"{ss}.rslc", "complex", W, L))
            w_diff = st.enter_context(stream_raster_be(r / "diff0" / f"{self.rs}_{ss}.diff", "complex", W, L))

            def put(rslc: ArrayLike, diff: ArrayLike) -> None:
                _append(w_rslc, rslc, np.complex64)
                _append(w_diff, diff, np.complex64)

            yield put

    def write_base(self, sec_date: _dt.date, base: Baseline) -> None:
        """``diff0/<ref>_<sec>.base``."""
        write_base(self.root / "diff0" / f"{self.rs}_{yyyymmdd(sec_date)}.base", base)

    def write_headers(self, par: MasterPar, sec_dates: list[_dt.date], lonlat_centre: tuple[float, float], start_time: float) -> None:
        """Every ``.par``: reference and secondaries' ``.rslc.par``, ``.diff.par``, geo ``.lon/.lat.par``."""
        rd, r = self.ref_date, self.root
        kw = {"center_lonlat": lonlat_centre, "start_time": start_time}
        write_par(r / "rslc" / f"{self.rs}.rslc.par", par, rd, **kw)
        for d in sec_dates:
            ss = yyyymmdd(d)
            write_par(r / "rslc" / f"{ss}.rslc.par", par, rd, **kw)
            write_par(r / "diff0" / f"{self.rs}_{ss}.diff.par", par, rd, **kw)
        for suf in (".lon", ".lat"):
            write_par(r / "geo" / f"{self.rs}{suf}.par", par, rd, image_format="FLOAT", **kw)


def export_stamps(out, ref, secs, sec_orbits, shifts, ref_orbit, m_slc, results, lon, lat, hgt, t_out, r_samples):
    """Write ``out/INSAR_<ref>`` atomically from whole arrays; returns (path, per-pair baseline dicts).

    The in-memory form of the export (``results``: per secondary a dict with ``rslc`` and
    ``diff`` arrays); the engine itself streams with :class:`StampsStreamWriter`.  Same bytes.
    """
    L, W = np.shape(m_slc)
    insar = Path(out) / f"INSAR_{yyyymmdd(ref.info.date)}"
    i_c, j_c = (L - 1) // 2, (W - 1) // 2
    lonlat_c = (float(np.float32(lon[i_c, j_c])), float(np.float32(lat[i_c, j_c])))
    par = master_par(ref, ref_orbit, W, L, float(t_out[i_c]), lonlat_c, float(r_samples[0]))
    bases = []
    with atomic_dir(insar) as tmp:
        wr = StampsStreamWriter(tmp, ref.info.date, W, L)
        with wr.reference() as put:
            put(m_slc, lon, lat, hgt)
        for k, (sec, r) in enumerate(zip(secs, results)):
            with wr.pair(sec.info.date) as put_pair:
                put_pair(r["rslc"], r["diff"])
            b, bperp_c = pair_base(ref_orbit, sec_orbits[k], float(t_out[0]), float(t_out[-1]), float(r_samples[j_c]), shifts[k])
            wr.write_base(sec.info.date, b)
            bases.append({"C": b.C, "N": b.N, "C_rate": b.C_rate, "N_rate": b.N_rate, "bperp_centre_m": bperp_c})
        wr.write_headers(par, [s.info.date for s in secs], lonlat_c, float(t_out[0]))
    return insar, bases
