"""pygeoapi processors of the snapstamps service: ``echo``, ``psi`` and ``interferogram-stack``.

The process descriptions live in ``processes/<id>.json`` (the processor definition's
``description`` key names the file; ``snapstamps serve`` makes it absolute).  ``echo`` runs in
the server (it is instant).  ``psi`` and ``interferogram-stack`` are executed by
:class:`..manager.SnapstampsManager`, which starts a worker process running the CWL application
package (``app-package/psi.cwl#psi``, ``app-package/ifg-stack.cwl#ifg-stack``); their ``execute``
is never called in the server.  The result of interferogram-stack is a stack catalog, which psi
takes as its ``stack``.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from typing import Any

from pygeoapi.process.base import BaseProcessor, ProcessorExecuteError

from .resources import resource_dir

DEFAULT_DESCRIPTIONS = resource_dir("processes")
EXECUTION_UNIT = "http://www.opengis.net/def/rel/ogc/1.0/execution-unit"


class InvalidInputError(ProcessorExecuteError):
    """An input value does not match the process description (HTTP 400)."""

    http_status_code = HTTPStatus.BAD_REQUEST
    ogc_exception_code = "InvalidParameterValue"


class NotAvailableError(ProcessorExecuteError):
    """The process is described but cannot run in this release (HTTP 501)."""

    http_status_code = HTTPStatus.NOT_IMPLEMENTED
    ogc_exception_code = "NotImplemented"


def load_description(processor_def: dict[str, Any], default_name: str) -> dict[str, Any]:
    """The OGC process description named by ``processor_def['description']``.

    With ``processor_def['public_url']`` (set by ``snapstamps serve``), the execution-unit link
    (the CWL application package) becomes the absolute URL ``{public_url}/processes/{id}/package``,
    which :mod:`.api` serves.
    """
    path = Path(processor_def.get("description") or default_name)
    if not path.is_absolute():
        path = DEFAULT_DESCRIPTIONS / path
    desc = json.loads(path.read_text())
    base = str(processor_def.get("public_url") or "").rstrip("/")
    if base:
        for link in desc.get("links", []):
            if link.get("rel") == EXECUTION_UNIT:
                link["href"] = f"{base}/processes/{desc['id']}/package"
    return desc


@dataclass
class InputContext:
    """What the input checks need from the service: the data roots and the fetch policy."""

    data_roots: list[Path]
    fetch_policy: Any

    def local(self, name: str, path: Path) -> Path:
        """``path`` resolved, if it lies under a data root; else :class:`InvalidInputError` (nothing is read)."""
        try:
            real = Path(path).resolve()
        except (OSError, ValueError, RuntimeError):
            raise InvalidInputError(user_msg=f"input '{name}': not a usable path") from None
        if not any(real.is_relative_to(root) for root in self.data_roots):
            raise InvalidInputError(user_msg=f"input '{name}': {path} is outside the data folders of this service")
        return real

    def url(self, name: str, url: str) -> None:
        """Check an http(s) or s3 URL against the fetch policy (before any connection)."""
        from .fetch import FetchRefused

        try:
            if url.lower().startswith("s3://"):
                self.fetch_policy.check_s3(url)
            else:
                self.fetch_policy.check_url(url)
        except FetchRefused as exc:
            raise InvalidInputError(user_msg=f"input '{name}': {exc}") from None


class SnapstampsProcessor(BaseProcessor):
    """Base of the snapstamps processors: description from JSON, input checks beyond the schema."""

    description_file = ""
    #: True when the manager runs it as a CWL job in a worker process.
    runs_as_job = False
    #: id of the entry workflow in ``app-package/<package>``.
    app_package = ""

    def __init__(self, processor_def: dict[str, Any]) -> None:
        super().__init__(processor_def, load_description(processor_def, self.description_file))

    def check_inputs(self, data: dict[str, Any], ctx: InputContext) -> None:
        """Checks the JSON schema cannot express (e.g. that a path exists); raise InvalidInputError."""

    def stage_in(self, data: dict[str, Any]) -> dict[str, str]:
        """Inputs the worker must download before running the CWL (``{input: s3:// URL}``)."""
        return {}

    def cwl_inputs(self, data: dict[str, Any]) -> dict[str, Any]:
        """The CWL job object of a validated execute request."""
        raise NotAvailableError(user_msg=f"process {self.metadata['id']} does not run as a CWL job")


class EchoProcessor(SnapstampsProcessor):
    """Echo: returns ``echoInput`` (after ``pause`` seconds)."""

    description_file = "echo.json"

    def execute(self, data: dict[str, Any], outputs: dict | None = None) -> tuple[str, Any]:
        """Return ``{"id": "echoOutput", "value": echoInput}``."""
        pause = float(data.get("pause") or 0)
        if pause:
            time.sleep(pause)
        return "application/json", {"id": "echoOutput", "value": data["echoInput"]}


class PsiProcessor(SnapstampsProcessor):
    """psi: StaMPS PSI on a stack, run as ``app-package/psi.cwl#psi``."""

    description_file = "psi.json"
    runs_as_job = True
    app_package = "psi.cwl#psi"

    def check_inputs(self, data: dict[str, Any], ctx: InputContext) -> None:
        """The stack: a local INSAR_<master> directory or catalog under the data roots (its INSAR
        directory too), or an ``s3://`` stack the fetch policy allows and that is readable; the
        reference area inside the stack's footprint; the engine parameters known and valid."""
        from ..stac.stack import StackError, resolve_stack
        from .staging import StagingError, check_stack_ref, is_s3

        insar = None
        try:
            if is_s3(data["stack"]):
                ctx.url("stack", data["stack"])
                check_stack_ref(data["stack"])
            else:
                ctx.local("stack", _local_path("stack", data["stack"], "a path or file:// URL on the server, "
                                               "or an s3:// stack"))
                insar = resolve_stack(data["stack"])
                ctx.local("stack", insar)
                if not (insar / "geo").is_dir():
                    raise InvalidInputError(user_msg=f"input 'stack': {insar.name} has no geo/ folder "
                                                     "(expected the SNAP StampsExport layout rslc/, diff0/, geo/)")
        except (StackError, StagingError) as exc:
            msg = _short(exc)
            if "not a readable STAC document" in msg:  # pystac's reason quotes the document: not echoed
                msg = msg.split(" (", 1)[0]
            raise InvalidInputError(user_msg=f"input 'stack': {msg}") from None
        except (OSError, ValueError) as exc:
            raise InvalidInputError(user_msg=f"input 'stack': not a usable path ({type(exc).__name__})") from None
        area = data.get("reference_area")
        if area is not None:
            lon, lat, radius = (float(v) for v in area)
            if not (-180 <= lon <= 180 and -90 <= lat <= 90):
                raise InvalidInputError(user_msg=f"input 'reference_area': ({lon}, {lat}) is not a longitude in "
                                                 "[-180, 180] and a latitude in [-90, 90]")
            if not radius > 0:
                raise InvalidInputError(user_msg=f"input 'reference_area': radius {radius} m must be positive")
            extent = stack_extent(insar) if insar is not None else None
            if extent is not None and not _near_bbox(lon, lat, radius, extent):
                w, s_, e, n = extent
                raise InvalidInputError(user_msg=f"input 'reference_area': ({lon}, {lat}) with radius {radius:g} m "
                                                 f"does not reach the stack (lon {w:.4f}..{e:.4f}, lat {s_:.4f}..{n:.4f})")
        from ..errors import ParameterError
        from ..psi.config import PsiParams, check_native_support, updates_from_inputs

        try:
            updates = updates_from_inputs(data)
            # the service runs the native engine: what it does not implement is refused before a job
            check_native_support(PsiParams().with_updates(updates))
        except (ParameterError, ValueError) as exc:
            raise InvalidInputError(user_msg=f"input 'parameters': {_short(exc)}") from None
        _check_delay_dir(updates.get("tropo_delay_dir"), ctx)

    def stage_in(self, data: dict[str, Any]) -> dict[str, str]:
        """An ``s3://`` stack is staged in by the worker."""
        from .staging import is_s3

        return {"stack": data["stack"]} if is_s3(data["stack"]) else {}

    def cwl_inputs(self, data: dict[str, Any]) -> dict[str, Any]:
        """CWL job of the psi workflow; a local stack is resolved to its INSAR_<master> directory.

        An ``s3://`` stack is left out here: the worker stages it in and fills ``stack`` in.
        ``stack_reference`` is the stack as the request named it (path, ``file://`` or ``s3://``
        URL): the catalog's ``derived_from`` links, whichever runner staged the stack where.
        """
        from ..stac.stack import resolve_stack
        from .staging import is_s3

        job: dict[str, Any] = {"stack_reference": str(data["stack"])}
        if not is_s3(data["stack"]):
            job["stack"] = {"class": "Directory", "path": str(resolve_stack(data["stack"]))}
        # one path for every parameter: the named inputs and `parameters`, merged and checked by
        # PsiParams, go to the CWL as NAME=JSON strings; nothing is passed for a parameter not given
        from ..psi.config import updates_from_inputs

        updates = updates_from_inputs(data)
        if updates:
            job["parameters"] = [f"{k}={json.dumps(v)}" for k, v in updates.items()]
        return job

    def execute(self, data: dict[str, Any], outputs: dict | None = None) -> tuple[str, Any]:
        """Not used: the manager runs psi in a worker process."""
        raise ProcessorExecuteError(user_msg="psi runs asynchronously only (Prefer: respond-async)")


def _check_delay_dir(value: Any, ctx: InputContext) -> None:
    """psi's ``tropo_delay_dir`` (a folder of delay GeoTIFFs the engine reads) is a server path:
    only a folder under the data roots is accepted, as for every other local input."""
    if value in (None, ""):
        return
    name = "parameters.tropo_delay_dir"
    path = _local_path(name, str(value), "a folder on the server (absolute path)")
    if not path.is_absolute():
        raise InvalidInputError(user_msg=f"input '{name}': {value} is not an absolute path on the server")
    folder = ctx.local(name, path)
    if not folder.is_dir():
        raise InvalidInputError(user_msg=f"input '{name}': {folder}: no such folder")


def _short(exc: BaseException, limit: int = 300) -> str:
    """The first line of an error message, at most ``limit`` characters."""
    text = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return text if len(text) <= limit else text[:limit] + "..."


def stack_extent(insar: Path, max_samples: int = 200_000) -> tuple[float, float, float, float] | None:
    """Lon/lat bounding box of an ``INSAR_<date>`` stack from ``geo/*.lon``/``.lat`` (big-endian
    float32, read strided), or None when they are missing."""
    import numpy as np

    geo = Path(insar) / "geo"
    lons = sorted(geo.glob("*.lon"))
    if len(lons) != 1 or not lons[0].with_suffix(".lat").is_file():
        return None
    lon = np.memmap(lons[0], dtype=">f4", mode="r")
    lat = np.memmap(lons[0].with_suffix(".lat"), dtype=">f4", mode="r")
    if lon.size == 0 or lon.size != lat.size:
        return None
    step = max(1, lon.size // max_samples)
    lo, la = np.asarray(lon[::step], dtype=float), np.asarray(lat[::step], dtype=float)
    ok = np.isfinite(lo) & np.isfinite(la) & (lo != 0) & (la != 0)
    if not ok.any():
        return None
    return float(lo[ok].min()), float(la[ok].min()), float(lo[ok].max()), float(la[ok].max())


def _near_bbox(lon: float, lat: float, radius_m: float, bbox: tuple[float, float, float, float]) -> bool:
    """True when the circle (lon, lat, radius) touches ``bbox`` (equirectangular distance)."""
    import math

    w, s, e, n = bbox
    clon, clat = min(max(lon, w), e), min(max(lat, s), n)
    dy = (lat - clat) * 111_320.0
    dx = (lon - clon) * 111_320.0 * math.cos(math.radians((lat + clat) / 2))
    return math.hypot(dx, dy) <= radius_m + 1.0


@dataclass
class IfgStackInputs:
    """The interferogram-stack inputs resolved to local files or to URLs the job stages in.

    ``dem``: a local GeoTIFF, an ``http(s)://`` URL (downloaded once by the job before the CWL
    runner starts) or None (the workflow downloads the Copernicus GLO-30 DEM once).  ``orbits``:
    a local folder, an ``s3://`` prefix (downloaded by the job) or None (each pair downloads the
    orbit files it needs, ``--download-orbits``).
    """

    reference: Any
    secondaries: list[Any]
    subswaths: list[str]
    dem: Path | str | None
    orbits: Path | str | None


def _local_path(name: str, ref: str, accepted: str = "a path or file:// URL on the server") -> Path:
    """A local path (plain or ``file://``) for input ``name``; other schemes are refused (400 naming ``accepted``)."""
    from urllib.parse import unquote, urlparse

    if "://" in ref:
        u = urlparse(ref)
        if u.scheme != "file":
            raise InvalidInputError(user_msg=f"input '{name}': {u.scheme}:// is not supported here; give {accepted}")
        return Path(unquote(u.path))
    return Path(ref)


def _is_http(ref: str) -> bool:
    """True for an ``http://`` or ``https://`` URL."""
    return ref.lower().startswith(("http://", "https://"))


def _resolve_dem(value: Any, ctx: InputContext) -> Path | str | None:
    """The ``dem`` input: None (omitted or ``auto``), a checked ``http(s)`` URL, or an existing local file."""
    from .staging import StagingError, check_http_url

    if value is None or str(value).strip().lower() == "auto":
        return None
    ref = str(value)
    if _is_http(ref):
        ctx.url("dem", ref)
        try:
            check_http_url(ref)
        except StagingError as exc:
            raise InvalidInputError(user_msg=f"input 'dem': {_short(exc)}") from None
        return ref
    dem = _local_path("dem", ref, "a path or file:// URL on the server, an http(s):// URL, or nothing (GLO-30 is downloaded)")
    dem = ctx.local("dem", dem)
    if not dem.is_file():
        raise InvalidInputError(user_msg=f"input 'dem': {dem}: no such file")
    return dem.resolve()


def _resolve_orbits(value: Any, ctx: InputContext) -> Path | str | None:
    """The ``orbits`` input: None (downloaded per pair), a checked ``s3://`` prefix, or an existing local folder."""
    from .staging import StagingError, check_s3_prefix, is_s3

    if value is None or value == "":
        return None
    ref = str(value)
    if is_s3(ref):
        ctx.url("orbits", ref)
        try:
            check_s3_prefix(ref)
        except StagingError as exc:
            raise InvalidInputError(user_msg=f"input 'orbits': {_short(exc)}") from None
        return ref
    if _is_http(ref):
        raise InvalidInputError(user_msg="input 'orbits': http(s):// folders (directory listings) are not supported; give a "
                                         "folder on the server, an s3:// prefix, or leave orbits out to download the orbit "
                                         "files (sentineleof)")
    orbits = _local_path("orbits", ref, "a folder on the server (path or file:// URL), an s3:// prefix, or nothing "
                                        "(the orbit files are downloaded)")
    orbits = ctx.local("orbits", orbits)
    if not orbits.is_dir():
        raise InvalidInputError(user_msg=f"input 'orbits': {orbits}: no such folder")
    return orbits.resolve()


class InterferogramStackProcessor(SnapstampsProcessor):
    """interferogram-stack: Sentinel-1 SLCs to a stack catalog, run as ``app-package/ifg-stack.cwl#ifg-stack``."""

    description_file = "interferogram-stack.json"
    runs_as_job = True
    app_package = "ifg-stack.cwl#ifg-stack"

    def resolve(self, data: dict[str, Any], ctx: InputContext) -> IfgStackInputs:
        """Resolve and check the inputs; raise :class:`InvalidInputError` naming the input at fault.

        ``reference``/``secondaries``: STAC items (path, ``file://``, ``http(s)://`` or ``s3://``
        URL) of SLC products, or SAFE folders, resolved to local SAFE folders or to remote SAFEs
        (an ``s3://`` ``.SAFE`` prefix or ``.zip``, an ``http(s)://`` ``.zip``; listed, not
        downloaded, and staged in by the job) with :func:`..stac.slc.resolve_slc`; every product
        must hold the requested sub-swaths in ``polarisation`` (a remote one: annotation and
        measurement keys), and each sub-swath of the reference must cover ``bbox`` (default
        sub-swaths: those of the reference that do; a remote reference's annotations are read).  ``dem``: a local
        GeoTIFF, an ``http(s)`` URL that answers a one-byte GET, or omitted (``auto`` alike);
        ``orbits``: a local folder, a non-empty readable ``s3://`` prefix, or omitted (``http(s)``
        folders are refused); ``backend=snap`` needs SNAP's gpt.
        """
        from ..ifg.config import check_bbox
        from ..stac.s3io import RemoteReadError
        from ..stac.slc import (
            SlcError,
            bbox_intersects,
            resolve_slc,
            safe_layers,
            swath_footprints,
        )

        try:
            w, s, e, n = check_bbox(data["bbox"])
        except ValueError as exc:
            raise InvalidInputError(user_msg=f"input 'bbox': {exc}") from None
        pol = str(data.get("polarisation") or "VV")

        def slc(name: str, ref: str) -> Any:
            remote = "://" in ref and not ref.lower().startswith("file://")
            if remote:
                ctx.url(name, ref)  # refused here, before any connection
            else:
                ctx.local(name, _local_path(name, ref))  # nothing outside the data roots is read
            try:
                r = resolve_slc(ref, remote=True)
            except SlcError as exc:
                msg = _short(exc)
                if remote and "cannot read" not in msg and "cannot be used" not in msg:
                    # never echo what a fetched document holds
                    msg = f"{ref} is not a Sentinel-1 SLC STAC item or SAFE product this service can use"
                raise InvalidInputError(user_msg=f"input '{name}': {msg}") from None
            if not r.remote:
                ctx.local(name, r.safe)  # an item's SAFE must lie under the data roots too
            else:
                ctx.url(name, r.safe.url)
            if not r.remote and not r.safe.is_dir():
                raise InvalidInputError(user_msg=f"input '{name}': {r.safe.name} is a zip; this service takes SAFE "
                                                 "folders (unzip it, or give an item whose asset is the folder)")
            return r

        ref = slc("reference", data["reference"])
        secs = [slc(f"secondaries/{i}", v) for i, v in enumerate(data["secondaries"])]
        names = [ref.product] + [x.product for x in secs]
        dup = sorted({x for x in names if names.count(x) > 1})
        if dup:
            raise InvalidInputError(user_msg=f"input 'secondaries': {dup[0]} is given twice (or is the reference)")
        try:
            feet = swath_footprints(ref.safe, pol)
        except RemoteReadError as exc:
            raise InvalidInputError(user_msg=f"input 'reference': {_short(exc)}") from None
        aoi = (w, s, e, n)
        if data.get("subswaths"):
            swaths = list(data["subswaths"])
            for sw in swaths:
                if sw not in feet:
                    raise InvalidInputError(user_msg=f"input 'subswaths': the reference {ref.product} has no {sw} {pol}")
                if not bbox_intersects(feet[sw], aoi):
                    raise InvalidInputError(user_msg=f"input 'bbox': outside sub-swath {sw} of the reference "
                                                     f"({', '.join(f'{v:.3f}' for v in feet[sw])})")
        else:
            swaths = [sw for sw in sorted(feet) if bbox_intersects(feet[sw], aoi)]
            if not swaths:
                raise InvalidInputError(user_msg=f"input 'bbox': no {pol} sub-swath of the reference {ref.product} covers it")
        for i, x in enumerate(secs):
            have = safe_layers(x.safe)
            missing = [sw for sw in swaths if (sw, pol) not in have]
            if missing:
                raise InvalidInputError(user_msg=f"input 'secondaries/{i}': {x.product} has no {missing[0]} {pol}")
        dem = _resolve_dem(data.get("dem"), ctx)
        orbits = _resolve_orbits(data.get("orbits"), ctx)
        if data.get("backend") == "snap":
            from ..backends.snap import snap_available

            if not snap_available():
                raise InvalidInputError(user_msg="input 'backend': snap needs SNAP's gpt, which this server does not have "
                                                 "(use native)")
        return IfgStackInputs(ref, secs, swaths, dem, orbits)

    _memo: tuple[str, IfgStackInputs] | None = None

    def resolved(self, data: dict[str, Any], ctx: InputContext | None = None) -> IfgStackInputs:
        """:meth:`resolve`, remembered for the last request (check, CWL job and stage-in list of one
        execute request list remote SAFEs once)."""
        key = json.dumps(data, sort_keys=True, default=str)
        memo = self._memo
        if memo is not None and memo[0] == key:
            return memo[1]
        if ctx is None:
            raise InvalidInputError(user_msg="interferogram-stack: inputs not checked")
        r = self.resolve(data, ctx)
        self._memo = (key, r)
        return r

    def check_inputs(self, data: dict[str, Any], ctx: InputContext) -> None:
        """Resolve the inputs (see :meth:`resolve`); unusable paths (NUL bytes, too long...) are 400 too."""
        try:
            self.resolved(data, ctx)
        except (ValueError, OSError) as exc:
            raise InvalidInputError(user_msg=f"invalid path in the inputs ({type(exc).__name__})") from None

    def stage_in(self, data: dict[str, Any]) -> dict[str, Any]:
        """An ``http(s)`` DEM (one file), an ``s3://`` orbit prefix (a folder) and remote SAFEs are downloaded by the worker.

        Checked by :meth:`check_inputs` already.  A remote SAFE is listed as ``reference`` or
        ``secondaries/<i>`` with class ``SAFE``, the sub-swaths and the polarisation: the worker
        downloads only ``manifest.safe``, ``annotation/`` and those measurement files.
        """
        from .staging import is_s3

        out: dict[str, Any] = {}
        r = self.resolved(data)
        pol = str(data.get("polarisation") or "VV")
        for name, x in [("reference", r.reference)] + [(f"secondaries/{i}", x) for i, x in enumerate(r.secondaries)]:
            if x.remote:
                out[name] = {"url": x.safe.url, "class": "SAFE", "subswaths": list(r.subswaths), "polarisation": pol}
        if data.get("dem") and _is_http(str(data["dem"])):
            out["dem"] = {"url": str(data["dem"]), "class": "File"}
        if data.get("orbits") and is_s3(data["orbits"]):
            out["orbits"] = {"url": str(data["orbits"]), "class": "Directory"}
        return out

    def cwl_inputs(self, data: dict[str, Any]) -> dict[str, Any]:
        """CWL job of the ifg-stack workflow: SAFE directories, DEM, orbits, and the input items to link.

        A local DEM, orbit folder or SAFE is given as is; one to stage in (:meth:`stage_in`; a
        remote SAFE is None here) is filled in by the worker; without a DEM the workflow prepares GLO-30 once (step ``dem_auto``);
        without orbits ``download_orbits`` is true (each pair runs ``--download-orbits``).
        """
        r = self.resolved(data)

        def safe_dir(x: Any) -> dict[str, str] | None:
            return None if x.remote else {"class": "Directory", "path": str(x.safe)}

        job: dict[str, Any] = {
            "reference": safe_dir(r.reference),
            "secondaries": [safe_dir(x) for x in r.secondaries],
            "subswaths": r.subswaths,
            "polarisation": data.get("polarisation") or "VV",
            "bbox": [float(v) for v in data["bbox"]],
            "backend": data.get("backend") or "native",
            "reference_item": r.reference.item_href,
            "secondary_items": [x.item_href for x in r.secondaries],
        }
        if isinstance(r.dem, Path):
            job["dem"] = {"class": "File", "path": str(r.dem)}
        if isinstance(r.orbits, Path):
            job["orbits"] = {"class": "Directory", "path": str(r.orbits)}
        job["download_orbits"] = r.orbits is None
        return job

    def execute(self, data: dict[str, Any], outputs: dict | None = None) -> tuple[str, Any]:
        """Not used: the manager runs interferogram-stack in a worker process."""
        raise ProcessorExecuteError(user_msg="interferogram-stack runs asynchronously only (Prefer: respond-async)")
