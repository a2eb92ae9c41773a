"""Extend an interferogram stack with new secondaries, same reference, nothing recomputed.

A stack catalog (:func:`snapstamps.stac.ifg.build_ifg_stack_catalog`) holds, per sub-swath, a
gathered folder (``INSAR_<ref>/`` and ``ifg_stack.json``, which records the AOI, DEM, orbits and
block size the stack was made with).  Extending it:

1. each new pair (reference x new date, per sub-swath) is computed on its own with
   :func:`run_pair`: ``ifg-stack`` with that one secondary, into a temporary folder renamed to its
   final name once complete (so a pair folder that exists is a finished pair);
2. :func:`extend_stack_catalog` gathers the old stack and the new pair folders
   (:func:`snapstamps.ifg.gather.gather_pairs`, hard links: the old pairs are neither recomputed nor
   copied; the reference SLC and geometry of every new pair must be byte-identical to the stack's,
   so the reference, AOI, DEM and grid are the same) and publishes the new catalog in one rename.

:func:`extend_ifg_stack` does both for a user (``snapstamps ifg-stack-extend``); the subscription
tick (:mod:`snapstamps.systematic.tick`) calls the two steps itself, recording each pair.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import InputError

__all__ = ["PairSettings", "extend_ifg_stack", "extend_stack_catalog", "run_pair", "settings_of_stack"]

log = logging.getLogger("snapstamps")


@dataclass(frozen=True)
class PairSettings:
    """What every pair of one stack shares (the grid depends on all of it)."""

    polarisation: str
    bbox: tuple[float, float, float, float]
    dem: str
    orbits: str | None = None
    esd: bool | None = None
    block_lines: int = 256
    download_orbits: bool = False


def settings_of_stack(summary: dict[str, Any], **override: Any) -> PairSettings:
    """The :class:`PairSettings` recorded in a stack's ``ifg_stack.json``, with ``override`` (non-None) applied."""
    over = {k: v for k, v in override.items() if v is not None}
    base: dict[str, Any] = {
        "polarisation": summary.get("polarisation"),
        "bbox": tuple(summary["bbox"]) if summary.get("bbox") else None,
        "dem": summary.get("dem"),
        "orbits": summary.get("orbits"),
        "esd": summary.get("esd"),
        "block_lines": summary.get("block_lines", 256),
    }
    base.update(over)
    for key, flag in (("bbox", "--bbox"), ("dem", "--dem")):
        if not base.get(key):
            raise InputError(f"the stack does not record its {key} (made before stacks could be extended); give {flag}")
    base["bbox"] = tuple(float(v) for v in base["bbox"])
    return PairSettings(**base)


def run_pair(reference: list[Path], secondary: list[Path], swath: str, settings: PairSettings, final: Path) -> dict[str, Any]:
    """Compute one pair (``reference`` x ``secondary``, the slices of one date each) into ``final``.

    The pair is built in a hidden sibling folder and renamed to ``final`` when complete; an
    existing ``final`` is a finished pair and is returned as is.  Returns its ``ifg_stack.json``.
    """
    from .ifg_stack import IfgStackOptions, run_ifg_stack

    final = Path(final)
    if (final / "ifg_stack.json").is_file():
        return json.loads((final / "ifg_stack.json").read_text())
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.with_name(f".{final.name}.tmp-{uuid.uuid4().hex[:12]}")
    try:
        summary = run_ifg_stack(IfgStackOptions(
            reference=list(reference), secondaries=list(secondary), subswaths=[swath], polarisation=settings.polarisation,
            bbox=settings.bbox, dem=settings.dem, orbits_dir=Path(settings.orbits) if settings.orbits else None,
            esd=settings.esd, out=tmp, block_lines=settings.block_lines, download_orbits=settings.download_orbits))
        shutil.rmtree(tmp / ".safe-cache", ignore_errors=True)
        os.replace(tmp, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    summary["insar_dir"] = str(final / Path(summary["insar_dir"]).name)
    return summary


def extend_stack_catalog(catalog: Path | None, new_runs: dict[str, list[Path]], out_dir: Path,
                         input_items: dict[str, str] | None = None, catalog_id: str | None = None) -> Path:
    """Publish into ``out_dir`` the stack of ``catalog`` (None: a new stack) plus the pair folders ``new_runs``.

    ``new_runs``: ``{sub-swath: [ifg-stack output folders]}``.  Old and new files are hard-linked,
    never copied where the file system allows; ``out_dir`` may be the folder of ``catalog`` (it is
    replaced in one rename).  Returns the new ``catalog.json``.
    """
    import pystac

    from ..ifg.gather import gather_pairs
    from ..stac.ifg import build_ifg_stack_catalog, read_ifg_stack_catalog

    folders: dict[str, Path] = {}
    inputs: dict[str, str] = {}
    if catalog is not None:
        folders, inputs = read_ifg_stack_catalog(Path(catalog))
        cat_file = Path(catalog) / "catalog.json" if Path(catalog).is_dir() else Path(catalog)
        catalog_id = catalog_id or pystac.read_file(str(cat_file.resolve())).id
    inputs.update(input_items or {})
    swaths = sorted(set(folders) | {s for s, r in new_runs.items() if r})
    if not swaths:
        raise InputError("nothing to publish: no stack and no new pairs")
    out_dir = Path(out_dir).absolute()
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.extend-", dir=out_dir.parent))
    try:
        gathered = []
        for sw in swaths:
            runs = ([folders[sw]] if sw in folders else []) + [Path(r) for r in new_runs.get(sw, [])]
            if len(runs) == 1 and sw in folders:
                gathered.append(folders[sw])  # unchanged sub-swath: published as it is (hard links)
                continue
            g = work / sw
            gather_pairs(runs, g, link=True)
            gathered.append(g)
        return build_ifg_stack_catalog(gathered, out_dir, inputs, catalog_id=catalog_id)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _date_of(product: Path) -> str:
    from ..ifg.safe import product_info, resolve_safe

    return str(product_info(resolve_safe(Path(product))).date)


def extend_ifg_stack(catalog: Path, secondaries: list[Path], out_dir: Path, reference: list[Path] | None = None,
                     bbox: tuple[float, float, float, float] | None = None, dem: str | None = None,
                     orbits: str | None = None, download_orbits: bool = False) -> dict[str, Any]:
    """Add the pairs of ``secondaries`` (SAFEs or STAC items, slices of a date grouped) to the stack ``catalog``.

    The reference is the stack's: its SAFE is ``reference`` or, when omitted, the input item the
    stack catalog links to.  Dates already in the stack are skipped.  The extended catalog is
    written to ``out_dir`` (may be the catalog's own folder).  Returns ``{"catalog", "added",
    "skipped"}``.
    """
    from ..stac.ifg import gathered_summary, read_ifg_stack_catalog
    from ..stac.slc import resolve_slc

    folders, inputs = read_ifg_stack_catalog(Path(catalog))
    summaries = {sw: gathered_summary(f)[0] for sw, f in folders.items()}
    s0 = next(iter(summaries.values()))
    if reference:
        refs = [resolve_slc(r).safe for r in reference]
    else:
        href = inputs.get(str(s0.get("reference")))
        if not href:
            raise InputError(f"{catalog}: the stack catalog does not link its reference SLC; give --reference")
        refs = [resolve_slc(href).safe]
    ref_names = {Path(r).name.removesuffix(".zip") for r in refs}
    if str(s0.get("reference", "")).removesuffix(".zip") not in ref_names:
        raise InputError(f"--reference: {', '.join(sorted(ref_names))} is not the stack's reference {s0.get('reference')}")
    resolved = [resolve_slc(s) for s in secondaries]
    by_date: dict[str, list[Path]] = {}
    for r in resolved:
        by_date.setdefault(_date_of(Path(r.safe)), []).append(Path(r.safe))
        inputs[r.product] = r.item_href
    out_dir = Path(out_dir).absolute()
    pair_root = out_dir.parent / f".{out_dir.name}.pairs"
    new_runs: dict[str, list[Path]] = {}
    added, skipped = [], []
    for sw, summary in sorted(summaries.items()):
        settings = settings_of_stack(summary, bbox=bbox, dem=dem, orbits=orbits)
        settings = PairSettings(**{**settings.__dict__, "download_orbits": download_orbits})
        have = {p["date"] for p in summary.get("pairs", [])}
        for d, prods in sorted(by_date.items()):
            if d in have:
                skipped.append(f"{sw}:{d}")
                log.info("%s %s: already in the stack, skipped", sw, d)
                continue
            final = pair_root / sw / d.replace("-", "")
            run_pair(refs, prods, sw, settings, final)
            new_runs.setdefault(sw, []).append(final)
            added.append(f"{sw}:{d}")
            log.info("%s %s: pair computed", sw, d)
    cat_file = Path(catalog) / "catalog.json" if Path(catalog).is_dir() else Path(catalog)
    if new_runs or cat_file.resolve().parent != out_dir.resolve():
        cat_file = extend_stack_catalog(Path(catalog), new_runs, out_dir, inputs)  # nothing new: a copy at out_dir
    shutil.rmtree(pair_root, ignore_errors=True)
    return {"catalog": str(cat_file), "added": added, "skipped": skipped}
