"""Command-line interface: ``snapstamps <command> ...``.

Errors in the input or parameters are reported as one line (``error: ...``) with exit
status 2; no traceback unless ``--debug`` is given.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from . import __version__
from .errors import SnapstampsError

log = logging.getLogger("snapstamps")


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(message)s",
        datefmt="%H:%M:%S",
        stream=sys.stderr,
    )


# ---------------------------------------------------------------------- simulate
def cmd_simulate_stamps(args: argparse.Namespace) -> int:
    from .simulate.stamps_stack import SimConfig, simulate_stamps_stack
    from .progress import step_progress

    cfg = SimConfig(
        **{
            k: v
            for k, v in {
                "width": args.width,
                "length": args.length,
                "n_dates": args.dates,
                "ps_fraction": args.ps_fraction,
                "seed": args.seed,
                "aps_std_mm": args.aps_mm,
            }.items()
            if v is not None
        }
    )
    with step_progress("simulate stamps-stack", not args.quiet) as prog:
        insar = simulate_stamps_stack(Path(args.out), cfg, progress=prog)
    print(insar)
    return 0


# ---------------------------------------------------------------------- psi
def _param_updates(items: list[str] | None) -> dict:
    from .psi.config import parse_assignment

    updates = {}
    for item in items or []:
        k, v = parse_assignment(item)
        updates[k] = v
    return updates


def cmd_psi(args: argparse.Namespace) -> int:
    from .backends.cli import run_psi_backend

    updates = _param_updates(args.param)
    if args.da_thresh is not None:
        updates["da_thresh"] = args.da_thresh
    if args.patches:
        updates["rg_patches"], updates["az_patches"] = args.patches
    insar = None
    if args.insar_dir:
        # an INSAR_<master> directory, or a stack catalog made by interferogram-stack
        from .stac.stack import resolve_stack

        insar = resolve_stack(args.insar_dir, swath=args.swath)
    summary = run_psi_backend(
        args.backend, insar, Path(args.out), args.start, args.end, updates,
        mask_file=Path(args.mask) if args.mask else None, show_progress=not args.quiet,
        patches=args.patch,
    )
    for a in summary["adaptations"]:
        print(f"adapted {a['parameter']}: {a['from']} -> {a['to']} ({a['reason']})")
    for name, path in summary.get("products", {}).items():
        print(f"{name}: {path}")
    return 0


def cmd_psi_params(args: argparse.Namespace) -> int:
    from .psi.config import PsiParams

    path = Path(args.dir) / "parms.json" if args.dir else None
    params = PsiParams.load(path) if path else PsiParams()
    if args.action == "set":
        if not path:
            raise SnapstampsError("psi-params set needs the processing directory")
        params = params.with_updates(_param_updates(args.assignments))
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


# ---------------------------------------------------------------------- demo
def cmd_demo(args: argparse.Namespace) -> int:
    from .evaluate import evaluate_dir
    from .progress import step_progress
    from .simulate.stamps_stack import SimConfig, simulate_stamps_stack
    from .workflows.psi import run_psi

    out = Path(args.out)
    sim_dir = out / "simulated"
    psi_dir = out / "psi"
    cfg = SimConfig(width=args.width, length=args.length, n_dates=args.dates, seed=args.seed)
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
    from .report import make_job_outputs

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


# ---------------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    from .backends.cli import add_psi_backend_option
    from .backends.cli import add_subcommands as add_backend_subcommands
    from .ifg.cli import add_simulate_safe
    from .ifg.dem_cli import add_subcommands as add_dem_subcommands
    from .ifg.cli import add_subcommands as add_ifg_subcommands
    from .service.cli import add_subcommands as add_service_subcommands
    from .systematic.cli import add_subcommands as add_systematic_subcommands
    from .viewer.cli import add_subcommands as add_viewer_subcommands

    p = argparse.ArgumentParser(prog="snapstamps", description="Sentinel-1 PSI, SNAP + StaMPS compatible.")
    p.add_argument("--version", action="version", version=f"snapstamps {__version__}")
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars or log lines")
    sub = p.add_subparsers(dest="command", required=True)

    sim = sub.add_parser("simulate", help="simulate input data with ground truth")
    simsub = sim.add_subparsers(dest="what", required=True)
    s = simsub.add_parser("stamps-stack", help="an INSAR_<master> stack as SNAP's StampsExport writes it")
    s.add_argument("--out", required=True, help="output directory (INSAR_<master>/ and truth.npz)")
    s.add_argument("--width", type=int, help="range samples (default 300)")
    s.add_argument("--length", type=int, help="azimuth lines (default 600)")
    s.add_argument("--dates", type=int, help="number of acquisitions, 12 days apart (default 30)")
    s.add_argument("--ps-fraction", type=float, help="fraction of pixels that are PS (default 0.02)")
    s.add_argument("--aps-mm", type=float, help="std of the per-date atmosphere, mm (default 1)")
    s.add_argument("--seed", type=int, help="random seed (default 0)")
    s.set_defaults(func=cmd_simulate_stamps)

    ps = sub.add_parser("psi", help="StaMPS PSI (prep and steps 1-8) on an INSAR_<master> directory")
    ps.add_argument("insar_dir", nargs="?",
                    help="INSAR_<master> directory or stack catalog.json (needed when step 0 runs)")
    ps.add_argument("--swath", help="sub-swath to take from a stack catalog with several (IW1..IW3)")
    ps.add_argument("--out", required=True, help="processing/output directory")
    ps.add_argument("--start", type=int, default=0, help="first step (0 = prep; default 0)")
    ps.add_argument("--end", type=int, default=8, help="last step (default 8)")
    ps.add_argument("--param", action="append", metavar="NAME=VALUE", help="StaMPS parameter (repeatable)")
    ps.add_argument("--da-thresh", type=float, help="amplitude dispersion threshold (default 0.4)")
    ps.add_argument("--patches", type=int, nargs=2, metavar=("RG", "AZ"), help="patches in range and azimuth")
    ps.add_argument("--mask", help="uint8 mask file (non-zero = exclude), same size as the SLCs")
    ps.add_argument("--patch", action="append", metavar="PATCH_n",
                    help="run the per-patch steps 1-4 on this patch only (repeatable)")
    add_psi_backend_option(ps)
    ps.set_defaults(func=cmd_psi)

    pp = sub.add_parser("psi-params", help="show or set the StaMPS parameters of a processing directory")
    pp.add_argument("action", choices=["show", "set"])
    pp.add_argument("dir", nargs="?", help="processing directory (parms.json); defaults when omitted")
    pp.add_argument("assignments", nargs="*", metavar="NAME=VALUE")
    pp.add_argument("--json", action="store_true")
    pp.set_defaults(func=cmd_psi_params)

    add_backend_subcommands(sub)
    add_ifg_subcommands(sub)
    add_dem_subcommands(sub)
    add_simulate_safe(simsub)
    add_viewer_subcommands(sub)
    add_service_subcommands(sub)
    add_systematic_subcommands(sub)

    d = sub.add_parser("demo", help="simulate a stack, run psi end to end, report accuracy")
    d.add_argument("--out", default="demo-output")
    d.add_argument("--width", type=int, default=300)
    d.add_argument("--length", type=int, default=600)
    d.add_argument("--dates", type=int, default=30)
    d.add_argument("--seed", type=int, default=0)
    d.set_defaults(func=cmd_demo)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _setup_logging(False)
    if args.quiet:
        logging.getLogger("snapstamps").setLevel(logging.WARNING)
    try:
        return args.func(args)
    except SnapstampsError as exc:
        if args.debug:
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
