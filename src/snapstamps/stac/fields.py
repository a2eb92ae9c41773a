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


#: ``processing:level`` per item type.  L1: radar geometry, complex data (the coregistered SLC
#: stack, the wrapped interferograms); L2: geophysical variables at the measurement points (PS
#: velocities and time series, the StaMPS exports); L3: variables resampled on a map grid (the
#: velocity COGs).
PROCESSING_LEVELS = {"stack": "L1", "interferogram": "L1", "ps-points": "L2", "stamps-exports": "L2",
                     "rasters": "L3"}


def relative_orbit(product_name: str) -> int | None:
    """Relative orbit (track) of a Sentinel-1A/B product from the absolute orbit in its name."""
    import re

    m = re.match(r"S1([AB])_\w{2}_\w{4}_\w{4}_\d{8}T\d{6}_\d{8}T\d{6}_(\d{6})_", product_name or "")
    if not m:
        return None
    offset = {"A": 73, "B": 27}[m.group(1)]
    return (int(m.group(2)) - offset) % 175 + 1


def stack_summary_fields(summary: dict[str, Any]) -> dict[str, Any]:
    """Stack facts of an ``ifg_stack.json``: polarisation, swath, relative orbit, orbit state, platform."""
    out: dict[str, Any] = {}
    if summary.get("polarisation"):
        out["polarisation"] = str(summary["polarisation"])
    if summary.get("subswath"):
        out["swath"] = str(summary["subswath"])
    ref = str(summary.get("reference") or "")
    rel = summary.get("relative_orbit") or relative_orbit(ref)
    if rel:
        out["relative_orbit"] = int(rel)
    if summary.get("pass"):
        out["orbit_state"] = str(summary["pass"]).lower()
    plat = summary.get("platform") or (ref[:3] if ref.startswith("S1") else None)
    if plat:
        out["platform"] = f"sentinel-1{str(plat)[-1].lower()}"
    return out


def file_fields(path: Any) -> dict[str, Any]:
    """``file:size`` and ``file:checksum`` (SHA2-256 multihash, hex) of a file (file v2.1.0)."""
    import hashlib
    from pathlib import Path

    p = Path(path)
    h = hashlib.sha256()
    with open(p, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return {"file:size": p.stat().st_size, "file:checksum": "1220" + h.hexdigest()}


def processing_fields(lineage: str, level: str = "L3") -> dict[str, Any]:
    """``processing:*`` provenance fields for a product made by this snapstamps version (``level``:
    see :data:`PROCESSING_LEVELS`)."""
    return {
        "processing:level": level,
        "processing:lineage": lineage,
        "processing:facility": "snapstamps",
        "processing:software": {"snapstamps": __version__},
        "processing:version": __version__,
        "processing:datetime": iso(dt.datetime.now(dt.timezone.utc).replace(microsecond=0)),
    }
