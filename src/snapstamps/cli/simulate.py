"""``snapstamps simulate stamps-stack|safe-stack``: input data with a known ground truth."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def cmd_stamps_stack(args: argparse.Namespace) -> int:
    """``simulate stamps-stack``: an INSAR_<master> stack as SNAP's StampsExport writes it."""
    from ..progress import step_progress
    from ..simulate.stamps_stack import SimConfig, simulate_stamps_stack

    given = {"width": args.width, "length": args.length, "n_dates": args.dates, "ps_fraction": args.ps_fraction,
             "seed": args.seed, "aps_std_mm": args.aps_mm}
    cfg = SimConfig(**{k: v for k, v in given.items() if v is not None})
    with step_progress("simulate stamps-stack", not args.quiet) as prog:
        insar = simulate_stamps_stack(Path(args.out), cfg, progress=prog)
    print(insar)
    return 0


def cmd_safe_stack(args: argparse.Namespace) -> int:
    """``simulate safe-stack``: Sentinel-1 IW SLC SAFEs; prints the summary as JSON."""
    from pydantic import ValidationError

    from ..errors import ParameterError
    from ..simulate.safe_stack import SafeSimConfig, simulate_safe_stack

    try:
        cfg = SafeSimConfig(n_dates=args.dates, baselines=args.baselines, seed=args.seed, n_samples=args.samples,
                            first_sample=args.first_sample, split_dates=list(args.split_dates),
                            split_overlap=args.split_overlap)
    except ValidationError as exc:
        e = exc.errors()[0]
        raise ParameterError(f"simulate safe-stack: {'.'.join(str(x) for x in e['loc']) or 'options'}: {e['msg']}") from None
    s = simulate_safe_stack(args.out, cfg)
    print(json.dumps({k: v for k, v in s.items() if k != "config"}, indent=2))
    return 0


def add_commands(sub: Any) -> None:
    """Register ``simulate stamps-stack`` and ``simulate safe-stack``."""
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
    s.set_defaults(func=cmd_stamps_stack)

    p = simsub.add_parser("safe-stack", help="simulate Sentinel-1 IW SLC SAFEs (real Rome annotation and DEM)")
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--dates", type=int, default=6)
    p.add_argument("--baselines", type=float, nargs="+", default=None, help="bperp (m) of each date to the real track")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--samples", type=int, default=1800, help="range samples kept")
    p.add_argument("--first-sample", type=int, default=1000, help="first range sample of the real product kept")
    p.add_argument("--split-dates", type=int, nargs="+", default=[], metavar="K",
                   help="dates (0-based) written as two consecutive slices")
    p.add_argument("--split-overlap", type=int, default=0, help="bursts repeated in both slices of a split date")
    p.set_defaults(func=cmd_safe_stack)
