"""``snapstamps psi``, ``psi-params`` and ``demo``: the PSI engine on a stack."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from ..backends.dispatch import PSI_BACKENDS
from ..errors import SnapstampsError


def _assignments(items: list[str] | None) -> list[tuple[str, dict[str, Any]]]:
    """``NAME=VALUE`` arguments as sources for :func:`~snapstamps.psi.config.merge_updates`."""
    from ..psi.config import parse_assignment

    return [(f"--param {item}", dict([parse_assignment(item)])) for item in items or []]


def psi_updates(args: argparse.Namespace) -> dict[str, Any]:
    """The one set of parameter updates of a ``psi`` command line.

    ``--params FILE``, each ``--param NAME=VALUE``, ``--da-thresh`` and ``--patches`` are merged
    by :func:`~snapstamps.psi.config.merge_updates`: a parameter given twice with two values is
    an error naming both, never a silent precedence.
    """
    from ..psi.config import load_updates, merge_updates

    sources = []
    if args.params:
        sources.append((f"--params {args.params}", load_updates(Path(args.params))))
    sources += _assignments(args.param)
    if args.da_thresh is not None:
        sources.append(("--da-thresh", {"da_thresh": args.da_thresh}))
    if args.patches:
        sources.append(("--patches", {"rg_patches": args.patches[0], "az_patches": args.patches[1]}))
    return merge_updates(*sources)


def _help(name: str) -> str:
    """Help text of the flag setting parameter ``name``: its description and default, from PsiParams."""
    from ..psi.config import PsiParams

    f = PsiParams.model_fields[name]
    return f"{f.description} ({name}; default {f.default})"


def cmd_psi(args: argparse.Namespace) -> int:
    """``psi``: run steps ``--start..--end`` in ``--out``; print adaptations and products."""
    from ..backends.dispatch import run_psi_backend

    _check_catalog_flags(args)
    updates = psi_updates(args)
    insar = None
    if args.insar_dir:
        # an INSAR_<master> directory, or a stack catalog made by interferogram-stack
        from ..stac.stack import resolve_stack

        insar = resolve_stack(args.insar_dir, swath=args.swath)
    summary = run_psi_backend(
        args.backend, insar, Path(args.out), args.start, args.end, updates,
        mask_file=Path(args.mask) if args.mask else None, show_progress=not args.quiet,
        patches=args.patch, dask_scheduler=args.dask_scheduler,
    )
    for a in summary["adaptations"]:
        print(f"adapted {a['parameter']}: {a['from']} -> {a['to']} ({a['reason']})")
    for name, path in summary.get("products", {}).items():
        print(f"{name}: {path}")
    if args.catalog:
        from .stac import publish_psi_catalog

        print(f"catalog: {publish_psi_catalog(Path(args.out), Path(args.catalog), make_quicklooks=True, tiles=args.tiles, stack_ref=args.stack_ref)}")
    return 0


def _check_catalog_flags(args: argparse.Namespace) -> None:
    """``--catalog`` needs the run to reach the products; ``--tiles``/``--stack-ref`` need ``--catalog``."""
    if args.catalog and args.end < 7:
        raise SnapstampsError("--catalog needs the products: run to step 7 or 8 (--end)")
    for flag, value in (("--tiles", args.tiles), ("--stack-ref", args.stack_ref)):
        if value and not args.catalog:
            raise SnapstampsError(f"{flag} is for the catalog: give --catalog DIR too")


def cmd_psi_params(args: argparse.Namespace) -> int:
    """``psi-params show|set``: the parameters of a processing directory (or the defaults)."""
    from ..psi.config import PsiParams

    path = Path(args.dir) / "parms.json" if args.dir else None
    params = PsiParams.load(path) if path else PsiParams()
    if args.action == "set":
        if not path:
            raise SnapstampsError("psi-params set needs the processing directory")
        from ..psi.config import merge_updates

        params = params.with_updates(merge_updates(*_assignments(args.assignments)))
        path.parent.mkdir(parents=True, exist_ok=True)
        params.save(path)
    data = params.to_jsonable()
    if args.json:
        print(json.dumps(data, indent=2))
    else:
        fields = PsiParams.model_fields
        for name, value in data.items():
            key = "lambda_" if name == "lambda" else name
            desc = fields[key].description or ""
            print(f"{name:28s} {json.dumps(value):>22s}  {desc}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    """``demo``: simulate a stack, run psi end to end, write the derived outputs, report accuracy."""
    from ..evaluate import evaluate_dir
    from ..progress import step_progress
    from ..results.derived import make_job_outputs
    from ..simulate.stamps_stack import SimConfig, simulate_stamps_stack
    from ..workflows.psi import run_psi

    out = Path(args.out)
    sim_dir = out / "simulated"
    psi_dir = out / "psi"
    given = {"width": args.width, "length": args.length, "n_dates": args.dates, "seed": args.seed}
    cfg = SimConfig(**{k: v for k, v in given.items() if v is not None})
    print(f"1/3 simulating a {cfg.width} x {cfg.length} pixel Sentinel-1 stack of {cfg.n_dates} dates in {sim_dir}")
    with step_progress("simulate stamps-stack", not args.quiet) as prog:
        insar = simulate_stamps_stack(sim_dir, cfg, progress=prog)
    print(f"2/3 running psi (native backend) on {insar}")
    summary = run_psi(insar, psi_dir, show_progress=not args.quiet)
    for a in summary["adaptations"]:
        print(f"    adapted {a['parameter']}: {a['from']} -> {a['to']} ({a['reason']})")
    print("3/3 products:")
    for name, path in summary["products"].items():
        print(f"    {name}: {path}")
    for asset in make_job_outputs(psi_dir):
        print(f"    {asset.key}: {asset.path}")
    print(f"open {psi_dir / 'viewer' / 'index.html'} in a browser for the map; {psi_dir / 'report.html'} for the report")
    acc = evaluate_dir(psi_dir, sim_dir)
    print(
        "accuracy against the simulated truth: "
        f"{acc['n_ps']} PS, precision {acc['precision']:.4f}, recall {acc['recall']:.4f}, "
        f"velocity RMSE {acc.get('velocity_rmse_mm_yr', float('nan')):.2f} mm/yr, "
        f"DEM error RMS {acc.get('dem_error_rms_m', float('nan')):.2f} m"
    )
    return 0


def add_commands(sub: Any) -> None:
    """Register ``psi``, ``psi-params`` and ``demo``."""
    ps = sub.add_parser("psi", help="StaMPS PSI (prep and steps 1-8) on an INSAR_<master> directory")
    ps.add_argument("insar_dir", nargs="?",
                    help="INSAR_<master> directory or stack catalog.json (needed when step 0 runs)")
    ps.add_argument("--swath", help="sub-swath to take from a stack catalog with several (IW1..IW3)")
    ps.add_argument("--out", required=True, help="processing/output directory")
    ps.add_argument("--start", type=int, default=0, help="first step (0 = prep; default 0)")
    ps.add_argument("--end", type=int, default=8, help="last step (default 8)")
    ps.add_argument("--params", metavar="FILE",
                    help="JSON file of StaMPS parameters (names to values: some, or all as parms.json)")
    ps.add_argument("--param", action="append", metavar="NAME=VALUE",
                    help="StaMPS parameter (repeatable; names or unique prefixes, see psi-params show)")
    ps.add_argument("--da-thresh", type=float, help=_help("da_thresh"))
    ps.add_argument("--patches", type=int, nargs=2, metavar=("RG", "AZ"),
                    help="patches in range and azimuth (rg_patches, az_patches)")
    ps.add_argument("--mask", help="uint8 mask file (non-zero = exclude), same size as the SLCs")
    ps.add_argument("--patch", action="append", metavar="PATCH_n",
                    help="run the per-patch steps 1-4 on this patch only (repeatable)")
    ps.add_argument("--dask-scheduler", metavar="tcp://HOST:PORT",
                    help="run steps 1-4 as tasks on this Dask cluster (workers must see --out at the same path; "
                         "default $SNAPSTAMPS_DASK_SCHEDULER)")
    ps.add_argument("--backend", choices=PSI_BACKENDS, default="native",
                    help="native (default), stamps (StaMPS under Octave/MATLAB, needs $STAMPS), auto = stamps when found")
    ps.add_argument("--catalog", metavar="DIR",
                    help="then, in this process, make the quicklooks, COGs, report and viewer and publish the STAC "
                         "catalog into DIR (as `snapstamps stac catalog OUT --out DIR --make-quicklooks`)")
    ps.add_argument("--stack-ref", metavar="REF", help="with --catalog: the input stack as the items' derived_from link")
    ps.add_argument("--tiles", metavar="URL", help="with --catalog: XYZ tile URL template for the viewer background")
    ps.set_defaults(func=cmd_psi)

    pp = sub.add_parser("psi-params", help="show or set the StaMPS parameters of a processing directory")
    pp.add_argument("action", choices=["show", "set"])
    pp.add_argument("dir", nargs="?", help="processing directory (parms.json); defaults when omitted")
    pp.add_argument("assignments", nargs="*", metavar="NAME=VALUE")
    pp.add_argument("--json", action="store_true")
    pp.set_defaults(func=cmd_psi_params)

    d = sub.add_parser("demo", help="simulate a stack, run psi end to end, report accuracy")
    d.add_argument("--out", default="demo-output")
    d.add_argument("--width", type=int, help="range samples (default: simulate stamps-stack's)")
    d.add_argument("--length", type=int, help="azimuth lines (default: simulate stamps-stack's)")
    d.add_argument("--dates", type=int, help="acquisitions (default: simulate stamps-stack's)")
    d.add_argument("--seed", type=int, help="random seed (default: simulate stamps-stack's)")
    d.set_defaults(func=cmd_demo)
