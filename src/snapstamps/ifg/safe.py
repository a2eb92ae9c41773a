"""Sentinel-1 IW SLC SAFE reading: products, sub-swath metadata, bursts, burst windows.

Everything is parsed from the annotation XML (product attributes, orbit state vectors, azimuth
FM-rate and data Doppler-centroid records, burst list with valid-sample windows and burst ids,
processing bandwidths, geolocation grid), so an annotation file alone is enough for the
metadata (:func:`read_annotation`); pixels are read with rasterio.  A ``.zip`` product is unpacked (only the manifest,
annotation and the selected measurement) into a cache folder first: xarray-sentinel's zip access
is unreliable.
"""

from __future__ import annotations

import fnmatch
import os
import re
import shutil
import xml.etree.ElementTree as ET
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from ..errors import InputError
from .geocoding import SPEED_OF_LIGHT
from .orbits import StateVectors, to_seconds
from .tops import BurstRamp

__all__ = ["Burst", "Swath", "open_swath", "read_annotation", "annotation_orbit", "annotation_ramp_records", "burst_ramp", "open_date", "assemble_slices", "burst_polygon", "burst_footprint", "group_by_date", "product_info", "resolve_safe", "ProductInfo"]

_NAME_RE = re.compile(r"(S1[ABCD])_(IW|EW|SM|S\d)_(SLC_|GRDH|GRDM|RAW_)_\d\w{3}_(\d{8}T\d{6})_(\d{8}T\d{6})_(\d{6})_([0-9A-F]{6})_([0-9A-F]{4})", re.I)


def _safe_root(path: Path) -> Path:
    p = Path(path)
    if p.name.lower() == "manifest.safe":
        p = p.parent
    return p


def default_cache() -> Path:
    """Where zipped products are unpacked when no cache folder is given: a per-user folder of the
    system's temporary directory (never beside the zip, which may be read-only or shared data)."""
    import tempfile

    uid = os.getuid() if hasattr(os, "getuid") else 0
    return Path(tempfile.gettempdir()) / f"snapstamps-safe-cache-{uid}"


def resolve_safe(product: Path, cache: Path | None = None, members: tuple[str, ...] = ("manifest.safe", "annotation/")) -> Path:
    """A SAFE folder for ``product`` (folder, manifest.safe or .zip unpacked into ``cache``,
    default :func:`default_cache`)."""
    p = _safe_root(Path(product))
    if not p.exists():
        raise InputError(f"{product}: product not found")
    if p.is_dir():
        if not (p / "manifest.safe").is_file():
            raise InputError(f"{p}: not a SAFE folder (no manifest.safe)")
        return p
    if p.suffix.lower() != ".zip":
        raise InputError(f"{p}: not a SAFE folder or .zip")
    try:
        zf = zipfile.ZipFile(p)
    except zipfile.BadZipFile:
        raise InputError(f"{p}: corrupt zip file") from None
    with zf:
        # macOS archive metadata (__MACOSX/, ._*) is not part of the product
        names = [n for n in zf.namelist() if not n.startswith("__MACOSX/") and not n.rsplit("/", 1)[-1].startswith("._")]
        # the .SAFE folder, at the top or below one folder level (some archives wrap it)
        roots = set()
        for n in names:
            parts = n.split("/")
            for depth in range(min(2, len(parts) - 1)):
                if parts[depth].upper().endswith(".SAFE"):
                    roots.add("/".join(parts[: depth + 1]))
                    break
        if len(roots) != 1:
            raise InputError(f"{p}: zip does not hold exactly one .SAFE folder")
        root_path = roots.pop()
        root = root_path.rsplit("/", 1)[-1]
        dest = Path(cache) if cache is not None else default_cache()
        for n in names:
            if not n.startswith(root_path + "/"):
                continue
            rel = n[len(root_path) + 1 :]
            if not rel or n.endswith("/"):
                continue
            if any(rel == m or (m.endswith("/") and rel.startswith(m)) or fnmatch.fnmatch(rel, m) for m in members):
                target = dest / root / rel
                if not target.exists() or target.stat().st_size != zf.getinfo(n).file_size:
                    # a temporary name, then a rename: a concurrent reader never sees half a file
                    target.parent.mkdir(parents=True, exist_ok=True)
                    part = target.with_name(f".{target.name}.{os.getpid()}.part")
                    with zf.open(n) as src, open(part, "wb") as dst:
                        shutil.copyfileobj(src, dst)
                    os.replace(part, target)
        return dest / root


@dataclass(frozen=True)
class ProductInfo:
    """What the product name and manifest say: mission, mode, dates, orbit, pass."""

    path: Path
    name: str
    mission: str
    mode: str
    start: np.datetime64
    stop: np.datetime64
    absolute_orbit: int
    relative_orbit: int
    pass_direction: str
    swaths: tuple[str, ...]
    polarisations: tuple[str, ...]

    @property
    def date(self):
        return self.start.astype("datetime64[D]").item()


def product_info(safe: Path) -> ProductInfo:
    """Product facts from the SAFE name and ``manifest.safe`` (no measurement needed)."""
    safe = _safe_root(safe)
    m = _NAME_RE.search(safe.name)
    if not m:
        raise InputError(f"{safe}: not a Sentinel-1 product name")
    mf = safe / "manifest.safe"
    try:
        text = mf.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        raise InputError(f"{mf}: missing manifest") from None
    def tag(name: str) -> str | None:
        mm = re.search(rf"<[\w:]*{name}[^>]*>([^<]+)<", text)
        return mm.group(1).strip() if mm else None
    try:
        rel = int(tag("relativeOrbitNumber") or -1)
        absn = int(tag("orbitNumber") or -1)
        start = np.datetime64(tag("startTime"), "ns")
        stop = np.datetime64(tag("stopTime"), "ns")
    except (TypeError, ValueError) as exc:
        raise InputError(f"{mf}: cannot read orbit numbers or times ({exc})") from None
    pas = (tag("pass") or "").upper()
    swaths = tuple(sorted(set(s.upper() for s in re.findall(r"<s1sarl1:swath>(\w+)</", text)))) or tuple(
        sorted({n.split("-")[1].upper() for n in re.findall(r"annotation/(s1\w-\w+-slc-\w+-[^\"]+\.xml)", text)})
    )
    pols = tuple(sorted(set(p.upper() for p in re.findall(r"<s1sarl1:transmitterReceiverPolarisation>(\w+)</", text))))
    return ProductInfo(safe, safe.name, m.group(1).upper(), m.group(2).upper(), start, stop, absn, rel, pas, swaths, pols)


@dataclass
class Burst:
    """One burst of a sub-swath (times in s since the swath epoch)."""

    index: int  # 0-based in the product
    burst_id: int  # relative burst id (ESA burst map) or -1
    t0: float  # azimuth time of the first line
    line0: int  # first line in the measurement raster
    n_lines: int
    first_valid_line: int  # within the burst
    last_valid_line: int  # inclusive
    first_valid_sample: int  # max over valid lines
    last_valid_sample: int  # min over valid lines (inclusive)
    ramp: BurstRamp | None = None
    measurement: Path | None = None  # the slice's measurement file (None: the swath's own)

    def time(self, line) -> NDArray[np.float64]:
        """Azimuth time (s since the swath epoch) of burst line(s) ``line``."""
        return self.t0 + np.asarray(line, np.float64) * self._dt

    _dt: float = 0.0


@dataclass
class Swath:
    """Metadata of one sub-swath/polarisation of one product (one slice)."""

    info: ProductInfo
    subswath: str
    polarisation: str
    annotation: Path
    measurement: Path | None
    epoch: np.datetime64  # midnight UTC of the acquisition day
    n_samples: int
    n_lines: int
    lines_per_burst: int
    dt: float  # azimuth time interval
    fs: float  # range sampling rate
    tau0: float  # slant-range time of the first sample
    wavelength: float
    radar_frequency: float
    steering_rate: float  # rad/s
    az_bandwidth: float
    rg_bandwidth: float
    azimuth_pixel_spacing: float
    incidence_mid: float
    orbit: StateVectors
    bursts: list[Burst] = field(default_factory=list)
    gcp: dict | None = None

    @property
    def range_pixel_spacing(self) -> float:
        return SPEED_OF_LIGHT / (2.0 * self.fs)

    def slant_range(self, sample) -> NDArray[np.float64]:
        return SPEED_OF_LIGHT / 2.0 * (self.tau0 + np.asarray(sample, np.float64) / self.fs)

    def tau(self, sample) -> NDArray[np.float64]:
        return self.tau0 + np.asarray(sample, np.float64) / self.fs

    def burst_by_id(self, burst_id: int) -> Burst | None:
        return next((b for b in self.bursts if b.burst_id == burst_id), None)

    def read_burst(self, burst: Burst, lines: tuple[int, int], samples: tuple[int, int]) -> NDArray[np.complex64]:
        """Complex64 window ``[lines) x [samples)`` of a burst (line indices within the burst)."""
        meas = burst.measurement or self.measurement
        if meas is None or not meas.is_file():
            raise InputError(f"{self.info.path}: measurement file of {self.subswath} {self.polarisation} missing")
        import rasterio
        from rasterio.windows import Window

        l0, l1 = lines
        s0, s1 = samples
        try:
            with rasterio.open(meas) as ds:
                win = Window(s0, burst.line0 + l0, s1 - s0, l1 - l0)
                inside = s0 >= 0 and burst.line0 + l0 >= 0 and s1 <= ds.width and burst.line0 + l1 <= ds.height
                # a boundless read goes through a VRT (about 3x slower): only when the window leaves the raster
                a = ds.read(1, window=win) if inside else ds.read(1, window=win, boundless=True, fill_value=0)
        except (rasterio.errors.RasterioIOError, rasterio.errors.RasterioError) as exc:
            raise InputError(f"{meas}: cannot read measurement (corrupt TIFF? {str(exc).splitlines()[0] if str(exc) else type(exc).__name__})") from None
        return a.astype(np.complex64, copy=False)

    def ramp_of(self, burst: Burst) -> BurstRamp:
        """The TOPS ramp of ``burst``."""
        return burst.ramp  # type: ignore[return-value]

    @property
    def slices(self) -> tuple[Path, ...]:
        """The products (slices) this swath was assembled from (one for a single product)."""
        return self._slices or (self.info.path,)

    _slices: tuple[Path, ...] = ()


def _annotation_file(safe: Path, subswath: str, pol: str) -> Path:
    cands = sorted((safe / "annotation").glob(f"s1?-{subswath.lower()}-slc-{pol.lower()}-*.xml"))
    return cands[0] if cands else safe / "annotation" / "missing.xml"


def _ints(text: str | None) -> NDArray[np.int64]:
    return np.array([int(x) for x in (text or "").split()], dtype=np.int64)


_ANNOTATION_FIELDS = {
    # attribute (xarray-sentinel's names and units) -> annotation XML path
    "product_first_line_utc_time": "imageAnnotation/imageInformation/productFirstLineUtcTime",
    "radar_frequency": "generalAnnotation/productInformation/radarFrequency",  # Hz in the XML
    "range_sampling_rate": "generalAnnotation/productInformation/rangeSamplingRate",
    "azimuth_steering_rate": "generalAnnotation/productInformation/azimuthSteeringRate",  # deg/s
    "azimuth_time_interval": "imageAnnotation/imageInformation/azimuthTimeInterval",
    "image_slant_range_time": "imageAnnotation/imageInformation/slantRangeTime",
    "number_of_samples": "imageAnnotation/imageInformation/numberOfSamples",
    "number_of_lines": "imageAnnotation/imageInformation/numberOfLines",
    "azimuth_pixel_spacing": "imageAnnotation/imageInformation/azimuthPixelSpacing",
    "incidence_angle_mid_swath": "imageAnnotation/imageInformation/incidenceAngleMidSwath",
    "lines_per_burst": "swathTiming/linesPerBurst",
}


def _swath_attributes(root: ET.Element, ann: Path) -> dict:
    """Swath attributes from the annotation XML alone (no measurement file needed).

    Units follow xarray-sentinel's attributes: ``radar_frequency`` in GHz, the steering rate
    in deg/s, times in s.
    """
    out: dict = {}
    for key, path in _ANNOTATION_FIELDS.items():
        text = root.findtext(path)
        if text is None:
            if key == "incidence_angle_mid_swath":
                continue
            raise InputError(f"{ann}: annotation has no {path.rsplit('/', 1)[-1]}")
        out[key] = text.strip() if key == "product_first_line_utc_time" else float(text)
    out["radar_frequency"] = out["radar_frequency"] / 1e9
    return out


def _xml_times(root: ET.Element, path: str, tag: str) -> list[np.datetime64]:
    return [np.datetime64(e.findtext(tag).strip(), "ns") for e in root.findall(path)]


def _poly(e: ET.Element, tag: str, legacy: tuple[str, ...]) -> tuple[float, ...]:
    """A polynomial record: ``<tag count=..>c0 c1 ..</tag>``, or the older IPF's ``<c0>``, ``<c1>``... elements."""
    text = e.findtext(tag)
    if text is not None and text.split():
        return tuple(float(x) for x in text.split())
    vals = [e.findtext(k) for k in legacy]
    return tuple(float(v) for v in vals if v is not None)


def annotation_orbit(root: ET.Element, epoch: np.datetime64, ann: Path | str = "annotation") -> StateVectors:
    """The annotation's orbit state vectors (``generalAnnotation/orbitList``), times in s since ``epoch``."""
    orbs = root.findall("generalAnnotation/orbitList/orbit")
    if len(orbs) < 2:
        raise InputError(f"{ann}: fewer than 2 orbit state vectors in the annotation")
    try:
        t = np.array([np.datetime64(o.findtext("time").strip(), "ns") for o in orbs])
        pos = np.array([[float(o.findtext(f"position/{k}")) for k in "xyz"] for o in orbs])
        vel = np.array([[float(o.findtext(f"velocity/{k}")) for k in "xyz"] for o in orbs])
    except (AttributeError, TypeError, ValueError) as exc:
        raise InputError(f"{ann}: malformed orbit state vector ({exc})") from None
    return StateVectors(np.datetime64(epoch, "ns"), to_seconds(t, epoch), pos, vel, "annotation")


def annotation_ramp_records(root: ET.Element, epoch: np.datetime64, ann: Path | str = "annotation") -> dict:
    """Azimuth FM-rate and data Doppler-centroid records: times (s since ``epoch``), ``t0`` and coefficients."""
    out: dict = {}
    for key, path, tag, legacy in (
        ("fm", "generalAnnotation/azimuthFmRateList/azimuthFmRate", "azimuthFmRatePolynomial", ("c0", "c1", "c2")),
        ("dc", "dopplerCentroid/dcEstimateList/dcEstimate", "dataDcPolynomial", ()),
    ):
        recs = root.findall(path)
        if not recs:
            raise InputError(f"{ann}: no {path.rsplit('/', 1)[-1]} records in the annotation")
        try:
            out[key + "_t"] = to_seconds(np.array([np.datetime64(r.findtext("azimuthTime").strip(), "ns") for r in recs]), epoch)
            out[key + "_t0"] = np.array([float(r.findtext("t0")) for r in recs])
            out[key + "_c"] = [_poly(r, tag, legacy) for r in recs]
        except (AttributeError, TypeError, ValueError) as exc:
            raise InputError(f"{ann}: malformed {path.rsplit('/', 1)[-1]} record ({exc})") from None
        if any(len(c) == 0 for c in out[key + "_c"]):
            raise InputError(f"{ann}: empty {tag} in the annotation")
    return out


def burst_ramp(sw: "Swath", t_mid: float, records: dict) -> BurstRamp:
    """The TOPS ramp of the burst whose mid line is at ``t_mid`` (records nearest that time)."""
    v = float(np.linalg.norm(np.asarray(sw.orbit.velocity)[np.argmin(np.abs(sw.orbit.time - t_mid))]))
    k = int(np.argmin(np.abs(records["fm_t"] - t_mid)))
    j = int(np.argmin(np.abs(records["dc_t"] - t_mid)))
    return BurstRamp(
        t_mid=t_mid,
        ks=2.0 * v * sw.steering_rate / sw.wavelength,
        fm_t0=float(records["fm_t0"][k]),
        fm_coeffs=tuple(float(c) for c in records["fm_c"][k]),
        dc_t0=float(records["dc_t0"][j]),
        dc_coeffs=tuple(float(c) for c in records["dc_c"][j]),
        tau_mid=sw.tau0 + (sw.n_samples / 2.0) / sw.fs,
    )


# ESA's burst id map (Sentinel-1 burst ID definition): orbit period 12 days / 175 orbits, burst
# cycle T_beam, preamble T_pre; bursts are counted from the ascending node by the mid-burst time
# of IW2.  Times from a burst's sensing start to that of the next sub-swath's burst (IW1->IW2,
# IW2->IW3) are the nominal IW timing.
_T_ORB = 12 * 86400 / 175
_T_BEAM = 2.758273
_T_PRE = 2.299849
_IW_STEP = (0.832, 1.078)


def _relative_burst_id(root: ET.Element, burst: ET.Element, subswath: str, relative_orbit: int) -> int:
    """ESA relative burst id from the burst's sensing time and the ascending-node time, or -1."""
    anx = root.findtext(".//imageInformation/ascendingNodeTime")
    sensing = burst.findtext("sensingTime")
    if not anx or not sensing or relative_orbit < 1 or not subswath.upper().startswith("IW") or not subswath[-1:].isdigit():
        return -1
    k = int(subswath[-1])
    t = float(to_seconds(np.datetime64(sensing.strip(), "ns"), np.datetime64(anx.strip(), "ns")))
    t_iw1 = t - sum(_IW_STEP[: k - 1])  # sensing start of the IW1 burst of this cycle
    t_mid_iw2 = t_iw1 + _IW_STEP[0] + _IW_STEP[1] / 2.0
    dt_b = t_mid_iw2 + (relative_orbit - 1) * _T_ORB
    return 1 + int(np.floor((dt_b - _T_PRE) / _T_BEAM))


def read_annotation(ann: Path, info: ProductInfo | None = None, measurement: Path | None = None, *, require_bursts: bool = True) -> Swath:
    """One sub-swath from its annotation XML alone (orbit, timing, TOPS ramp records, bursts, GCPs).

    ``info`` defaults to facts parsed from the annotation header (for an annotation file without
    its SAFE).  With ``require_bursts`` an annotation without bursts (e.g. the empty sub-swaths of
    a burst-extracted product) raises :class:`InputError`; otherwise the swath has no bursts.
    """
    ann = Path(ann)
    try:
        root = ET.parse(ann).getroot()
    except FileNotFoundError:
        raise InputError(f"{ann}: annotation file not found") from None
    except ET.ParseError as exc:
        raise InputError(f"{ann}: not a valid annotation XML ({exc})") from None
    a = _swath_attributes(root, ann)
    subswath = (root.findtext("adsHeader/swath") or ann.name.split("-")[1]).strip().upper()
    polarisation = (root.findtext("adsHeader/polarisation") or ann.name.split("-")[3]).strip().upper()
    if info is None:
        start = np.datetime64((root.findtext("adsHeader/startTime") or a["product_first_line_utc_time"]).strip(), "ns")
        stop = np.datetime64((root.findtext("adsHeader/stopTime") or a["product_first_line_utc_time"]).strip(), "ns")
        pas = (root.findtext("generalAnnotation/productInformation/pass") or "").strip().upper()
        info = ProductInfo(ann, ann.name, (root.findtext("adsHeader/missionId") or "S1?").strip().upper(),
                           (root.findtext("adsHeader/mode") or "IW").strip().upper(), start, stop,
                           int(root.findtext("adsHeader/absoluteOrbitNumber") or -1), -1, pas, (subswath,), (polarisation,))
    epoch = np.datetime64(str(np.datetime64(a["product_first_line_utc_time"], "D")), "ns")
    orbit = annotation_orbit(root, epoch, ann)
    az_bw = float(root.findtext(".//azimuthProcessing/processingBandwidth") or 327.0)
    rg_bw = float(root.findtext(".//rangeProcessing/processingBandwidth") or 56.5e6)
    freq = float(a["radar_frequency"]) * 1e9
    sw = Swath(
        info=info,
        subswath=subswath,
        polarisation=polarisation,
        annotation=ann,
        measurement=measurement,
        epoch=epoch,
        n_samples=int(a["number_of_samples"]),
        n_lines=int(a["number_of_lines"]),
        lines_per_burst=int(a["lines_per_burst"]),
        dt=float(a["azimuth_time_interval"]),
        fs=float(a["range_sampling_rate"]),
        tau0=float(a["image_slant_range_time"]),
        wavelength=SPEED_OF_LIGHT / freq,
        radar_frequency=freq,
        steering_rate=np.radians(float(a["azimuth_steering_rate"])),
        az_bandwidth=az_bw,
        rg_bandwidth=rg_bw,
        azimuth_pixel_spacing=float(a["azimuth_pixel_spacing"]),
        incidence_mid=float(a.get("incidence_angle_mid_swath", 35.0)),
        orbit=orbit,
    )
    bursts = root.findall(".//swathTiming/burstList/burst")
    records = annotation_ramp_records(root, epoch, ann) if bursts else {}
    for i, b in enumerate(bursts):
        t0 = float(to_seconds(np.datetime64(b.findtext("azimuthTime"), "ns"), epoch))
        fvs = _ints(b.findtext("firstValidSample"))
        lvs = _ints(b.findtext("lastValidSample"))
        valid = np.nonzero(fvs >= 0)[0]
        if valid.size == 0:
            continue
        bid_text = b.findtext("burstId")
        n = sw.lines_per_burst
        if bid_text and bid_text.strip().lstrip("-").isdigit():
            bid = int(bid_text)
        else:  # IPF before 3.40: no burstId in the annotation, derive ESA's relative burst id from the timing
            bid = _relative_burst_id(root, b, subswath, info.relative_orbit)
        burst = Burst(
            index=i,
            burst_id=bid,
            t0=t0,
            line0=i * n,
            n_lines=n,
            first_valid_line=int(valid[0]),
            last_valid_line=int(valid[-1]),
            first_valid_sample=int(fvs[valid].max()),
            last_valid_sample=int(lvs[valid].min()),
            ramp=burst_ramp(sw, t0 + sw.dt * n / 2.0, records),
        )
        burst._dt = sw.dt
        sw.bursts.append(burst)
    if not sw.bursts and require_bursts:
        raise InputError(f"{ann}: no bursts in the annotation (sub-swath {subswath} is empty in this product)")
    gcp = {}
    pts = root.findall(".//geolocationGrid/geolocationGridPointList/geolocationGridPoint")
    if pts:
        gcp = {
            k: np.array([float(p.findtext(k)) for p in pts])
            for k in ("line", "pixel", "latitude", "longitude", "height", "incidenceAngle")
        }
    sw.gcp = gcp
    return sw


def open_swath(product: Path, subswath: str, polarisation: str, *, need_measurement: bool = False, cache: Path | None = None,
               require_bursts: bool = True) -> Swath:
    """Read one sub-swath of one product.  Raises :class:`InputError` with the product named
    when the sub-swath or polarisation is absent, the annotation is unreadable, or (with
    ``require_bursts``) the sub-swath holds no burst."""
    subswath, polarisation = subswath.upper(), polarisation.upper()
    # annotation and manifest suffice for the metadata; the one measurement file is unpacked from a zip
    # only when the pixels will be read
    members: tuple[str, ...] = ("manifest.safe", "annotation/")
    if need_measurement:
        members += (f"measurement/s1?-{subswath.lower()}-slc-{polarisation.lower()}-*",)
    safe = resolve_safe(Path(product), cache, members)
    info = product_info(safe)
    if info.mode != "IW":
        raise InputError(f"{safe.name}: mode {info.mode}, only IW SLC products are supported")
    ann = _annotation_file(safe, subswath, polarisation)
    if not ann.is_file():
        have = sorted({p.name.split("-")[1].upper() + "/" + p.name.split("-")[3].upper() for p in (safe / "annotation").glob("s1?-*.xml")})
        raise InputError(f"{safe.name}: sub-swath {subswath} polarisation {polarisation} not in the product (has {', '.join(have) or 'none'})")
    mpath = None
    meas = sorted((safe / "measurement").glob(ann.stem + ".tif*"))
    if meas:
        mpath = meas[0]
    elif need_measurement:
        raise InputError(f"{safe.name}: measurement file of {subswath}/{polarisation} missing")
    return read_annotation(ann, info, mpath, require_bursts=require_bursts)


def burst_footprint(sw: Swath, burst: Burst) -> tuple[float, float, float, float]:
    """Approximate lon/lat bounds (W, S, E, N) of a burst's valid area from the annotation GCPs."""
    ring = burst_polygon(sw, burst)
    if ring is None:
        return (-180.0, -90.0, 180.0, 90.0)
    lon, lat = zip(*ring)
    return float(min(lon)), float(min(lat)), float(max(lon)), float(max(lat))


def burst_polygon(sw: Swath, burst: Burst) -> list[tuple[float, float]] | None:
    """Closed lon/lat ring of a burst's valid area (corners of its valid lines and samples).

    The corners are interpolated (linearly in line and pixel) from the annotation's geolocation
    grid at height 0 of the grid; None when the annotation has no grid.
    """
    g = sw.gcp or {}
    if not g or len(g.get("line", ())) < 3:
        return None
    from scipy.interpolate import LinearNDInterpolator, NearestNDInterpolator

    pts = np.column_stack([g["line"], g["pixel"]]).astype(np.float64)
    l0 = burst.line0 + burst.first_valid_line
    l1 = burst.line0 + burst.last_valid_line
    s0, s1 = burst.first_valid_sample, burst.last_valid_sample
    corners = np.array([[l0, s0], [l0, s1], [l1, s1], [l1, s0]], np.float64)
    out = []
    for key in ("longitude", "latitude"):
        v = LinearNDInterpolator(pts, g[key])(corners)
        bad = ~np.isfinite(v)
        if bad.any():  # a corner just outside the grid's hull (last line of the last burst)
            v[bad] = NearestNDInterpolator(pts, g[key])(corners[bad])
        out.append(v)
    ring = [(float(x), float(y)) for x, y in zip(*out)]
    return ring + [ring[0]]


def assemble_slices(slices: list[Swath]) -> Swath:
    """One swath from consecutive slices of one pass and date (SNAP's "Slice Assembly").

    The slices' bursts are concatenated in azimuth-time order, matched by burst id: a burst id
    present in two slices (the overlap of consecutive slices) is taken once, from the earlier
    slice.  Each burst keeps its own measurement file and line offset, so nothing is copied.
    Times are rebased onto the first slice's epoch; the orbit is the union of the slices'
    state vectors.  Raises :class:`InputError` naming the product when the slices are not of one
    track, date, sub-swath and polarisation, or do not join (a burst gap between them).
    """
    import copy

    if len(slices) == 1:
        return slices[0]
    sl = sorted(slices, key=lambda s: np.datetime64(s.info.start, "ns"))
    first = sl[0]
    for s in sl[1:]:
        a, b = first.info, s.info
        if (a.relative_orbit, a.pass_direction, a.mode, a.mission) != (b.relative_orbit, b.pass_direction, b.mode, b.mission):
            raise InputError(f"{b.name}: not a slice of the same pass as {a.name} (track, mode or mission differ)")
        if (s.subswath, s.polarisation, s.n_samples, s.lines_per_burst) != (first.subswath, first.polarisation, first.n_samples, first.lines_per_burst):
            raise InputError(f"{b.name}: {s.subswath} {s.polarisation} has another sample count or burst length than in {a.name}; not a slice of the same pass")
        if abs(s.tau0 - first.tau0) > 1e-12 or abs(s.dt - first.dt) > 1e-9:
            raise InputError(f"{b.name}: slant-range start or line time of {s.subswath} differs from {a.name}; slices of one pass share them")
        gap_s = float((np.datetime64(b.start, "ns") - np.datetime64(a.stop, "ns")).astype(np.int64)) * 1e-9
        if gap_s > 60.0:
            raise InputError(f"{b.name}: starts {gap_s:.0f} s after {a.name} ends; not consecutive slices of one pass")
    out = copy.copy(first)
    out.bursts = []
    seen: set[int] = set()
    pos, vel, tim = [], [], []
    for s in sl:
        shift = float(to_seconds(np.datetime64(s.epoch, "ns"), first.epoch))
        o = s.orbit.rebase(first.epoch)
        tim.append(o.time)
        pos.append(o.position)
        vel.append(o.velocity)
        for b in s.bursts:
            if b.burst_id >= 0 and b.burst_id in seen:
                continue
            nb = copy.copy(b)
            nb.t0 = b.t0 + shift
            nb.measurement = b.measurement or s.measurement
            if b.ramp is not None and shift:
                r = b.ramp
                nb.ramp = BurstRamp(r.t_mid + shift, r.ks, r.fm_t0, r.fm_coeffs, r.dc_t0, r.dc_coeffs, r.tau_mid)
            if b.burst_id >= 0:
                seen.add(b.burst_id)
            out.bursts.append(nb)
    out.bursts.sort(key=lambda b: b.t0)
    for a_, b_ in zip(out.bursts[:-1], out.bursts[1:]):
        if b_.t0 - a_.t0 > 1.5 * a_.n_lines * first.dt:
            raise InputError(f"{first.info.name}: slices leave a gap between bursts {a_.burst_id} and {b_.burst_id}; not consecutive slices")
    for i, b in enumerate(out.bursts):
        b.index = i
    out.orbit = StateVectors(first.epoch, np.concatenate(tim), np.vstack(pos), np.vstack(vel), first.orbit.source)
    out.n_lines = sum(b.n_lines for b in out.bursts)
    out.gcp = _merge_gcps(sl)
    out._slices = tuple(s.info.path for s in sl)
    return out


def _merge_gcps(sl: list[Swath]) -> dict:
    """GCPs of all slices with lines made relative to the first slice's first line (by time)."""
    out: dict[str, list] = {}
    t_first = sl[0].bursts[0].t0
    for s in sl:
        g = s.gcp or {}
        if not g:
            continue
        shift = float(to_seconds(np.datetime64(s.epoch, "ns"), sl[0].epoch))
        dl = int(round((s.bursts[0].t0 + shift - t_first) / sl[0].dt)) - s.bursts[0].line0
        for k, v in g.items():
            out.setdefault(k, []).append(v + dl if k == "line" else v)
    return {k: np.concatenate(v) for k, v in out.items()}


def group_by_date(products: list[Path], cache: Path | None = None) -> list[list[Path]]:
    """Products grouped by acquisition date (slices of one pass), in date order; each group sorted by start."""
    groups: dict[object, list[tuple[np.datetime64, Path]]] = {}
    for p in products:
        info = product_info(resolve_safe(Path(p), cache))
        groups.setdefault(info.date, []).append((np.datetime64(info.start, "ns"), Path(p)))
    return [[p for _, p in sorted(v, key=lambda x: x[0])] for _, v in sorted(groups.items(), key=lambda kv: kv[0])]


def open_date(products: list[Path] | Path, subswath: str, polarisation: str, *, need_measurement: bool = False, cache: Path | None = None,
              require_bursts: bool = True) -> Swath:
    """One sub-swath of one date, from one product or several consecutive slices (assembled).

    Slices whose sub-swath holds no burst (burst-extracted products) are left out; with
    ``require_bursts`` a date without any burst in the sub-swath raises :class:`InputError`.
    """
    ps = [products] if isinstance(products, (str, Path)) else list(products)
    sws = [open_swath(p, subswath, polarisation, need_measurement=need_measurement, cache=cache, require_bursts=False) for p in ps]
    with_bursts = [sw for sw in sws if sw.bursts]
    if not with_bursts:
        if require_bursts:
            names = ", ".join(sw.info.name for sw in sws)
            raise InputError(f"{names}: sub-swath {subswath.upper()} {polarisation.upper()} holds no burst (empty burst list in the annotation)")
        return sws[0]
    return assemble_slices(with_bursts)
