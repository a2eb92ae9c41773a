"""A synthetic Sentinel-1 IW SLC base product and DEM, generated in code, for the SAFE simulator.

:func:`snapstamps.simulate.safe_stack.simulate_safe_stack` edits a *base* product (annotation,
manifest, calibration) into a stack.  Where the real Rome sample of ``shared/data/s1-samples``
is absent (a clone of the repository alone), :func:`synthetic_base` writes a stand-in with the
parameters typical of IW1 (nothing is copied from a real product):

* orbit: a circular sun-synchronous-like orbit (693 km altitude, 98.18° inclination, ascending),
  its state vectors every 10 s in the Earth-fixed frame (Earth rotation included);
* timing: 9 bursts of 1501 lines, line interval 2.0555563 ms, burst cycle 1342 lines (2.7586 s), valid
  lines 20..1481 of each burst, consecutive burst ids;
* range: 3200 samples at 64.345238 MHz from a slant-range time of 5.3365 ms (about 800 km);
  C band 5.405 GHz; azimuth steering rate 1.590368784 °/s; processing bandwidths 327 Hz and
  56.5 MHz;
* azimuth FM rate from the orbit (``-2 V^2 / (lambda R)`` and its range derivative), a small
  Doppler centroid, a geolocation grid computed with this package's own zero-Doppler geocoding;
* no measurement file (the simulator writes its own; the manifest names it);
* a 1" DEM (360 x 360, EGM96 heights, EPSG:9707) of smooth synthetic hills.

Everything is deterministic; the files are built once into a cache folder and reused.
"""

from __future__ import annotations

import math
import os
import tempfile
from pathlib import Path

import numpy as np

from ..io.atomic import atomic_dir

__all__ = ["synthetic_base", "SYNTHETIC_VERSION"]

#: Bumped whenever the generated files change (the cache folder is named after it).
SYNTHETIC_VERSION = "3"

GM = 3.986004418e14
OMEGA_E = 7.2921151467e-5
ALTITUDE_M = 693_000.0
INCLINATION_DEG = 98.18
RADAR_FREQUENCY = 5.405000454334350e09
RANGE_SAMPLING_RATE = 6.434523812571428e07
AZIMUTH_TIME_INTERVAL = 2.055556299999998e-03
SLANT_RANGE_TIME = 5.3365e-03
STEERING_RATE_DEG = 1.590368784
LINES_PER_BURST = 1501
BURST_CYCLE_LINES = 1342  # bursts start a whole number of lines apart, as in IW products
BURST_CYCLE_S = BURST_CYCLE_LINES * AZIMUTH_TIME_INTERVAL
N_BURSTS = 9
N_SAMPLES = 3200
FIRST_VALID_LINE, LAST_VALID_LINE = 20, 1480
FIRST_VALID_SAMPLE = 60
PRODUCT_START = np.datetime64("2021-06-03T17:05:58.250000", "ns")
ABSOLUTE_ORBIT = 38_000
DATATAKE_ID = 0x04A1B2
FIRST_BURST_ID = 250_100
SCENE_LATITUDE_DEG = 41.0
SCENE_LONGITUDE_DEG = 12.0
#: Data Doppler centroid polynomial (Hz, in slant-range time - t0), a typical IW1 record.
DATA_DC = (5.0, 3.0e4, -4.0e7)


def _cache_root() -> Path:
    root = os.environ.get("SNAPSTAMPS_CACHE") or os.environ.get("XDG_CACHE_HOME")
    base = Path(root) if root else Path(tempfile.gettempdir())
    return base / f"snapstamps-synthetic-s1-v{SYNTHETIC_VERSION}"


def _iso(t: np.datetime64) -> str:
    return str(np.datetime64(t, "us"))


def _compact(t: np.datetime64) -> str:
    return str(np.datetime64(t, "s")).replace("-", "").replace(":", "")


class _Orbit:
    """Circular orbit in an inertial frame, seen in the Earth-fixed frame; times in s from ``t_c``."""

    def __init__(self) -> None:
        self.a = 6378137.0 + ALTITUDE_M
        self.n = math.sqrt(GM / self.a**3)
        self.inc = math.radians(INCLINATION_DEG)
        # argument of latitude at t = 0 puts the satellite over the scene latitude, ascending
        self.u0 = math.asin(math.sin(math.radians(SCENE_LATITUDE_DEG)) / math.sin(self.inc))
        # node longitude chosen so that the satellite passes west of the scene (right-looking)
        x = math.cos(self.u0)
        y = math.sin(self.u0) * math.cos(self.inc)
        self.lon0 = math.radians(SCENE_LONGITUDE_DEG - 4.5) - math.atan2(y, x)

    def state(self, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        t = np.asarray(t, np.float64)
        u = self.u0 + self.n * t
        ci, si = math.cos(self.inc), math.sin(self.inc)
        r_in = self.a * np.stack([np.cos(u), np.sin(u) * ci, np.sin(u) * si], axis=-1)
        v_in = self.a * self.n * np.stack([-np.sin(u), np.cos(u) * ci, np.cos(u) * si], axis=-1)
        th = self.lon0 - OMEGA_E * t
        c, s = np.cos(th), np.sin(th)

        def rot(v: np.ndarray) -> np.ndarray:
            return np.stack([c * v[..., 0] - s * v[..., 1], s * v[..., 0] + c * v[..., 1], v[..., 2]], axis=-1)

        r = rot(r_in)
        v = rot(v_in) - np.cross(np.array([0.0, 0.0, OMEGA_E]), r)
        return r, v


def _write_dem(path: Path) -> None:
    import rasterio
    from rasterio.crs import CRS
    from rasterio.transform import Affine

    n = 360
    step = 1.0 / 3600.0
    yy, xx = np.mgrid[0:n, 0:n] / (n - 1.0)
    z = (60.0 + 90.0 * np.exp(-((xx - 0.35) ** 2 + (yy - 0.4) ** 2) / 0.03)
         + 45.0 * np.exp(-((xx - 0.75) ** 2 + (yy - 0.7) ** 2) / 0.015)
         + 12.0 * np.sin(6.0 * np.pi * xx) * np.cos(4.0 * np.pi * yy) + 20.0 * yy)
    prof = {
        "driver": "GTiff", "dtype": "int16", "nodata": -32768.0, "width": n, "height": n, "count": 1,
        "crs": CRS.from_epsg(9707), "transform": Affine(step, 0.0, 12.45, 0.0, -step, 42.05),
        "tiled": True, "blockxsize": 256, "blockysize": 256, "compress": "deflate",
    }
    with rasterio.open(path, "w", **prof) as ds:
        ds.write(np.round(z).astype(np.int16), 1)


def _manifest(name: str, ann: str, cal: str, start: np.datetime64, stop: np.datetime64,
              anx: np.datetime64) -> str:
    rel = (ABSOLUTE_ORBIT - 73) % 175 + 1
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<xfdu:XFDU xmlns:xfdu="urn:ccsds:schema:xfdu:1" xmlns:safe="http://www.esa.int/safe/sentinel-1.0"
 xmlns:s1="http://www.esa.int/safe/sentinel-1.0/sentinel-1"
 xmlns:s1sarl1="http://www.esa.int/safe/sentinel-1.0/sentinel-1/sar/level-1"
 xmlns:gml="http://www.opengis.net/gml" version="esa/safe/sentinel-1.0/sentinel-1/sar/level-1/slc/standard/iwdp">
  <metadataSection>
    <metadataObject ID="acquisitionPeriod" classification="DESCRIPTION" category="DMD"><metadataWrap mimeType="text/xml" vocabularyName="SAFE" textInfo="Acquisition Period"><xmlData>
      <safe:acquisitionPeriod><safe:startTime>{_iso(start)}</safe:startTime><safe:stopTime>{_iso(stop)}</safe:stopTime></safe:acquisitionPeriod>
    </xmlData></metadataWrap></metadataObject>
    <metadataObject ID="platform" classification="DESCRIPTION" category="DMD"><metadataWrap mimeType="text/xml" vocabularyName="SAFE" textInfo="Platform Description"><xmlData>
      <safe:platform><safe:nssdcIdentifier>2014-016A</safe:nssdcIdentifier><safe:familyName>SENTINEL-1</safe:familyName><safe:number>A</safe:number>
        <safe:instrument><safe:familyName abbreviation="SAR">Synthetic Aperture Radar</safe:familyName>
          <safe:extension><s1sarl1:instrumentMode><s1sarl1:mode>IW</s1sarl1:mode><s1sarl1:swath>IW1</s1sarl1:swath></s1sarl1:instrumentMode></safe:extension>
        </safe:instrument></safe:platform>
    </xmlData></metadataWrap></metadataObject>
    <metadataObject ID="measurementOrbitReference" classification="DESCRIPTION" category="DMD"><metadataWrap mimeType="text/xml" vocabularyName="SAFE" textInfo="Orbit Reference"><xmlData>
      <safe:orbitReference>
        <safe:orbitNumber type="start">{ABSOLUTE_ORBIT}</safe:orbitNumber><safe:orbitNumber type="stop">{ABSOLUTE_ORBIT}</safe:orbitNumber>
        <safe:relativeOrbitNumber type="start">{rel}</safe:relativeOrbitNumber><safe:relativeOrbitNumber type="stop">{rel}</safe:relativeOrbitNumber>
        <safe:cycleNumber>230</safe:cycleNumber><safe:phaseIdentifier>1</safe:phaseIdentifier>
        <safe:extension><s1:orbitProperties><s1:pass>ASCENDING</s1:pass><s1:ascendingNodeTime>{_iso(anx)}</s1:ascendingNodeTime></s1:orbitProperties></safe:extension>
      </safe:orbitReference>
    </xmlData></metadataWrap></metadataObject>
    <metadataObject ID="generalProductInformation" classification="DESCRIPTION" category="DMD"><metadataWrap mimeType="text/xml" vocabularyName="SAFE" textInfo="General Product Information"><xmlData>
      <s1sarl1:standAloneProductInformation>
        <s1sarl1:productClass>S</s1sarl1:productClass><s1sarl1:productClassDescription>SAR Standard L1 Product</s1sarl1:productClassDescription>
        <s1sarl1:productConsolidation>SLICE</s1sarl1:productConsolidation>
        <s1sarl1:instrumentConfigurationID>7</s1sarl1:instrumentConfigurationID>
        <s1sarl1:missionDataTakeID>{DATATAKE_ID}</s1sarl1:missionDataTakeID>
        <s1sarl1:transmitterReceiverPolarisation>VV</s1sarl1:transmitterReceiverPolarisation>
        <s1sarl1:productTimelinessCategory>Fast-24h</s1sarl1:productTimelinessCategory>
        <s1sarl1:productType>SLC</s1sarl1:productType>
      </s1sarl1:standAloneProductInformation>
    </xmlData></metadataWrap></metadataObject>
  </metadataSection>
  <dataObjectSection>
    <dataObject ID="products1aiw1slcvv" repID="s1Level1ProductSchema"><byteStream mimeType="text/xml"><fileLocation locatorType="URL" href="./annotation/{ann}"/></byteStream></dataObject>
    <dataObject ID="calibrations1aiw1slcvv" repID="s1Level1CalibrationSchema"><byteStream mimeType="text/xml"><fileLocation locatorType="URL" href="./annotation/calibration/{cal}"/></byteStream></dataObject>
    <dataObject ID="s1aiw1slcvv" repID="s1Level1MeasurementSchema"><byteStream mimeType="application/octet-stream"><fileLocation locatorType="URL" href="./measurement/{ann.removesuffix('.xml')}.tiff"/></byteStream></dataObject>
  </dataObjectSection>
</xfdu:XFDU>
"""


def _annotation(orbit: _Orbit, t_c: float, epoch: np.datetime64, start: np.datetime64, anx: np.datetime64) -> str:
    """The IW1 VV annotation XML (times in s relative to ``epoch``; ``t_c`` is the orbit's origin)."""
    from ..ifg import geocoding as G
    from ..ifg.orbits import OrbitInterpolator, StateVectors

    def at(sec: float) -> str:
        return _iso(epoch + np.timedelta64(int(round(sec * 1e9)), "ns"))

    c = 299792458.0
    lam = c / RADAR_FREQUENCY
    t_start = float((start - epoch) / np.timedelta64(1, "ns")) * 1e-9
    n_lines = N_BURSTS * LINES_PER_BURST
    t_stop = t_start + BURST_CYCLE_S * (N_BURSTS - 1) + (LINES_PER_BURST - 1) * AZIMUTH_TIME_INTERVAL
    tv = np.arange(math.floor(t_start) - 60.0, t_stop + 70.0, 10.0)
    pos, vel = orbit.state(tv - t_c)
    orbit_xml = "".join(
        f"<orbit><time>{at(t)}</time><frame>Earth Fixed</frame>"
        f"<position><x>{p[0]:.15e}</x><y>{p[1]:.15e}</y><z>{p[2]:.15e}</z></position>"
        f"<velocity><x>{v[0]:.15e}</x><y>{v[1]:.15e}</y><z>{v[2]:.15e}</z></velocity></orbit>"
        for t, p, v in zip(tv, pos, vel))
    interp = OrbitInterpolator(StateVectors(epoch, tv, pos, vel, "synthetic"))
    r0 = c / 2.0 * SLANT_RANGE_TIME
    heading = None
    fm_xml, dc_xml = [], []
    for k in range(N_BURSTS + 1):
        t = t_start - 1.2 + BURST_CYCLE_S * k
        p, v = orbit.state(np.array([t - t_c]))
        speed = float(np.linalg.norm(v))
        ground = speed * 6371000.0 / float(np.linalg.norm(p))
        v_eff = math.sqrt(speed * ground)
        ka = -2.0 * v_eff**2 / (lam * r0)
        fm_xml.append(f"<azimuthFmRate><azimuthTime>{at(t)}</azimuthTime><t0>{SLANT_RANGE_TIME:.15e}</t0>"
                      f"<azimuthFmRatePolynomial count=\"3\">{ka:.9e} {-ka / SLANT_RANGE_TIME:.9e} "
                      f"{2.0 * ka / SLANT_RANGE_TIME**2:.9e}</azimuthFmRatePolynomial></azimuthFmRate>")
        dc_xml.append(f"<dcEstimate><azimuthTime>{at(t + 1.0)}</azimuthTime><t0>{SLANT_RANGE_TIME:.15e}</t0>"
                      f"<geometryDcPolynomial count=\"3\">-1.5e+00 -9.0e+02 0.0e+00</geometryDcPolynomial>"
                      f"<dataDcPolynomial count=\"3\">{DATA_DC[0]:.6e} {DATA_DC[1]:.6e} {DATA_DC[2]:.6e}</dataDcPolynomial>"
                      f"<dataDcRmsError>5.0e+00</dataDcRmsError><dataDcRmsErrorAboveThreshold>false</dataDcRmsErrorAboveThreshold>"
                      f"<fineDceAzimuthStartTime>{at(t)}</fineDceAzimuthStartTime>"
                      f"<fineDceAzimuthStopTime>{at(t + 2.0)}</fineDceAzimuthStopTime>"
                      f"<fineDceList count=\"0\"/></dcEstimate>")
        if heading is None:
            east = np.cross([0.0, 0.0, 1.0], p[0])
            east /= np.linalg.norm(east)
            north = np.cross(p[0] / np.linalg.norm(p[0]), east)
            heading = math.degrees(math.atan2(float(v[0] @ east), float(v[0] @ north)))
    fvs = np.full(LINES_PER_BURST, -1, np.int64)
    lvs = np.full(LINES_PER_BURST, -1, np.int64)
    fvs[FIRST_VALID_LINE:LAST_VALID_LINE + 1] = FIRST_VALID_SAMPLE
    lvs[FIRST_VALID_LINE:LAST_VALID_LINE + 1] = N_SAMPLES - 1 - FIRST_VALID_SAMPLE
    f_txt, l_txt = " ".join(map(str, fvs)), " ".join(map(str, lvs))
    anx_s = float((anx - epoch) / np.timedelta64(1, "ns")) * 1e-9
    bursts = []
    for b in range(N_BURSTS):
        tb = t_start + BURST_CYCLE_S * b
        bursts.append(f"<burst><azimuthTime>{at(tb)}</azimuthTime><azimuthAnxTime>{tb - anx_s:.9e}</azimuthAnxTime>"
                      f"<sensingTime>{at(tb + 1.13)}</sensingTime><byteOffset>{b * LINES_PER_BURST * N_SAMPLES * 4}</byteOffset>"
                      f"<firstValidSample count=\"{LINES_PER_BURST}\">{f_txt}</firstValidSample>"
                      f"<lastValidSample count=\"{LINES_PER_BURST}\">{l_txt}</lastValidSample>"
                      f"<burstId absolute=\"{FIRST_BURST_ID * 355 + b}\">{FIRST_BURST_ID + b}</burstId></burst>")
    # geolocation grid at height 0: every burst boundary line x 11 pixels
    gl_lines = [b * LINES_PER_BURST for b in range(N_BURSTS)] + [n_lines - 1]
    gl_pix = np.linspace(0, N_SAMPLES - 1, 11).round().astype(int)
    pts = []
    for line in gl_lines:
        b = min(line // LINES_PER_BURST, N_BURSTS - 1)
        t = t_start + BURST_CYCLE_S * b + (line - b * LINES_PER_BURST) * AZIMUTH_TIME_INTERVAL
        rr = c / 2.0 * (SLANT_RANGE_TIME + gl_pix / RANGE_SAMPLING_RATE)
        P = G.rdr2geo(np.full(rr.size, t), rr, np.zeros(rr.size), interp)
        lon, lat, h = G.ecef_to_geodetic(P)
        S = interp.position(np.full(rr.size, t))
        los = (S - P) / np.linalg.norm(S - P, axis=-1, keepdims=True)
        up = P / np.linalg.norm(P, axis=-1, keepdims=True)
        inc = np.degrees(np.arccos(np.sum(los * up, axis=-1)))
        elev = np.degrees(np.arccos(np.sum(-los * (S / np.linalg.norm(S, axis=-1, keepdims=True)), axis=-1)))
        for k, px in enumerate(gl_pix):
            pts.append(f"<geolocationGridPoint><azimuthTime>{at(t)}</azimuthTime>"
                       f"<slantRangeTime>{SLANT_RANGE_TIME + px / RANGE_SAMPLING_RATE:.15e}</slantRangeTime>"
                       f"<line>{line}</line><pixel>{px}</pixel><latitude>{lat[k]:.12e}</latitude>"
                       f"<longitude>{lon[k]:.12e}</longitude><height>{h[k]:.6e}</height>"
                       f"<incidenceAngle>{inc[k]:.9e}</incidenceAngle><elevationAngle>{elev[k]:.9e}</elevationAngle>"
                       f"</geolocationGridPoint>")
    inc_mid = float(np.median([float(p.split("<incidenceAngle>")[1].split("<")[0]) for p in pts]))
    stop = at(t_stop)
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<product>
  <adsHeader><missionId>S1A</missionId><productType>SLC</productType><polarisation>VV</polarisation><mode>IW</mode>
    <swath>IW1</swath><startTime>{at(t_start)}</startTime><stopTime>{stop}</stopTime>
    <absoluteOrbitNumber>{ABSOLUTE_ORBIT}</absoluteOrbitNumber><missionDataTakeId>{DATATAKE_ID}</missionDataTakeId><imageNumber>004</imageNumber></adsHeader>
  <generalAnnotation>
    <productInformation><pass>Ascending</pass><timelinessCategory>Fast-24h</timelinessCategory>
      <platformHeading>{heading:.9e}</platformHeading><projection>Slant Range</projection>
      <rangeSamplingRate>{RANGE_SAMPLING_RATE:.15e}</rangeSamplingRate><radarFrequency>{RADAR_FREQUENCY:.15e}</radarFrequency>
      <azimuthSteeringRate>{STEERING_RATE_DEG:.15e}</azimuthSteeringRate></productInformation>
    <orbitList count="{tv.size}">{orbit_xml}</orbitList>
    <azimuthFmRateList count="{len(fm_xml)}">{''.join(fm_xml)}</azimuthFmRateList>
  </generalAnnotation>
  <imageAnnotation>
    <imageInformation><productFirstLineUtcTime>{at(t_start)}</productFirstLineUtcTime><productLastLineUtcTime>{stop}</productLastLineUtcTime>
      <ascendingNodeTime>{_iso(anx)}</ascendingNodeTime><productComposition>Slice</productComposition>
      <slantRangeTime>{SLANT_RANGE_TIME:.15e}</slantRangeTime><pixelValue>Complex</pixelValue><outputPixels>16 bit Signed Integer</outputPixels>
      <rangePixelSpacing>{c / (2 * RANGE_SAMPLING_RATE):.6e}</rangePixelSpacing><azimuthPixelSpacing>1.395000e+01</azimuthPixelSpacing>
      <azimuthTimeInterval>{AZIMUTH_TIME_INTERVAL:.15e}</azimuthTimeInterval><azimuthFrequency>{1 / AZIMUTH_TIME_INTERVAL:.9e}</azimuthFrequency>
      <numberOfSamples>{N_SAMPLES}</numberOfSamples><numberOfLines>{n_lines}</numberOfLines>
      <incidenceAngleMidSwath>{inc_mid:.9e}</incidenceAngleMidSwath></imageInformation>
    <processingInformation><swathProcParamsList count="1"><swathProcParams><swath>IW1</swath>
      <rangeProcessing><windowType>Hamming</windowType><windowCoefficient>7.5e-01</windowCoefficient><totalBandwidth>5.6504e+07</totalBandwidth><processingBandwidth>5.650000000000000e+07</processingBandwidth><lookBandwidth>5.65e+07</lookBandwidth><numberOfLooks>1</numberOfLooks></rangeProcessing>
      <azimuthProcessing><windowType>Hamming</windowType><windowCoefficient>7.0e-01</windowCoefficient><totalBandwidth>4.864863e+02</totalBandwidth><processingBandwidth>3.270000000000000e+02</processingBandwidth><lookBandwidth>3.27e+02</lookBandwidth><numberOfLooks>1</numberOfLooks></azimuthProcessing>
    </swathProcParams></swathProcParamsList></processingInformation>
  </imageAnnotation>
  <dopplerCentroid><dcEstimateList count="{len(dc_xml)}">{''.join(dc_xml)}</dcEstimateList></dopplerCentroid>
  <swathTiming><linesPerBurst>{LINES_PER_BURST}</linesPerBurst><samplesPerBurst>{N_SAMPLES}</samplesPerBurst>
    <burstList count="{N_BURSTS}">{''.join(bursts)}</burstList></swathTiming>
  <geolocationGrid><geolocationGridPointList count="{len(pts)}">{''.join(pts)}</geolocationGridPointList></geolocationGrid>
</product>
"""


def _calibration(start: str, stop: str, n_lines: int) -> str:
    vecs = []
    pix = np.linspace(0, N_SAMPLES - 1, 9).round().astype(int)
    for line in (0, n_lines // 2, n_lines - 1):
        vals = " ".join(["2.37e+02"] * pix.size)
        vecs.append(f"<calibrationVector><azimuthTime>{start}</azimuthTime><line>{line}</line>"
                    f"<pixel count=\"{pix.size}\">{' '.join(map(str, pix))}</pixel>"
                    f"<sigmaNought count=\"{pix.size}\">{vals}</sigmaNought><betaNought count=\"{pix.size}\">{vals}</betaNought>"
                    f"<gamma count=\"{pix.size}\">{vals}</gamma><dn count=\"{pix.size}\">{vals}</dn></calibrationVector>")
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<calibration><adsHeader><missionId>S1A</missionId><productType>SLC</productType><polarisation>VV</polarisation><mode>IW</mode>
<swath>IW1</swath><startTime>{start}</startTime><stopTime>{stop}</stopTime><absoluteOrbitNumber>{ABSOLUTE_ORBIT}</absoluteOrbitNumber>
<missionDataTakeId>{DATATAKE_ID}</missionDataTakeId><imageNumber>004</imageNumber></adsHeader>
<calibrationInformation><absoluteCalibrationConstant>1.0</absoluteCalibrationConstant></calibrationInformation>
<calibrationVectorList count="{len(vecs)}">{''.join(vecs)}</calibrationVectorList></calibration>
"""


def _write(folder: Path) -> None:
    epoch = np.datetime64(str(PRODUCT_START.astype("datetime64[D]")), "ns")
    orbit = _Orbit()
    t_start = float((PRODUCT_START - epoch) / np.timedelta64(1, "ns")) * 1e-9
    t_c = t_start + BURST_CYCLE_S * N_BURSTS / 2.0  # the orbit passes over the scene latitude mid-product
    anx = epoch + np.timedelta64(int(round((t_c - orbit.u0 / orbit.n) * 1e9)), "ns")
    n_lines = N_BURSTS * LINES_PER_BURST
    stop = PRODUCT_START + np.timedelta64(
        int(round((BURST_CYCLE_S * (N_BURSTS - 1) + (LINES_PER_BURST - 1) * AZIMUTH_TIME_INTERVAL) * 1e9)), "ns")
    s_c, e_c = _compact(PRODUCT_START - np.timedelta64(1, "s")), _compact(stop + np.timedelta64(1, "s"))
    dtk = f"{DATATAKE_ID:06X}"
    name = f"S1A_IW_SLC__1SDV_{s_c}_{e_c}_{ABSOLUTE_ORBIT:06d}_{dtk}_5A5A.SAFE"
    stem = f"s1a-iw1-slc-vv-{_compact(PRODUCT_START).lower()}-{_compact(stop).lower()}-{ABSOLUTE_ORBIT:06d}-{dtk.lower()}-004"
    safe = folder / name
    (safe / "annotation" / "calibration").mkdir(parents=True)
    (safe / "annotation" / f"{stem}.xml").write_text(_annotation(orbit, t_c, epoch, PRODUCT_START, anx), encoding="utf-8")
    (safe / "annotation" / "calibration" / f"calibration-{stem}.xml").write_text(
        _calibration(_iso(PRODUCT_START), _iso(stop), n_lines), encoding="utf-8")
    (safe / "manifest.safe").write_text(
        _manifest(name, f"{stem}.xml", f"calibration-{stem}.xml", PRODUCT_START, stop, anx),
        encoding="utf-8")
    _write_dem(folder / "synthetic-30m-DEM.tif")


def synthetic_base(cache_dir: Path | None = None) -> tuple[Path, Path]:
    """The synthetic base product and DEM (``(SAFE folder, DEM GeoTIFF)``), built on first use."""
    root = Path(cache_dir) if cache_dir else _cache_root()
    if not (root / ".complete").is_file():
        with atomic_dir(root) as tmp:
            _write(tmp)
            (tmp / ".complete").write_text(SYNTHETIC_VERSION)
    safes = sorted(root.glob("S1*_IW_SLC_*.SAFE"))
    return safes[0], root / "synthetic-30m-DEM.tif"

