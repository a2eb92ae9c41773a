#!/usr/bin/env python3
"""Write the STAC collections snapstamps publishes into ``stac/collections/<name>.json``.

The documents come from :func:`snapstamps.stac.collections.collection_definitions`;
``tests/test_systematic.py`` fails when the files are stale or invalid.

Usage::

    python scripts/write_stac_collections.py            # (re)write stac/collections/*.json
    python scripts/write_stac_collections.py --check    # exit 1 if a file is stale
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from snapstamps.stac.collections import collection_definitions

ROOT = Path(__file__).resolve().parents[1] / "stac" / "collections"


def rendered() -> dict[str, str]:
    """``{file name: JSON text}`` of every definition."""
    return {f"{name}.json": json.dumps(doc, indent=2) + "\n" for name, doc in collection_definitions().items()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="exit 1 when a file differs from the definitions")
    args = ap.parse_args()
    stale = []
    for name, text in rendered().items():
        path = ROOT / name
        if args.check:
            if not path.is_file() or path.read_text() != text:
                stale.append(name)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        print(path)
    if stale:
        print(f"stale: {', '.join(stale)} (run python scripts/write_stac_collections.py)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
