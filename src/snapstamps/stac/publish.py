"""Atomic publication of a static STAC catalog: write aside, then move into place."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any


def save_catalog_atomic(catalog: Any, out_dir: Path, files: dict[str, Path] | None = None,
                        texts: dict[str, str] | None = None, hardlink: bool = False) -> Path:
    """Save ``catalog`` (self-contained, relative links) into ``out_dir``; return its ``catalog.json``.

    Everything is written into a hidden sibling directory first: ``files`` (``{relative path:
    source}``) are copied there and ``texts`` (``{relative path: content}``) written, the
    catalog is normalised and saved, and only then is the directory renamed to ``out_dir``.  A reader therefore sees either no catalog or the complete
    one, never a catalog whose assets are still being written.  An existing ``out_dir`` is
    replaced.  With ``hardlink``, ``files`` are hard-linked where the file system allows (large
    stacks are not duplicated) and copied otherwise.
    """
    import pystac

    out_dir = Path(out_dir).absolute()
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", suffix=".tmp", dir=out_dir.parent))
    try:
        for rel, src in (files or {}).items():
            dst = tmp / rel
            dst.parent.mkdir(parents=True, exist_ok=True)
            if hardlink:
                try:
                    os.link(src, dst)
                    continue
                except OSError:
                    pass
            shutil.copy2(src, dst)
        for rel, text in (texts or {}).items():
            dst = tmp / rel
            dst.parent.mkdir(parents=True, exist_ok=True)
            dst.write_text(text, encoding="utf-8")
        catalog.normalize_hrefs(str(tmp) + os.sep)  # trailing sep: a dotted name is not a file
        _relativise_assets(catalog, tmp, out_dir)
        catalog.save(catalog_type=pystac.CatalogType.SELF_CONTAINED)
        old = None
        if out_dir.exists():
            old = out_dir.with_name(f".{out_dir.name}.old-{os.getpid()}")
            os.replace(out_dir, old)
        os.replace(tmp, out_dir)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out_dir / "catalog.json"


def _relativise_assets(catalog: Any, tmp: Path, final: Path) -> None:
    """Assets copied into the catalog get hrefs relative to their item; others stay absolute."""
    for item in catalog.get_items(recursive=True):
        item_dir = Path(item.get_self_href()).parent
        for asset in item.assets.values():
            href = asset.href
            if "://" in href:
                continue
            p = Path(href)
            if not p.is_absolute():
                continue
            try:
                p.relative_to(tmp)
            except ValueError:
                continue
            asset.href = os.path.relpath(p, item_dir)
