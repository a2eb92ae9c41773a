"""STAC extension identifiers and the SAR / satellite / processing fields snapstamps writes.

Field names follow the sar v1.3.0, sat v1.2.0, processing v1.2.0, view v1.1.0, projection
v2.0.0 and product v1.0.0 extensions, and Terradue's InSAR proposal (insar v1.0.0) for
``insar:reference_datetime`` / ``insar:secondary_datetime`` / baselines.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from .. import __version__

EXT: dict[str, str] = {
    "sar": "https://stac-extensions.github.io/sar/v1.3.0/schema.json",
    "sat": "https://stac-extensions.github.io/sat/v1.2.0/schema.json",
    "processing": "https://stac-extensions.github.io/processing/v1.2.0/schema.json",
    "view": "https://stac-extensions.github.io/view/v1.1.0/schema.json",
    "projection": "https://stac-extensions.github.io/projection/v2.0.0/schema.json",
    "product": "https://stac-extensions.github.io/product/v1.0.0/schema.json",
    "file": "https://stac-extensions.github.io/file/v2.1.0/schema.json",
    "insar": "https://stac-extensions.github.io/insar/v1.0.0/schema.json",
    "raster": "https://stac-extensions.github.io/raster/v1.1.0/schema.json",
}

#: Sentinel-1 C-band centre frequency (GHz).
S1_CENTER_FREQUENCY_GHZ = 5.405


def iso(value: dt.date | dt.datetime | str) -> str:
    """RFC 3339 UTC timestamp of a date (midnight) or datetime."""
    if isinstance(value, str):
        value = dt.date.fromisoformat(value[:10]) if len(value) <= 10 else dt.datetime.fromisoformat(value)
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.timezone.utc)
        return value.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return f"{value:%Y-%m-%d}T00:00:00Z"


def sar_fields(polarisation: str | None = None, swath: str | None = None) -> dict[str, Any]:
    """``sar:*`` fields of a Sentinel-1 IW product."""
    out: dict[str, Any] = {
        "sar:instrument_mode": "IW",
        "sar:frequency_band": "C",
        "sar:center_frequency": S1_CENTER_FREQUENCY_GHZ,
        "sar:observation_direction": "right",
    }
    if polarisation:
        out["sar:polarizations"] = [polarisation]
    if swath:
        out["sar:beam_ids"] = [swath]
    return out


def orbit_state(heading_deg: float | None) -> str | None:
    """``ascending`` / ``descending`` from the satellite heading (degrees from north)."""
    if heading_deg is None:
        return None
    h = ((float(heading_deg) + 180.0) % 360.0) - 180.0
    return "ascending" if abs(h) < 90.0 else "descending"


def platform(sensor: str | None) -> str | None:
    """STAC ``platform`` (``sentinel-1a``) from a sensor name such as ``SENTINEL-1A``."""
    if not sensor:
        return None
    return sensor.split()[0].strip().lower() or None


def processing_fields(lineage: str, level: str = "L3") -> dict[str, Any]:
    """``processing:*`` provenance fields for a product made by this snapstamps version."""
    return {
        "processing:level": level,
        "processing:lineage": lineage,
        "processing:facility": "snapstamps",
        "processing:software": {"snapstamps": __version__},
        "processing:version": __version__,
        "processing:datetime": iso(dt.datetime.now(dt.timezone.utc).replace(microsecond=0)),
    }
