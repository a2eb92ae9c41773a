"""Optional downloads of the interferogram-stack inputs (thin I/O layer, used only when asked).

* :func:`fetch_orbit` -- ``ifg-stack --download-orbits``: the precise (``AUX_POEORB``), else the
  restituted (``AUX_RESORB``) orbit file of one acquisition, fetched with the ``sentineleof``
  package (Copernicus Data Space when CDSE credentials are found in ``~/.netrc``, else ASF's
  public bucket) into the orbit folder, where :func:`snapstamps.ifg.orbits.find_eof` finds it.
* :func:`build_dem` -- ``ifg-stack --dem auto``: the Copernicus GLO-30 DEM of the AOI plus a
  margin, stitched by ``dem_stitcher`` with heights above the WGS84 ellipsoid, written as a
  GeoTIFF that :func:`snapstamps.ifg.dem.open_dem` reads like a user DEM.

Nothing here is imported, and no connection is attempted, unless one of those options is given.
Failures raise :class:`DownloadError` with a one-line message; the caller decides whether that is
a warning (orbits: the annotation orbit is the fallback) or an error.
"""

from __future__ import annotations

import datetime as _dt
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from ..errors import InputError
from .orbits import find_eof

__all__ = ["DEM_MARGIN_DEG", "ORBIT_TYPES", "DownloadError", "build_dem", "dem_auto_path", "TEST_SOURCE_ENV", "fetch_orbit", "is_dem_auto", "prepare_dem"]

log = logging.getLogger("snapstamps")

#: Orbit products asked for, in order of preference (``sentineleof``'s ``orbit_type``).
ORBIT_TYPES: tuple[str, ...] = ("precise", "restituted")
#: Margin (deg) added on each side of the AOI for ``--dem auto`` (more than :func:`open_dem`'s crop margin).
DEM_MARGIN_DEG = 0.05
#: The ``dem_stitcher`` dataset of ``--dem auto``.
DEM_NAME = "glo_30"


class DownloadError(InputError):
    """A download was asked for and failed (offline, no credentials, nothing published).

    ``offline`` is True when no connection could be made at all (retrying is pointless).
    """

    def __init__(self, message: str, offline: bool = False) -> None:
        super().__init__(message)
        self.offline = offline


def _one_line(exc: BaseException, limit: int = 160) -> str:
    """``Type: first line of the message``, shortened to ``limit`` characters."""
    msg = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    text = f"{type(exc).__name__}: {msg}" if msg else type(exc).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _is_offline(exc: BaseException) -> bool:
    """True for errors that mean no connection at all (another product type would fail the same way)."""
    try:
        from requests.exceptions import ConnectionError as ReqConnectionError
        from requests.exceptions import Timeout
    except ImportError:  # pragma: no cover - requests comes with sentineleof
        return isinstance(exc, (ConnectionError, TimeoutError))
    return isinstance(exc, (ReqConnectionError, Timeout, ConnectionError, TimeoutError)) or (
        isinstance(exc, OSError) and not hasattr(exc, "response")
    )


@contextmanager
def _quiet(*names: str) -> Iterator[None]:
    """Silence the named loggers below ERROR for the duration (the libraries log every attempt)."""
    loggers = [logging.getLogger(n) for n in names]
    try:
        from eof.log import logger as eof_logger

        loggers.append(eof_logger)  # its own Logger instance, not in the logging manager
    except ImportError:
        pass
    old = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        for lg, lv in zip(loggers, old):
            lg.setLevel(lv)


def _as_datetime(t: np.datetime64) -> _dt.datetime:
    """``numpy.datetime64`` (UTC) -> naive ``datetime`` (UTC, microseconds), as ``sentineleof`` takes."""
    return np.datetime64(t, "us").astype(_dt.datetime)


def fetch_orbit(mission: str, start: np.datetime64, stop: np.datetime64, orbit_dir: Path) -> Path:
    """Download the orbit file of one acquisition into ``orbit_dir`` and return it.

    ``mission`` is ``S1A``/``S1B``/``S1C``/``S1D``; ``start``/``stop`` (UTC) bound the bursts
    used.  ``sentineleof.download.download_eofs`` is asked for the acquisition's mid time, first
    ``orbit_type="precise"`` then ``"restituted"``; the result must be an EOF file in
    ``orbit_dir`` whose validity covers ``[start, stop]`` (the same lookup as ``--orbits``).
    A connection failure stops at the first attempt.  Raises :class:`DownloadError` (one line).
    """
    orbit_dir = Path(orbit_dir)
    try:
        orbit_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DownloadError(f"{orbit_dir}: cannot create the orbit folder ({_one_line(exc)})") from None
    try:
        import eof.download as eof_download
    except ImportError:
        raise DownloadError("--download-orbits needs the sentineleof package (pip install sentineleof)") from None
    mid = np.datetime64(start, "ns") + (np.datetime64(stop, "ns") - np.datetime64(start, "ns")) // 2
    reasons: list[str] = []
    offline = False
    for orbit_type in ORBIT_TYPES:
        try:
            with _quiet("sentineleof", "eof"):
                eof_download.download_eofs(orbit_dts=[_as_datetime(mid)], missions=[mission.upper()], save_dir=str(orbit_dir), orbit_type=orbit_type)
        except Exception as exc:  # noqa: BLE001 - network, HTTP, credential and "not found" errors alike
            reasons.append(f"{orbit_type}: {_one_line(exc)}")
            if _is_offline(exc):
                offline = True
                break
        found = find_eof(orbit_dir, mission, np.datetime64(start, "ns"), np.datetime64(stop, "ns"))
        if found is not None:
            return found
        if not reasons or not reasons[-1].startswith(orbit_type):
            reasons.append(f"{orbit_type}: no file covering the acquisition")
    raise DownloadError(f"{mission} {np.datetime64(mid, 's')}: orbit download failed ({'; '.join(reasons)})", offline=offline)


def is_dem_auto(dem: object) -> bool:
    """True when the ``--dem`` value asks for a downloaded DEM (``auto``, any case)."""
    return str(dem).strip().lower() == "auto"


def dem_auto_path(out_dir: Path, bbox: tuple[float, float, float, float]) -> Path:
    """Where :func:`build_dem` writes the DEM of ``bbox``: ``OUT/dem/glo30_<W>_<S>_<E>_<N>.tif``."""
    tag = "_".join(f"{v:.4f}" for v in bbox)
    return Path(out_dir) / "dem" / f"glo30_{tag}.tif"


def build_dem(bbox: tuple[float, float, float, float], out_dir: Path, margin_deg: float = DEM_MARGIN_DEG) -> Path:
    """Stitch the GLO-30 DEM of ``bbox`` (W S E N, deg) plus ``margin_deg`` into ``OUT/dem/``.

    Calls ``dem_stitcher.stitch_dem(bounds, "glo_30", dst_ellipsoidal_height=True,
    dst_area_or_point="Point")`` (heights above the WGS84 ellipsoid, EPSG:4326) and writes the
    array as a GeoTIFF at :func:`dem_auto_path`; an existing file there (an earlier run on the
    same AOI) is reused without a download.  Raises :class:`DownloadError` (one line, saying to
    pass a DEM file) when the download fails.
    """
    path = dem_auto_path(out_dir, bbox)
    if path.is_file():
        return path
    w, s, e, n = (float(v) for v in bbox)
    bounds = [w - margin_deg, s - margin_deg, e + margin_deg, n + margin_deg]
    hint = "pass a DEM GeoTIFF with --dem FILE"
    try:
        import dem_stitcher
    except ImportError:
        raise DownloadError(f"--dem auto needs the dem-stitcher package; {hint}") from None
    try:
        with _quiet("dem_stitcher", "rasterio", "botocore", "urllib3"):
            arr, profile = dem_stitcher.stitch_dem(bounds, DEM_NAME, dst_ellipsoidal_height=True, dst_area_or_point="Point")
    except Exception as exc:  # noqa: BLE001 - network, S3 and GDAL errors alike
        raise DownloadError(f"--dem auto: cannot download the {DEM_NAME} DEM for {[round(b, 4) for b in bounds]} ({_one_line(exc)}); {hint}") from None
    import rasterio

    from ..io.atomic import atomic_path

    a = np.asarray(arr, dtype=np.float32)
    if a.ndim == 3:
        a = a[0]
    prof = {k: v for k, v in dict(profile).items() if k not in ("blockxsize", "blockysize", "tiled", "interleave")}
    prof.update(driver="GTiff", count=1, dtype="float32", height=a.shape[0], width=a.shape[1], compress="deflate")
    if prof.get("nodata") is None:
        prof["nodata"] = np.nan
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp, rasterio.open(tmp, "w", **prof) as ds:
        ds.write(a, 1)
    return path


#: Environment variable naming a GeoTIFF copied instead of the GLO-30 download (tests only).
TEST_SOURCE_ENV = "SNAPSTAMPS_DEM_AUTO_SOURCE"


def prepare_dem(bbox: tuple[float, float, float, float], out_dir: Path) -> Path:
    """The GLO-30 DEM of ``bbox`` in ``out_dir/dem/`` (what ``ifg-stack --dem auto`` uses); return its path.

    ``snapstamps ifg-stack-dem`` runs it once per interferogram-stack job, so that the scattered
    pairs share one download.  ``SNAPSTAMPS_DEM_AUTO_SOURCE=/path/to/dem.tif`` (:data:`TEST_SOURCE_ENV`)
    is for tests only: the named GeoTIFF is copied to the same path instead of downloading, with a
    warning on the ``snapstamps`` logger; never set it in a deployment.
    Raises :class:`DownloadError` when the download fails, or :class:`~snapstamps.errors.InputError`
    for a bad ``bbox`` or a missing test source.
    """
    import os
    import shutil

    from .config import check_bbox

    try:
        box = check_bbox(bbox)
    except ValueError as exc:
        raise InputError(f"--bbox: {exc}") from None
    source = os.environ.get(TEST_SOURCE_ENV)
    if source:
        src = Path(source)
        if not src.is_file():
            raise InputError(f"{TEST_SOURCE_ENV}={source}: no such file")
        dest = dem_auto_path(out_dir, box)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dest)
        log.warning("%s is set (tests only): %s copied to %s instead of downloading GLO-30", TEST_SOURCE_ENV, src, dest)
        return dest
    return build_dem(box, Path(out_dir))
