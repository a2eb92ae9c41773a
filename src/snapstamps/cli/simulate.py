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

    given = {"n_dates": args.dates, "baselines": args.baselines, "seed": args.seed, "n_samples": args.samples,
             "first_sample": args.first_sample, "split_dates": args.split_dates, "split_overlap": args.split_overlap}
    try:
        cfg = SafeSimConfig(**{k: v for k, v in given.items() if v is not None})
    except ValidationError as exc:
        e = exc.errors()[0]
        raise ParameterError(f"simulate safe-stack: {'.'.join(str(x) for x in e['loc']) or 'options'}: {e['msg']}") from None
    s = simulate_safe_stack(args.out, cfg)
    print(json.dumps({k: v for k, v in s.items() if k != "config"}, indent=2))
    return 0


def _default(model: str, name: str) -> str:
    """``(default X)`` from the simulator configuration ``model`` (its field ``name``)."""
    from ..simulate.safe_stack import SafeSimConfig
    from ..simulate.stamps_stack import SimConfig

    cls = {"stamps": SimConfig, "safe": SafeSimConfig}[model]
    return f"(default {cls.model_fields[name].default})"


def add_commands(sub: Any) -> None:
    """Register ``simulate stamps-stack`` and ``simulate safe-stack`` (defaults: the simulator configurations')."""
    sim = sub.add_parser("simulate", help="simulate input data with ground truth")
    simsub = sim.add_subparsers(dest="what", required=True)
    s = simsub.add_parser("stamps-stack", help="an INSAR_<master> stack as SNAP's StampsExport writes it")
    s.add_argument("--out", required=True, help="output directory (INSAR_<master>/ and truth.npz)")
    s.add_argument("--width", type=int, help=f"range samples {_default('stamps', 'width')}")
    s.add_argument("--length", type=int, help=f"azimuth lines {_default('stamps', 'length')}")
    s.add_argument("--dates", type=int, help=f"number of acquisitions, 12 days apart {_default('stamps', 'n_dates')}")
    s.add_argument("--ps-fraction", type=float, help=f"fraction of pixels that are PS {_default('stamps', 'ps_fraction')}")
    s.add_argument("--aps-mm", type=float, help=f"std of the per-date atmosphere, mm {_default('stamps', 'aps_std_mm')}")
    s.add_argument("--seed", type=int, help=f"random seed {_default('stamps', 'seed')}")
    s.set_defaults(func=cmd_stamps_stack)

    p = simsub.add_parser("safe-stack", help="simulate Sentinel-1 IW SLC SAFEs (real Rome annotation and DEM)")
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--dates", type=int, help=f"acquisitions, 12 days apart {_default('safe', 'n_dates')}")
    p.add_argument("--baselines", type=float, nargs="+", help="bperp (m) of each date to the real track")
    p.add_argument("--seed", type=int, help=f"random seed {_default('safe', 'seed')}")
    p.add_argument("--samples", type=int, help=f"range samples kept {_default('safe', 'n_samples')}")
    p.add_argument("--first-sample", type=int,
                   help=f"first range sample of the real product kept {_default('safe', 'first_sample')}")
    p.add_argument("--split-dates", type=int, nargs="+", metavar="K",
                   help="dates (0-based) written as two consecutive slices")
    p.add_argument("--split-overlap", type=int,
                   help=f"bursts repeated in both slices of a split date {_default('safe', 'split_overlap')}")
    p.set_defaults(func=cmd_safe_stack)
