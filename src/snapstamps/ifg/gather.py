"""Gather single-pair ``ifg-stack`` outputs into one ``INSAR_<reference>/`` (the CWL scatter's join).

A CWL workflow scatters ``ifg-stack`` over secondary x sub-swath, each run with one
``--secondary``.  :func:`gather_pairs` merges the runs of one reference and one sub-swath: the
reference ``rslc`` and ``geo/`` once, every secondary's ``rslc``, ``diff0`` interferogram, ``.par``
and ``.base``.  The runs must agree (same reference product, sub-swath, polarisation, grid size and
position, deburst plan, and byte-identical reference SLC and geometry); otherwise a one-line
:class:`InputError` names the run at fault.  Every pair is computed independently of the others,
so the result is byte-identical to one multi-pair run.
"""

from __future__ import annotations

import filecmp
import json
import logging
import os
import shutil
from pathlib import Path

from ..errors import InputError
from ..io.atomic import atomic_dir, atomic_write_text

__all__ = ["gather_pairs"]

log = logging.getLogger("snapstamps")

_SAME_KEYS = ("reference", "subswath", "polarisation", "first_sample", "n_samples", "n_lines", "deburst", "deramp")


def _load(run: Path) -> tuple[dict, Path]:
    """The summary and ``INSAR_*`` folder of one ``ifg-stack`` output folder."""
    run = Path(run)
    js = run / "ifg_stack.json"
    if not js.is_file():
        raise InputError(f"{run}: not an ifg-stack output (no ifg_stack.json)")
    try:
        summary = json.loads(js.read_text())
    except json.JSONDecodeError as exc:
        raise InputError(f"{js}: unreadable ({exc})") from None
    insar = sorted(run.glob("INSAR_*"))
    if len(insar) != 1 or not insar[0].is_dir():
        raise InputError(f"{run}: expected exactly one INSAR_<reference> folder, found {len(insar)}")
    return summary, insar[0]


def _copier(link: bool):
    """``shutil.copyfile``, or a hard link where the file system allows (``link``)."""
    if not link:
        return shutil.copyfile

    def put(src: Path, dst: Path) -> None:
        try:
            os.link(src, dst)
        except OSError:
            shutil.copyfile(src, dst)

    return put


def gather_pairs(runs: list[Path], out: Path, link: bool = False) -> Path:
    """Merge the ``ifg-stack`` outputs ``runs`` into ``out/INSAR_<reference>/``; returns that folder.

    A run may hold several pairs (an earlier gathered stack is a run too: that is how a stack is
    extended).  With ``link`` the files are hard-linked where possible instead of copied (they are
    never modified in place, so a stack extended this way shares its files with the old one).
    """
    copy = _copier(link)
    if not runs:
        raise InputError("ifg-stack-gather: no pair outputs given")
    loaded = [_load(r) for r in runs]
    s0, insar0 = loaded[0]
    ref_name = insar0.name
    rs = ref_name.removeprefix("INSAR_")
    for (s, insar), run in zip(loaded[1:], runs[1:]):
        if insar.name != ref_name:
            raise InputError(f"{run}: reference date {insar.name.removeprefix('INSAR_')} differs from {rs} of {runs[0]}")
        for k in _SAME_KEYS:
            if s.get(k) != s0.get(k):
                what = {"deburst": "deburst plan (AOI or bursts)", "first_sample": "grid position", "n_samples": "grid size", "n_lines": "grid size"}.get(k, k)
                raise InputError(f"{run}: {what} differs from {runs[0]} ({k}: {s.get(k)!r} vs {s0.get(k)!r})")
        for rel in (f"rslc/{rs}.rslc", f"rslc/{rs}.rslc.par", f"geo/{rs}.lon", f"geo/{rs}.lat", f"geo/{rs}_dem.rdc"):
            a, b = insar0 / rel, insar / rel
            if not b.is_file():
                raise InputError(f"{b}: missing")
            if not filecmp.cmp(a, b, shallow=False):
                raise InputError(f"{run}: {rel} differs from {runs[0]} (another reference, geometry or DEM)")
    pairs: dict[str, tuple[dict, Path]] = {}
    for (s, insar), run in zip(loaded, runs):
        for p in s["pairs"]:
            ds = p["date"].replace("-", "")
            if ds in pairs:
                raise InputError(f"{run}: secondary {ds} is also in {pairs[ds][1].parent}")
            pairs[ds] = (p, insar)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    dest = out / ref_name
    with atomic_dir(dest) as tmp:
        for d in ("rslc", "diff0", "geo", "dem"):
            (tmp / d).mkdir()
        for f in (insar0 / "rslc").glob(f"{rs}.rslc*"):
            copy(f, tmp / "rslc" / f.name)
        for f in (insar0 / "geo").iterdir():
            copy(f, tmp / "geo" / f.name)
        for f in (insar0 / "dem").iterdir() if (insar0 / "dem").is_dir() else ():  # a catalog drops the empty dem/
            copy(f, tmp / "dem" / f.name)
        for ds, (p, insar) in sorted(pairs.items()):
            files = [insar / "rslc" / f"{ds}.rslc", insar / "rslc" / f"{ds}.rslc.par"] + [insar / "diff0" / f"{rs}_{ds}{x}" for x in (".diff", ".diff.par", ".base")]
            for f in files:
                if not f.is_file():
                    raise InputError(f"{f}: missing")
                copy(f, tmp / f.parent.name / f.name)
            log.info("gathered %s-%s", rs, ds)
    summary = {k: s0[k] for k in s0 if k not in ("pairs", "seconds", "stage_seconds", "insar_dir")}
    summary["insar_dir"] = str(dest)
    summary["pairs"] = [p for _, (p, _) in sorted(pairs.items())]
    summary["gathered_from"] = [str(r) for r in runs]
    atomic_write_text(out / "ifg_stack.json", json.dumps(summary, indent=2, default=str) + "\n")
    return dest
