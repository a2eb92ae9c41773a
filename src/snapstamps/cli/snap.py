"""``snapstamps snap-graphs``: the SNAP gpt graphs of an interferogram stack, written, not run."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, get_args

from ..errors import ParameterError
from ..ifg.config import ORBIT_TYPES, GptOptions, IfgStackOptions, Polarisation, Subswath

_FIELDS = IfgStackOptions.model_fields
_GPT = GptOptions.model_fields


def add_stack_options(p: argparse.ArgumentParser) -> None:
    """The options that describe an interferogram stack for the SNAP backend."""
    p.add_argument("--reference", nargs="+", required=True, metavar="PRODUCT",
                   help="reference acquisition: one or more slices (zip, .SAFE or manifest.safe)")
    p.add_argument("--secondaries", nargs="+", required=True, metavar="PRODUCT",
                   help="secondary products; slices of one date are assembled")
    p.add_argument("--subswaths", nargs="+", choices=get_args(Subswath),
                   help="sub-swaths (several are merged); default: those whose bursts the --bbox touches (read from the reference's annotation)")
    p.add_argument("--polarisation", default=_FIELDS["polarisation"].default, choices=get_args(Polarisation))
    p.add_argument("--bbox", nargs=4, type=float, metavar=("W", "S", "E", "N"),
                   help="area of interest, lon/lat degrees: bursts and the final subset")
    p.add_argument("--bursts", nargs=2, type=int, metavar=("FIRST", "LAST"), help="burst range when no bbox is given")
    p.add_argument("--no-subset", action="store_true", help="keep the whole bursts (no crop to the bbox)")
    p.add_argument("--dem", default=_FIELDS["dem"].default,
                   help=f"SNAP DEM name, DEM file or auto (default: {_FIELDS['dem'].default})")
    p.add_argument("--dem-nodata", type=float, default=_FIELDS["dem_nodata"].default,
                   help=f"no-data value of an external DEM (default {_FIELDS['dem_nodata'].default})")
    p.add_argument("--orbit-type", default=_FIELDS["orbit_type"].default, choices=list(ORBIT_TYPES))
    p.add_argument("--orbits-dir", help="offline orbit files (POEORB/ and RESORB/ trees)")
    p.add_argument("--no-esd", action="store_true", help="skip Enhanced Spectral Diversity (single-burst AOIs)")
    p.add_argument("--snap-version", help="SNAP version the graphs target (default: detected, else 9.0)")
    p.add_argument("--gpt", help="gpt executable")
    p.add_argument("--gpt-threads", type=int, help="gpt -q")
    p.add_argument("--gpt-cache", default=_GPT["cache"].default, help=f"gpt -c tile cache (default {_GPT['cache'].default})")
    p.add_argument("--gpt-heap", help="JVM heap, e.g. 24G")
    p.add_argument("--gpt-timeout", type=float, default=_GPT["timeout_s"].default,
                   help=f"seconds per gpt call (default {_GPT['timeout_s'].default:g})")
    p.add_argument("--aux-data", help="SNAP AuxDataPath (offline DEM tiles, EGM96, orbits)")


def config_from_args(args: argparse.Namespace) -> Any:
    """An :class:`~snapstamps.ifg.config.IfgStackOptions` from the parsed options of :func:`add_stack_options`."""
    from pydantic import ValidationError

    try:
        gpt = GptOptions(executable=args.gpt, threads=args.gpt_threads, cache=args.gpt_cache, heap=args.gpt_heap,
                         timeout_s=args.gpt_timeout, aux_data_path=args.aux_data)
    except ValidationError as exc:
        raise ParameterError(f"gpt options: {exc}".splitlines()[0]) from exc
    subswaths = args.subswaths
    if not subswaths:
        if not args.bbox:
            raise ParameterError("--subswaths or --bbox is needed (the sub-swaths are chosen from the area of interest)")
        from ..ifg.overview import subswaths_for_aoi

        subswaths = subswaths_for_aoi([Path(p) for p in args.reference], tuple(args.bbox), args.polarisation)
    return IfgStackOptions.build(
        reference=args.reference, secondaries=args.secondaries, subswaths=subswaths,
        polarisation=args.polarisation, bbox=tuple(args.bbox) if args.bbox else None,
        bursts=tuple(args.bursts) if args.bursts else None, subset_to_aoi=not args.no_subset,
        dem=args.dem, dem_nodata=args.dem_nodata, orbit_type=args.orbit_type, orbits_dir=args.orbits_dir,
        esd=False if args.no_esd else None, out=args.out, backend="snap",
        snap_version=args.snap_version, gpt=gpt,
    )


def cmd_snap_graphs(args: argparse.Namespace) -> int:
    """``snap-graphs --out DIR ...``: write the gpt graphs without running them; print their paths."""
    from ..backends.snap import write_graphs

    cfg = config_from_args(args)
    for f in write_graphs(cfg, Path(args.graphs_dir) if args.graphs_dir else None):
        print(f)
    return 0


def add_commands(sub: Any) -> None:
    """Register ``snap-graphs``."""
    g = sub.add_parser("snap-graphs", help="write the SNAP gpt graphs of an interferogram stack without running them")
    g.add_argument("--out", required=True, help="output folder of the stack (graph paths point into it)")
    g.add_argument("--graphs-dir", help="where to write the graphs (default: OUT/graphs)")
    add_stack_options(g)
    g.set_defaults(func=cmd_snap_graphs)
