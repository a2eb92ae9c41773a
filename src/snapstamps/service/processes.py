"""pygeoapi processors of the snapstamps service: ``echo``, ``psi`` and ``interferogram-stack``.

The process descriptions live in ``processes/<id>.json`` (the processor definition's
``description`` key names the file; ``snapstamps serve`` makes it absolute).  ``echo`` runs in
the server (it is instant).  ``psi`` is executed by :class:`..manager.SnapstampsManager`, which
starts a worker process running the CWL application package; ``PsiProcessor.execute`` is never
called in the server.  ``interferogram-stack`` is published for its description only: its engine
is not in this release, and executing it answers HTTP 501.
"""

from __future__ import annotations

import json
import time
from http import HTTPStatus
from pathlib import Path
from typing import Any

from pygeoapi.process.base import BaseProcessor, ProcessorExecuteError

DEFAULT_DESCRIPTIONS = Path(__file__).resolve().parents[3] / "processes"


class InvalidInputError(ProcessorExecuteError):
    """An input value does not match the process description (HTTP 400)."""

    http_status_code = HTTPStatus.BAD_REQUEST
    ogc_exception_code = "InvalidParameterValue"


class NotAvailableError(ProcessorExecuteError):
    """The process is described but cannot run in this release (HTTP 501)."""

    http_status_code = HTTPStatus.NOT_IMPLEMENTED
    ogc_exception_code = "NotImplemented"


def load_description(processor_def: dict[str, Any], default_name: str) -> dict[str, Any]:
    """The OGC process description named by ``processor_def['description']``."""
    path = Path(processor_def.get("description") or default_name)
    if not path.is_absolute():
        path = DEFAULT_DESCRIPTIONS / path
    return json.loads(path.read_text())


class SnapstampsProcessor(BaseProcessor):
    """Base of the snapstamps processors: description from JSON, input checks beyond the schema."""

    description_file = ""
    #: True when the manager runs it as a CWL job in a worker process.
    runs_as_job = False
    #: id of the entry workflow in ``app-package/<package>``.
    app_package = ""

    def __init__(self, processor_def: dict[str, Any]) -> None:
        super().__init__(processor_def, load_description(processor_def, self.description_file))

    def check_inputs(self, data: dict[str, Any]) -> None:
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

    def check_inputs(self, data: dict[str, Any]) -> None:
        """The stack must resolve to a local INSAR_<master> directory, or be readable on S3."""
        from ..stac.stack import StackError, resolve_stack
        from .staging import StagingError, check_stack_ref, is_s3

        try:
            if is_s3(data["stack"]):
                check_stack_ref(data["stack"])
            else:
                resolve_stack(data["stack"])
        except (StackError, StagingError) as exc:
            raise InvalidInputError(user_msg=f"input 'stack': {exc}") from exc
        params = data.get("parameters") or {}
        from ..errors import ParameterError
        from ..psi.config import PsiParams, resolve_name

        try:
            PsiParams().with_updates({resolve_name(k): v for k, v in params.items()})
        except (ParameterError, ValueError) as exc:
            raise InvalidInputError(user_msg=f"input 'parameters': {exc}") from exc

    def stage_in(self, data: dict[str, Any]) -> dict[str, str]:
        """An ``s3://`` stack is staged in by the worker."""
        from .staging import is_s3

        return {"stack": data["stack"]} if is_s3(data["stack"]) else {}

    def cwl_inputs(self, data: dict[str, Any]) -> dict[str, Any]:
        """CWL job of the psi workflow; a local stack is resolved to its INSAR_<master> directory.

        An ``s3://`` stack is left out here: the worker stages it in and fills ``stack`` in.
        """
        from ..stac.stack import resolve_stack
        from .staging import is_s3

        job: dict[str, Any] = {}
        if not is_s3(data["stack"]):
            job["stack"] = {"class": "Directory", "path": str(resolve_stack(data["stack"]))}
        for key in ("amplitude_dispersion", "patches", "reference_area", "unwrap_grid_size", "weed_standard_dev"):
            if data.get(key) is not None:
                job[key] = data[key]
        params = data.get("parameters") or {}
        if params:
            job["parameters"] = [f"{k}={json.dumps(v) if not isinstance(v, str) else v}" for k, v in params.items()]
        return job

    def execute(self, data: dict[str, Any], outputs: dict | None = None) -> tuple[str, Any]:
        """Not used: the manager runs psi in a worker process."""
        raise ProcessorExecuteError(user_msg="psi runs asynchronously only (Prefer: respond-async)")


class InterferogramStackProcessor(SnapstampsProcessor):
    """interferogram-stack: described, not executable until its engine exists."""

    description_file = "interferogram-stack.json"
    runs_as_job = True
    app_package = "ifg-stack.cwl#ifg-stack"

    def check_inputs(self, data: dict[str, Any]) -> None:
        """Always refuses: the native interferogram-stack engine is not in this release."""
        raise NotAvailableError(
            user_msg="interferogram-stack is not available yet: its native engine is not in this release "
                     "(the process is published for its description; app-package/ifg-stack.cwl is planned)"
        )

    def execute(self, data: dict[str, Any], outputs: dict | None = None) -> tuple[str, Any]:
        """Refuse (see :meth:`check_inputs`)."""
        self.check_inputs(data)
        raise AssertionError("unreachable")
