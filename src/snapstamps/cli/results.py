"""``snapstamps quicklooks`` and ``snapstamps viewer export``: what a psi result is looked at with."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def cmd_viewer_export(args: argparse.Namespace) -> int:
    """``viewer export``: write the static viewer folder and print its index.html."""
    from ..results.viewer import export_viewer

    index = export_viewer(Path(args.result_dir), Path(args.out_dir), tiles_url=args.tiles,
                          tiles_attribution=args.tiles_attribution, title=args.title)
    print(index)
    return 0


def cmd_quicklooks(args: argparse.Namespace) -> int:
    """``quicklooks``: quicklook PNGs, velocity COGs, report (and viewer); print them with their roles."""
    from ..results.derived import make_job_outputs

    assets = make_job_outputs(Path(args.result_dir), Path(args.out) if args.out else None,
                              viewer=not args.no_viewer, tiles_url=args.tiles)
    for a in assets:
        print(f"{a.key}: {a.path} [{', '.join(a.roles)}]")
    return 0


def add_commands(sub: Any) -> None:
    """Register ``viewer export`` and ``quicklooks``."""
    v = sub.add_parser("viewer", help="web viewer of a psi result")
    vsub = v.add_subparsers(dest="viewer_command", required=True)
    e = vsub.add_parser("export", help="write the viewer as a static folder (open OUT_DIR/index.html; no network)")
    e.add_argument("result_dir", metavar="RESULT_DIR",
                   help="psi output directory (ps_points.parquet/.csv, psi_metadata.json)")
    e.add_argument("out_dir", metavar="OUT_DIR", help="folder to write")
    e.add_argument("--tiles", metavar="URL", default=None,
                   help="XYZ tile URL template for the background, e.g. https://host/{z}/{x}/{y}.png "
                        "(default: hillshade of the stack DEM; nothing fetched)")
    e.add_argument("--tiles-attribution", metavar="TEXT", default=None, help="attribution shown for --tiles")
    e.add_argument("--title", default=None, help="page title")
    e.set_defaults(func=cmd_viewer_export)

    q = sub.add_parser("quicklooks", help="quicklook PNGs, velocity COGs, HTML report and viewer of a psi result")
    q.add_argument("result_dir", metavar="RESULT_DIR", help="psi output directory")
    q.add_argument("--out", default=None, help="output folder (default: RESULT_DIR)")
    q.add_argument("--no-viewer", action="store_true", help="do not write the viewer folder")
    q.add_argument("--tiles", metavar="URL", default=None, help="XYZ tile URL template for the viewer background")
    q.set_defaults(func=cmd_quicklooks)
