"""``snapstamps import``: existing StaMPS results into the project's products, viewer and STAC."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def cmd_import(args: argparse.Namespace) -> int:
    """``import SOURCE --out DIR``: products, quicklooks, viewer and STAC of a StaMPS result."""
    from ..importers.stamps import import_stamps

    res = import_stamps(Path(args.source), Path(args.out), viewer=not args.no_viewer, stac=not args.no_stac, tiles_url=args.tiles)
    if args.json:
        print(json.dumps(res, indent=2))
        return 0
    print(f"{res['n_points']} points, {len(res['dates'])} dates -> {args.out}")
    for k, v in {**res["files"], **res["assets"]}.items():
        print(f"  {k}: {v}")
    if "catalog" in res:
        print(f"  catalog: {res['catalog']}")
    return 0


def add_commands(sub: Any) -> None:
    """Register ``import``."""
    p = sub.add_parser(
        "import", help="import a StaMPS result (StaMPS-Visualizer CSV export or StaMPS output folder) as products, viewer and STAC")
    p.add_argument("source", metavar="SOURCE",
                   help="StaMPS-Visualizer .csv export, or a StaMPS folder (ps_plot_ts_*.mat, or ps_mean_v.xy + ps_u-dm.<n>.xy + day.1.in)")
    p.add_argument("--out", required=True, help="output folder (ps_points.csv/.parquet, psi_metadata.json, quicklooks, viewer/, stac/)")
    p.add_argument("--no-viewer", action="store_true", help="do not write the viewer folder")
    p.add_argument("--no-stac", action="store_true", help="do not write the STAC catalog")
    p.add_argument("--tiles", metavar="URL", default=None, help="XYZ tile URL template for the viewer background")
    p.add_argument("--json", action="store_true", help="print the written files as JSON")
    p.set_defaults(func=cmd_import)
