"""``snapstamps ifg-stack``, ``ifg-stack-gather``, ``ifg-stack-dem``, ``stack-overview`` and ``aoi-subswaths``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, get_args

from ..ifg.config import IfgBackend, IfgStackOptions, Polarisation, Subswath

_FIELDS = IfgStackOptions.model_fields


def _dem_arg(value: str) -> Path | str:
    """``--dem``: the word ``auto`` (any case) or a DEM file path."""
    from ..ifg.download import is_dem_auto

    return "auto" if is_dem_auto(value) else Path(value)


def options_from_args(args: argparse.Namespace) -> Any:
    """The :class:`~snapstamps.ifg.config.IfgStackOptions` of the ``ifg-stack`` flags (checked by the model)."""
    return IfgStackOptions.build(
        reference=list(args.reference), secondaries=list(args.secondary),
        subswaths=getattr(args, "chosen_subswaths", None) or [args.subswath],
        polarisation=args.polarisation, bbox=tuple(args.bbox), dem=str(args.dem), orbits_dir=args.orbits,
        esd=False if args.no_esd else None, out=args.out, block_lines=args.block_lines,
        download_orbits=args.download_orbits, require_precise_orbits=args.require_precise_orbits,
        backend=args.backend,
    )


def cmd_ifg_stack(args: argparse.Namespace) -> int:
    """``ifg-stack``: SAFEs to ``OUT/INSAR_<reference>/``; print that folder."""
    if args.subswath is None:
        from ..ifg.overview import subswath_covering_aoi, subswaths_for_aoi

        if args.backend == "snap":  # SNAP merges sub-swaths: every one the AOI touches
            args.chosen_subswaths = subswaths_for_aoi(list(args.reference), tuple(args.bbox), args.polarisation)
            args.subswath = args.chosen_subswaths[0]
        else:  # the native engine runs one: the one the AOI touches, or the one containing it whole
            args.subswath = subswath_covering_aoi(list(args.reference), tuple(args.bbox), args.polarisation)
        chosen = getattr(args, "chosen_subswaths", None) or [args.subswath]
        print(f"sub-swath {', '.join(chosen)}: chosen from the area of interest", file=sys.stderr)
    if args.check_only:
        from ..ifg.checks import preflight

        checks = [preflight(list(args.reference), list(args.secondary), sw, args.polarisation, bbox=tuple(args.bbox), orbits=args.orbits)
                  for sw in (getattr(args, "chosen_subswaths", None) or [args.subswath])]
        print(json.dumps(checks[0] if len(checks) == 1 else checks, indent=2))
        return 0
    opts = options_from_args(args)
    if opts.backend != "native":
        from ..backends.snap import run_snap_stack, snap_available

        if opts.backend == "snap" or snap_available(opts):
            print(run_snap_stack(opts))
            return 0
    from ..workflows.ifg_stack import run_ifg_stack

    res = run_ifg_stack(opts)
    print(res["insar_dir"])
    return 0


def cmd_gather(args: argparse.Namespace) -> int:
    """``ifg-stack-gather``: merge single-pair runs into one ``INSAR_<reference>/``."""
    from ..ifg.gather import gather_pairs

    print(gather_pairs(list(args.runs), args.out))
    return 0


def cmd_dem(args: argparse.Namespace) -> int:
    """``ifg-stack-dem``: the GLO-30 DEM of the AOI, once; print its path."""
    from ..ifg.download import prepare_dem

    print(prepare_dem(tuple(args.bbox), Path(args.out)))
    return 0


def cmd_overview(args: argparse.Namespace) -> int:
    """``stack-overview``: acquisitions, bursts and baselines from annotation only."""
    from ..ifg.overview import stack_overview

    o = stack_overview(args.products, args.reference, aoi=tuple(args.aoi) if args.aoi else None)
    if args.json:
        print(json.dumps(o, indent=2))
        return 0
    print(f"track: relative orbit {o['track']['relative_orbit']} {o['track']['pass']}")
    for a in o["acquisitions"]:
        print(f"  {a['date']}  {a['product']}  " + "  ".join(f"{s}: {len(b)} bursts" for s, b in a["subswaths"].items()))
    for name, why in o.get("skipped_subswaths", {}).items():
        print(f"  skipped in {name}: " + "; ".join(f"{s} ({w})" for s, w in why.items()))
    for s, ids in o["common_bursts"].items():
        print(f"common bursts {s}: {ids[0] if ids else '-'}..{ids[-1] if ids else '-'} ({len(ids)})")
    if "aoi" in o:
        hit = o["aoi"]["subswaths"]
        print("aoi touches: " + ("  ".join(f"{s} bursts {ids}" for s, ids in hit.items()) or "no burst of the reference"))
    print(f"reference: {o['reference']}  (suggested: {o['suggested_reference']})")
    print(f"{'secondary':<72} {'swath':>5} {'bperp_m':>9} {'btemp_d':>8}")
    for p in o["pairs"]:
        print(f"{p['secondary']:<72} {p['subswath']:>5} {p['bperp_m']:>9.2f} {p['btemp_days']:>8d}")
    return 0


def cmd_aoi_subswaths(args: argparse.Namespace) -> int:
    """``aoi-subswaths``: the sub-swaths whose bursts the AOI touches, as a JSON list."""
    from ..ifg.overview import subswaths_for_aoi

    print(json.dumps(subswaths_for_aoi(list(args.products), tuple(args.bbox), args.polarisation)))
    return 0


def add_commands(sub: Any) -> None:
    """Register ``ifg-stack``, ``ifg-stack-gather``, ``ifg-stack-dem`` and ``stack-overview``."""
    p = sub.add_parser("ifg-stack", help="Sentinel-1 IW SLC SAFEs -> INSAR_<reference>/ (native engine)")
    p.add_argument("--reference", required=True, nargs="+", type=Path,
                   help="reference SAFE (folder, manifest.safe or .zip), or the consecutive slices of the reference date")
    p.add_argument("--secondary", required=True, nargs="+", type=Path,
                   help="secondary SAFEs; products of one date are slices of that date and are assembled")
    p.add_argument("--subswath", default=None, choices=get_args(Subswath),
                   help="default: the sub-swath whose bursts cover the --bbox (read from the reference's annotation)")
    p.add_argument("--polarisation", default=_FIELDS["polarisation"].default, choices=get_args(Polarisation))
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
    p.add_argument("--backend", choices=get_args(IfgBackend), default=_FIELDS["backend"].default,
                   help=f"{_FIELDS['backend'].description}; default {_FIELDS['backend'].default}")
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--block-lines", type=int, default=_FIELDS["block_lines"].default,
                   help=f"{_FIELDS['block_lines'].description} (default {_FIELDS['block_lines'].default})")
    p.add_argument("--check-only", action="store_true",
                   help="run the checks that need no pixels (annotation, track, orbits, AOI, burst ids) and print them as JSON; process nothing")
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
    q.add_argument("--json", action="store_true", help="JSON with burst footprints (GeoJSON) and, with --aoi, the bursts it touches")
    q.add_argument("--aoi", nargs=4, type=float, metavar=("W", "S", "E", "N"), default=None,
                   help="area of interest (lon/lat degrees): report which sub-swaths and bursts it touches")
    q.set_defaults(func=cmd_overview)

    a = sub.add_parser("aoi-subswaths", help="the sub-swaths whose bursts an area of interest touches (JSON list; annotation only)")
    a.add_argument("products", nargs="+", type=Path, help="the reference product (or its slices)")
    a.add_argument("--bbox", nargs=4, type=float, metavar=("W", "S", "E", "N"), required=True)
    a.add_argument("--polarisation", default=None, choices=["VV", "VH", "HH", "HV"])
    a.set_defaults(func=cmd_aoi_subswaths)
