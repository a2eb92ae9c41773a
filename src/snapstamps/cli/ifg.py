"""``snapstamps ifg-stack``, ``ifg-stack-gather``, ``ifg-stack-dem`` and ``stack-overview``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from ..backends.dispatch import IFG_BACKENDS


def _stderr(line: str) -> None:
    print(line, file=sys.stderr)


def _dem_arg(value: str) -> Path | str:
    """``--dem``: the word ``auto`` (any case) or a DEM file path."""
    from ..ifg.download import is_dem_auto

    return "auto" if is_dem_auto(value) else Path(value)


def _snap_config(args: argparse.Namespace) -> Any:
    """The SNAP backend's configuration for the same command-line options."""
    from ..ifg.config import IfgStackConfig

    return IfgStackConfig.build(
        reference=[str(r) for r in args.reference], secondaries=[str(s) for s in args.secondary],
        subswaths=[args.subswath], polarisation=args.polarisation, bbox=tuple(args.bbox),
        # --dem auto: SNAP downloads GLO-30 itself (its external DEMs are taken as geoid heights,
        # so the ellipsoidal GeoTIFF of the native engine would be corrected twice)
        dem="Copernicus 30m Global DEM" if args.dem == "auto" else str(args.dem),
        orbits_dir=str(args.orbits) if args.orbits else None,
        esd=False if args.no_esd else None, out=str(args.out), backend="snap",
    )


def cmd_ifg_stack(args: argparse.Namespace) -> int:
    """``ifg-stack``: SAFEs to ``OUT/INSAR_<reference>/``; print that folder."""
    from ..workflows.ifg_stack import IfgStackOptions, run_ifg_stack

    if args.backend != "native":
        from ..backends.snap import run_snap_stack, snap_available

        cfg = _snap_config(args)
        if args.backend == "snap" or snap_available(cfg):
            print(run_snap_stack(cfg))
            return 0

    opts = IfgStackOptions(
        reference=list(args.reference),
        secondaries=list(args.secondary),
        subswath=args.subswath,
        polarisation=args.polarisation,
        bbox=tuple(args.bbox),
        dem=args.dem,
        orbits=args.orbits,
        esd=not args.no_esd,
        out=args.out,
        block_lines=args.block_lines,
        download_orbits=args.download_orbits,
        require_precise_orbits=args.require_precise_orbits,
    )
    res = run_ifg_stack(opts, log=_stderr)
    print(res["insar_dir"])
    return 0


def cmd_gather(args: argparse.Namespace) -> int:
    """``ifg-stack-gather``: merge single-pair runs into one ``INSAR_<reference>/``."""
    from ..ifg.gather import gather_pairs

    print(gather_pairs(list(args.runs), args.out, log=_stderr))
    return 0


def cmd_dem(args: argparse.Namespace) -> int:
    """``ifg-stack-dem``: the GLO-30 DEM of the AOI, once; print its path."""
    from ..ifg.download import prepare_dem

    print(prepare_dem(tuple(args.bbox), Path(args.out)))
    return 0


def cmd_overview(args: argparse.Namespace) -> int:
    """``stack-overview``: acquisitions, bursts and baselines from annotation only."""
    from ..ifg.overview import stack_overview

    o = stack_overview(args.products, args.reference)
    if args.json:
        print(json.dumps(o, indent=2))
        return 0
    print(f"track: relative orbit {o['track']['relative_orbit']} {o['track']['pass']}")
    for a in o["acquisitions"]:
        print(f"  {a['date']}  {a['product']}  " + "  ".join(f"{s}: {len(b)} bursts" for s, b in a["subswaths"].items()))
    for s, ids in o["common_bursts"].items():
        print(f"common bursts {s}: {ids[0] if ids else '-'}..{ids[-1] if ids else '-'} ({len(ids)})")
    print(f"reference: {o['reference']}  (suggested: {o['suggested_reference']})")
    print(f"{'secondary':<72} {'swath':>5} {'bperp_m':>9} {'btemp_d':>8}")
    for p in o["pairs"]:
        print(f"{p['secondary']:<72} {p['subswath']:>5} {p['bperp_m']:>9.2f} {p['btemp_days']:>8d}")
    return 0


def add_commands(sub: Any) -> None:
    """Register ``ifg-stack``, ``ifg-stack-gather``, ``ifg-stack-dem`` and ``stack-overview``."""
    p = sub.add_parser("ifg-stack", help="Sentinel-1 IW SLC SAFEs -> INSAR_<reference>/ (native engine)")
    p.add_argument("--reference", required=True, nargs="+", type=Path,
                   help="reference SAFE (folder, manifest.safe or .zip), or the consecutive slices of the reference date")
    p.add_argument("--secondary", required=True, nargs="+", type=Path,
                   help="secondary SAFEs; products of one date are slices of that date and are assembled")
    p.add_argument("--subswath", default="IW2", choices=["IW1", "IW2", "IW3"])
    p.add_argument("--polarisation", default="VV", choices=["VV", "VH", "HH", "HV"])
    p.add_argument("--bbox", nargs=4, type=float, metavar=("W", "S", "E", "N"), required=True)
    p.add_argument("--dem", required=True, type=_dem_arg, metavar="DEM.tif|auto",
                   help="DEM GeoTIFF (any CRS; geoid heights converted), or 'auto': download the Copernicus GLO-30 DEM "
                        "of the AOI (ellipsoidal heights) into OUT/dem/ (needs a connection)")
    p.add_argument("--orbits", type=Path, default=None, help="folder of EOF orbit files (POEORB/RESORB)")
    p.add_argument("--download-orbits", action="store_true",
                   help="when no EOF file covers a date, download the precise (else restituted) orbit with sentineleof "
                        "into --orbits DIR (default OUT/orbits); on failure a warning and the annotation orbit")
    p.add_argument("--require-precise-orbits", action="store_true",
                   help="fail instead of falling back to the annotation orbit when no EOF file (POEORB/RESORB) covers a date")
    p.add_argument("--no-esd", action="store_true", help="skip Enhanced Spectral Diversity")
    p.add_argument("--backend", choices=IFG_BACKENDS, default="native",
                   help="native (default) = this package's engine; snap = SNAP gpt graphs; auto = snap when gpt is found")
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--block-lines", type=int, default=256, help="output lines processed at a time (bounds memory)")
    p.set_defaults(func=cmd_ifg_stack)

    g = sub.add_parser("ifg-stack-gather",
                       help="merge single-pair ifg-stack outputs (one reference, one sub-swath) into one INSAR_<reference>/")
    g.add_argument("runs", nargs="+", type=Path, metavar="PAIR_OUT",
                   help="output folders of ifg-stack runs with one --secondary each")
    g.add_argument("--out", required=True, type=Path)
    g.set_defaults(func=cmd_gather)

    d = sub.add_parser("ifg-stack-dem",
                       help="download the Copernicus GLO-30 DEM of an AOI once (what ifg-stack --dem auto does), "
                            "for several ifg-stack runs")
    d.add_argument("--bbox", nargs=4, type=float, metavar=("W", "S", "E", "N"), required=True,
                   help="area of interest (lon/lat degrees), as given to ifg-stack")
    d.add_argument("--out", required=True, type=Path,
                   help="output folder: the DEM is written as OUT/dem/glo30_<W>_<S>_<E>_<N>.tif (as ifg-stack --dem auto)")
    d.set_defaults(func=cmd_dem)

    q = sub.add_parser("stack-overview", help="acquisitions, bursts and baselines from annotation only")
    q.add_argument("products", nargs="+", type=Path)
    q.add_argument("--reference", type=Path, default=None)
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=cmd_overview)
