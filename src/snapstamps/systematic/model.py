"""The subscription: what a systematic processing keeps up to date (a typed, validated spec).

A subscription names a Sentinel-1 IW SLC collection of a STAC API, an area of interest (a W S E N
box or a GeoJSON polygon), one track (relative orbit, optionally the pass), the sub-swaths (or
``None``: those of the reference covering the AOI, decided once), the polarisation, the reference
date (a fixed date, or ``"auto"``: the stack-overview suggestion among the first ``min_dates``
dates), the first date, when psi runs (a minimum number of dates, then every ``every`` new dates),
the psi parameters (StaMPS names, validated by :class:`snapstamps.psi.config.PsiParams`), the DEM
and orbits of the interferogram stack, and where the results are published (a local folder or an
``s3://`` prefix).

Everything is validated when the subscription is created: an unknown field, a bad bbox, an
unknown psi parameter or an unreadable value is a one-line :class:`SubscriptionError`.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ..errors import ParameterError, SnapstampsError

__all__ = ["PsiTrigger", "RetryPolicy", "Subscription", "SubscriptionError", "load_subscription"]

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


class SubscriptionError(SnapstampsError):
    """A subscription spec is invalid, unknown, or cannot be changed as asked."""


class PsiTrigger(BaseModel):
    """When psi runs: once the stack has ``min_dates`` dates, then whenever ``every`` new dates were added.

    Dates count the reference: a stack of ``n`` dates has ``n - 1`` interferograms per sub-swath.
    ``every = 1`` runs psi on every new date.
    """

    model_config = ConfigDict(extra="forbid")

    min_dates: int = Field(6, ge=3, le=10000, description="dates (reference included) of the first psi run")
    every: int = Field(1, ge=1, le=10000, description="new dates between two psi runs")


class RetryPolicy(BaseModel):
    """Backoff of a failed date: retried after ``base_minutes * 2**(attempts-1)``, capped, up to ``max_attempts``."""

    model_config = ConfigDict(extra="forbid")

    base_minutes: float = Field(60.0, ge=0, le=100000)
    max_minutes: float = Field(7 * 24 * 60.0, ge=0, le=1000000)
    max_attempts: int = Field(8, ge=1, le=1000)

    def delay(self, attempts: int) -> dt.timedelta:
        """How long to wait after the ``attempts``-th failure."""
        minutes = min(self.max_minutes, self.base_minutes * 2.0 ** max(0, attempts - 1))
        return dt.timedelta(minutes=minutes)


def _polygon_bbox(geom: dict[str, Any]) -> tuple[float, float, float, float]:
    """W S E N of a GeoJSON Polygon or MultiPolygon (or a Feature holding one), validated with shapely."""
    from shapely.geometry import shape

    if geom.get("type") == "Feature":
        geom = geom.get("geometry") or {}
    if geom.get("type") not in ("Polygon", "MultiPolygon"):
        raise ValueError(f"aoi: a GeoJSON Polygon or MultiPolygon is needed, not {geom.get('type')!r}")
    try:
        g = shape(geom)
    except Exception as exc:  # shapely raises several kinds on malformed coordinates
        raise ValueError(f"aoi: malformed GeoJSON {geom.get('type')} ({exc})") from None
    if g.is_empty or not g.is_valid:
        raise ValueError("aoi: the polygon is empty or invalid (self-intersecting?)")
    w, s, e, n = (float(v) for v in g.bounds)
    return w, s, e, n


class Subscription(BaseModel):
    """The spec of one subscription (JSON, as ``snapstamps systematic add`` and the service take it)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(..., description="identifier: lower-case letters, digits, '-' and '_' (used in paths and URLs)")
    stac_api: str = Field(..., description="URL of the STAC API (http or https)")
    collection: str = Field("sentinel-1-slc", min_length=1, max_length=200)
    aoi: list[float] | dict[str, Any] = Field(..., description="W S E N (degrees, EPSG:4326) or a GeoJSON Polygon/MultiPolygon")
    relative_orbit: int = Field(..., ge=1, le=175)
    orbit_state: Literal["ascending", "descending"] | None = None
    subswaths: list[Literal["IW1", "IW2", "IW3"]] | None = Field(
        None, description="sub-swaths to process; default: those of the reference covering the AOI")
    polarisation: Literal["VV", "VH", "HH", "HV"] = "VV"
    reference: dt.date | Literal["auto"] = Field(
        "auto", description="reference date, or 'auto': the stack-overview suggestion among the first min_dates dates")
    start: dt.date = Field(..., description="first acquisition date taken")
    trigger: PsiTrigger = Field(default_factory=PsiTrigger)
    psi_params: dict[str, Any] = Field(default_factory=dict, description="StaMPS parameters (names or unique prefixes)")
    dem: str = Field("auto", description="DEM GeoTIFF on this machine, or 'auto' (Copernicus GLO-30 downloaded once)")
    orbits: str | None = Field(None, description="folder of EOF files; default: the annotation orbit")
    download_orbits: bool = False
    destination: str | None = Field(None, description="local folder or s3://bucket/prefix; default DATA/subscriptions/NAME/public")
    quicklooks: bool = Field(True, description="quicklooks, velocity COGs, report and viewer with every psi version")
    interval_minutes: int = Field(720, ge=1, le=525600, description="time between scheduled ticks (service)")
    retry: RetryPolicy = Field(default_factory=RetryPolicy)
    max_items: int = Field(1000, ge=1, le=100000, description="most catalog items read per search")

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not NAME_RE.match(v):
            raise ValueError("must be 1-63 lower-case letters, digits, '-' or '_', starting with a letter or digit")
        return v

    @field_validator("stac_api")
    @classmethod
    def _url(cls, v: str) -> str:
        from urllib.parse import urlparse

        u = urlparse(v)
        if u.scheme not in ("http", "https") or not u.netloc:
            raise ValueError("must be an http(s):// URL")
        return v

    @field_validator("aoi")
    @classmethod
    def _aoi(cls, v: list[float] | dict[str, Any]) -> list[float] | dict[str, Any]:
        if isinstance(v, list):
            if len(v) != 4:
                raise ValueError("a bbox is 4 numbers W S E N")
            w, s, e, n = v
            if not (-180 <= w < e <= 180 and -90 <= s < n <= 90):
                raise ValueError("bbox must be W S E N with -180 <= W < E <= 180 and -90 <= S < N <= 90")
            return [float(x) for x in v]
        w, s, e, n = _polygon_bbox(v)
        if not (-180 <= w < e <= 180 and -90 <= s < n <= 90):
            raise ValueError("the polygon must lie within -180..180, -90..90 degrees")
        return v

    @field_validator("psi_params")
    @classmethod
    def _psi(cls, v: dict[str, Any]) -> dict[str, Any]:
        from ..psi.config import PsiParams, resolve_name

        try:
            names = {resolve_name(k): val for k, val in v.items()}
            PsiParams().with_updates(names)
        except ParameterError as exc:
            raise ValueError(str(exc)) from None
        return names

    @field_validator("destination")
    @classmethod
    def _dest(cls, v: str | None) -> str | None:
        if v is None:
            return v
        if v.startswith("s3://"):
            if len(v) <= 5 or v[5] == "/":
                raise ValueError("s3:// destination needs a bucket")
            return v.rstrip("/")
        if "://" in v:
            raise ValueError("a local folder or an s3:// prefix")
        if not Path(v).is_absolute():
            raise ValueError("a local destination must be an absolute path")
        return v

    @model_validator(mode="after")
    def _check(self) -> "Subscription":
        if isinstance(self.reference, dt.date) and self.reference < self.start:
            raise ValueError("reference is before start")
        if self.subswaths is not None:
            if not self.subswaths:
                raise ValueError("subswaths: give at least one, or omit it for automatic")
            self.subswaths = sorted(set(self.subswaths))
        return self

    # ------------------------------------------------------------------ derived
    @property
    def bbox(self) -> tuple[float, float, float, float]:
        """W S E N of the AOI."""
        if isinstance(self.aoi, list):
            w, s, e, n = self.aoi
            return w, s, e, n
        return _polygon_bbox(self.aoi)

    @property
    def psi_updates(self) -> dict[str, Any]:
        """The psi parameters as ``run_psi`` takes them."""
        return dict(self.psi_params)

    def to_json(self) -> str:
        return json.dumps(self.model_dump(mode="json"), indent=2, sort_keys=True)


def load_subscription(data: dict[str, Any] | str) -> Subscription:
    """A :class:`Subscription` from a dict or JSON text; a one-line :class:`SubscriptionError` when invalid."""
    if isinstance(data, str):
        try:
            data = json.loads(data)
        except json.JSONDecodeError as exc:
            raise SubscriptionError(f"subscription: not JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(data, dict):
        raise SubscriptionError("subscription: a JSON object is needed")
    try:
        return Subscription.model_validate(data)
    except ValidationError as exc:
        e = exc.errors()[0]
        where = ".".join(str(x) for x in e["loc"]) or "subscription"
        msg = e["msg"].removeprefix("Value error, ")
        raise SubscriptionError(f"subscription: {where}: {msg}") from None
