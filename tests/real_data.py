"""Where the tests find the real Sentinel-1 fixtures (``../shared/data`` beside the checkout).

Nothing from there is committed: a test needing a folder calls :func:`real_dir` and is skipped,
saying why, on a clone without it.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
REAL_PIXELS = SHARED_DATA / "real-pixels"
S1_SAMPLES = SHARED_DATA / "s1-samples"


def real_dir(name: str, root: Path = REAL_PIXELS) -> Path:
    """``root/name``, or skip the test naming the missing folder."""
    p = root / name
    if not p.is_dir():
        pytest.skip(f"real-data fixture {p} absent (../shared/data is not beside this checkout)")
    return p


def read_zarr_v2(array_dir: Path) -> np.ndarray:
    """An uncompressed single-chunk Zarr v2 array (what SNAP's ZNAP writer produced here)."""
    meta = json.loads((array_dir / ".zarray").read_text())
    if meta.get("compressor") is not None or meta.get("filters"):
        raise ValueError(f"{array_dir}: compressed Zarr arrays are not read by this helper")
    if list(meta["chunks"]) != list(meta["shape"]):
        raise ValueError(f"{array_dir}: more than one chunk")
    name = ".".join("0" for _ in meta["shape"]) if meta.get("dimension_separator", ".") == "." else "/".join("0" for _ in meta["shape"])
    return np.fromfile(array_dir / name, dtype=np.dtype(meta["dtype"])).reshape(meta["shape"], order=meta.get("order", "C"))


# --------------------------------------------------------------------------- SNAP ZNAP metadata

def _snap_utc(att: dict) -> np.datetime64:
    """SNAP's ProductData.UTC ``[days, seconds, microseconds]`` since 2000-01-01 -> datetime64[ns]."""
    d, s, us = att["data"]["elems"]
    return np.datetime64("2000-01-01T00:00:00", "ns") + np.timedelta64(int(d), "D") + np.timedelta64(int(s), "s") + np.timedelta64(int(us), "us")


def _element(node: dict, name: str) -> dict:
    for e in node.get("elements", []):
        if e.get("name") == name:
            return e
    raise KeyError(name)


def _attr(node: dict, name: str):
    for a in node.get("attributes", []):
        if a.get("name") == name:
            return a
    raise KeyError(name)


def snap_value(node: dict, name: str):
    """A scalar attribute of a SNAP metadata element (UTC as datetime64, numbers as float/int, text as str)."""
    a = _attr(node, name)
    if a["data"]["type"] == "utc":
        return _snap_utc(a)
    e = a["data"]["elems"]
    return e[0] if isinstance(e, list) else e


def snap_orbit(node: dict, epoch: np.datetime64):
    """The ``Orbit_State_Vectors`` of an Abstracted_Metadata-like element as StateVectors."""
    from snapstamps.ifg.orbits import StateVectors, to_seconds

    osv = _element(node, "Orbit_State_Vectors")
    t, p, v = [], [], []
    for e in osv["elements"]:
        t.append(snap_value(e, "time"))
        p.append([snap_value(e, k) for k in ("x_pos", "y_pos", "z_pos")])
        v.append([snap_value(e, k) for k in ("x_vel", "y_vel", "z_vel")])
    return StateVectors(np.datetime64(epoch, "ns"), to_seconds(np.array(t), epoch), np.array(p, float), np.array(v, float), "SNAP metadata")


def snap_metadata(znap: Path) -> tuple[dict, dict | None]:
    """(Abstracted_Metadata of the reference, that of the secondary or None) of a SNAP ZNAP product."""
    root = json.loads((znap / "SNAP" / "product_metadata.json").read_text())
    nodes = root if isinstance(root, list) else [root]
    am = next(n for n in nodes if n.get("name") == "Abstracted_Metadata")
    sec = None
    for n in nodes:
        if n.get("name") == "Slave_Metadata":
            kids = n.get("elements", [])
            sec = kids[0] if kids else None
    return am, sec
