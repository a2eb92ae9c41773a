"""The STAC collections snapstamps publishes: interferogram stacks, psi results, subscriptions.

:func:`collection_definitions` gives each as a STAC 1.1.0 Collection document (global extent,
open time range, the summaries and ``item_assets`` every catalog of that kind follows).  The
repository's top-level ``stac/collections/*.json`` are these documents, written by
``scripts/write_stac_collections.py`` (a test checks they are current and valid); a
subscription's own collection (:mod:`snapstamps.systematic.publish`) starts from the
``subscriptions`` definition, narrowed to its AOI, track and dates.
"""

from __future__ import annotations

from typing import Any

from .fields import EXT, S1_CENTER_FREQUENCY_GHZ

__all__ = ["collection_definitions", "SENTINEL_LICENSE_NOTE"]

SENTINEL_LICENSE_NOTE = ("Contains modified Copernicus Sentinel data processed by snapstamps; the Copernicus "
                         "Sentinel data terms apply (free, full and open access)")

_SAR_SUMMARIES: dict[str, Any] = {
    "constellation": ["sentinel-1"],
    "instruments": ["c-sar"],
    "sar:instrument_mode": ["IW"],
    "sar:frequency_band": ["C"],
    "sar:center_frequency": [S1_CENTER_FREQUENCY_GHZ],
    "sar:polarizations": ["VV", "VH", "HH", "HV"],
    "sar:beam_ids": ["IW1", "IW2", "IW3"],
    "sar:observation_direction": ["right"],
    "processing:facility": ["snapstamps"],
}


def _base(cid: str, title: str, description: str, keywords: list[str]) -> dict[str, Any]:
    return {
        "type": "Collection",
        "stac_version": "1.1.0",
        "stac_extensions": [EXT["sar"], EXT["processing"]],
        "id": cid,
        "title": title,
        "description": f"{description} {SENTINEL_LICENSE_NOTE}.",
        "keywords": ["Sentinel-1", "InSAR", *keywords],
        "license": "other",
        "providers": [{"name": "snapstamps", "roles": ["processor"], "processing:facility": "snapstamps",
                       "description": "open Sentinel-1 PSI service (SNAP-StaMPS compatible)"}],
        "extent": {"spatial": {"bbox": [[-180.0, -90.0, 180.0, 90.0]]}, "temporal": {"interval": [[None, None]]}},
        "summaries": dict(_SAR_SUMMARIES),
        "links": [],
    }


def collection_definitions() -> dict[str, dict[str, Any]]:
    """``{name: collection document}`` of the three kinds of results the service publishes."""
    stacks = _base(
        "snapstamps-interferogram-stacks", "snapstamps interferogram stacks",
        "Single-reference Sentinel-1 IW interferogram stacks in the layout of SNAP's StaMPS export "
        "(INSAR_<reference>/rslc, diff0, geo), one catalog per stack: a stack item per sub-swath holding the "
        "folder, and one item per reference/secondary/sub-swath pair with the coregistered secondary, the "
        "interferogram (topographic phase removed) and the InSAR baselines. A stack grows by pair items when "
        "it is extended (same reference).",
        ["interferogram", "stack", "StaMPS"])
    stacks["stac_extensions"].append(EXT["insar"])
    stacks["item_assets"] = {
        "stamps-export": {"title": "StaMPS export directory INSAR_<reference>", "roles": ["data", "stamps-export"]},
        "ifg_stack": {"title": "run summary (deburst plan, ESD shifts, baselines)", "type": "application/json",
                      "roles": ["metadata"]},
        "coregistered_secondary": {"title": "secondary resampled on the reference grid (complex float32, big-endian)",
                                   "type": "application/octet-stream", "roles": ["data", "magnitude"]},
        "interferogram": {"title": "interferogram, topographic phase removed (complex float32, big-endian)",
                          "type": "application/octet-stream", "roles": ["data", "phase"]},
        "baseline": {"title": "baseline file (TCN)", "type": "text/plain", "roles": ["metadata"]},
    }

    psi = _base(
        "snapstamps-psi-results", "snapstamps persistent scatterer results",
        "Persistent Scatterer Interferometry results (StaMPS PSI steps 1-8): per PS the mean LOS velocity "
        "(mm/yr, positive toward the satellite), its standard deviation, temporal coherence, height, DEM error "
        "and the displacement time series (mm, one column per date YYYYMMDD), as GeoParquet, CSV and StaMPS "
        ".xy exports, with quicklooks, velocity COGs (m/yr), a report and a web viewer.",
        ["PSI", "persistent scatterers", "ground motion", "velocity"])
    psi["summaries"]["snapstamps:los_sign"] = ["toward_satellite_positive"]
    psi["item_assets"] = {
        "ps_points_parquet": {"title": "PS points (GeoParquet)", "type": "application/vnd.apache.parquet",
                              "roles": ["data"]},
        "ps_points_csv": {"title": "PS points (CSV)", "type": "text/csv", "roles": ["data"]},
        "ps_mean_v": {"title": "lon, lat, mean LOS velocity (mm/yr)", "type": "text/plain", "roles": ["data"]},
    }

    subs = _base(
        "snapstamps-subscriptions", "snapstamps systematic processing",
        "One collection per subscription: an area of interest and a Sentinel-1 track kept up to date as "
        "acquisitions arrive. Its child catalogs are the interferogram stack (growing by pair items, same "
        "reference) and the psi results of every version; its items are the versions (dates covered, number "
        "of PS per sub-swath, psi parameters), linked by predecessor-version/successor-version, with a "
        "latest-version link on the collection and a stable latest/ folder holding the newest results.",
        ["PSI", "monitoring", "subscription"])
    subs["summaries"]["snapstamps:los_sign"] = ["toward_satellite_positive"]
    subs["item_assets"] = {
        "catalog": {"title": "psi result catalog of this version (one per sub-swath: catalog-<swath>)",
                    "type": "application/json", "roles": ["metadata"]},
        "points": {"title": "PS points of this version (GeoParquet; one per sub-swath: points-<swath>)",
                   "type": "application/vnd.apache.parquet", "roles": ["data"]},
    }
    return {"interferogram-stacks": stacks, "psi-results": psi, "subscriptions": subs}
