"""Command-line glue of the backends: ``snap-graphs``, the ifg-stack options and the psi dispatcher.

The main CLI calls :func:`add_subcommands` to add ``snap-graphs`` (and, if asked, ``ifg-stack``),
and :func:`run_psi_backend` from ``psi --backend stamps|auto``.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

from ..errors import ParameterError

log = logging.getLogger("snapstamps")

PSI_BACKENDS = ("native", "stamps", "auto")
IFG_BACKENDS = ("native", "snap", "auto")


# ---------------------------------------------------------------------- ifg-stack options
def add_ifg_stack_options(p: argparse.ArgumentParser, backend: bool = True) -> None:
    """The options that describe an interferogram stack (shared by ifg-stack and snap-graphs)."""
    p.add_argument("--reference", nargs="+", required=True, metavar="PRODUCT",
                   help="reference acquisition: one or more slices (zip, .SAFE or manifest.safe)")
    p.add_argument("--secondaries", nargs="+", required=True, metavar="PRODUCT",
                   help="secondary products; slices of one date are assembled")
    p.add_argument("--subswaths", nargs="+", choices=["IW1", "IW2", "IW3"],
                   help="sub-swaths (several are merged); default: those whose bursts the --bbox touches (read from the reference's annotation)")
    p.add_argument("--polarisation", default="VV", choices=["VV", "VH", "HH", "HV"])
    p.add_argument("--bbox", nargs=4, type=float, metavar=("W", "S", "E", "N"),
                   help="area of interest, lon/lat degrees: bursts and the final subset")
    p.add_argument("--bursts", nargs=2, type=int, metavar=("FIRST", "LAST"), help="burst range when no bbox is given")
    p.add_argument("--no-subset", action="store_true", help="keep the whole bursts (no crop to the bbox)")
    p.add_argument("--dem", default="SRTM 1Sec HGT", help="SNAP DEM name or DEM file (default: SRTM 1Sec HGT)")
    p.add_argument("--dem-nodata", type=float, default=0.0, help="no-data value of an external DEM (default 0)")
    p.add_argument("--orbit-type", default="precise", choices=["precise", "restituted"])
    p.add_argument("--orbits-dir", help="offline orbit files (POEORB/ and RESORB/ trees)")
    p.add_argument("--no-esd", action="store_true", help="skip Enhanced Spectral Diversity (single-burst AOIs)")
    p.add_argument("--snap-version", help="SNAP version the graphs target (default: detected, else 9.0)")
    p.add_argument("--gpt", help="gpt executable")
    p.add_argument("--gpt-threads", type=int, help="gpt -q")
    p.add_argument("--gpt-cache", default="8G", help="gpt -c tile cache (default 8G)")
    p.add_argument("--gpt-heap", help="JVM heap, e.g. 24G")
    p.add_argument("--gpt-timeout", type=float, default=6 * 3600.0, help="seconds per gpt call (default 21600)")
    p.add_argument("--aux-data", help="SNAP AuxDataPath (offline DEM tiles, EGM96, orbits)")
    if backend:
        p.add_argument("--backend", choices=IFG_BACKENDS, default="auto",
                       help="snap = SNAP gpt; auto = snap when gpt is found")


def ifg_config_from_args(args: argparse.Namespace):  # -> IfgStackConfig
    """An :class:`~snapstamps.ifg.config.IfgStackConfig` from parsed ifg-stack options."""
    from ..ifg.config import GptOptions, IfgStackConfig

    try:
        gpt = GptOptions(executable=args.gpt, threads=args.gpt_threads, cache=args.gpt_cache, heap=args.gpt_heap,
                         timeout_s=args.gpt_timeout, aux_data_path=args.aux_data)
    except Exception as exc:  # pydantic ValidationError, one line
        raise ParameterError(f"gpt options: {exc}".splitlines()[0]) from exc
    subswaths = args.subswaths
    if not subswaths:
        if not args.bbox:
            raise ParameterError("--subswaths or --bbox is needed (the sub-swaths are chosen from the area of interest)")
        from ..ifg.overview import subswaths_for_aoi

        subswaths = subswaths_for_aoi([Path(p) for p in args.reference], tuple(args.bbox), args.polarisation)
    return IfgStackConfig.build(
        reference=args.reference, secondaries=args.secondaries, subswaths=subswaths,
        polarisation=args.polarisation, bbox=tuple(args.bbox) if args.bbox else None,
        bursts=tuple(args.bursts) if args.bursts else None, subset_to_aoi=not args.no_subset,
        dem=args.dem, dem_nodata=args.dem_nodata, orbit_type=args.orbit_type, orbits_dir=args.orbits_dir,
        esd=False if args.no_esd else None, out=args.out, backend=getattr(args, "backend", "snap"),
        snap_version=args.snap_version, gpt=gpt,
    )


def cmd_snap_graphs(args: argparse.Namespace) -> int:
    """``snapstamps snap-graphs --out DIR ...``: write the gpt graphs without running them."""
    from .snap import write_graphs

    cfg = ifg_config_from_args(args)
    files = write_graphs(cfg, Path(args.graphs_dir) if args.graphs_dir else None)
    for f in files:
        print(f)
    return 0


def run_ifg_backend(cfg) -> Path:  # cfg: IfgStackConfig
    """Run the interferogram stack with the configured backend; return the INSAR folder."""
    from .snap import run_snap_stack, snap_available

    backend = cfg.backend
    if backend == "auto":
        backend = "snap" if snap_available(cfg) else "native"
    if backend == "snap":
        return run_snap_stack(cfg)
    from pathlib import Path as _Path

    raise ParameterError(
        f"backend {backend!r} is not run from here; use `snapstamps ifg-stack --backend native` for {_Path(cfg.out)}"
    )


def cmd_ifg_stack(args: argparse.Namespace) -> int:
    """``snapstamps ifg-stack --out DIR ...``: SLCs to an INSAR_<reference> StaMPS export."""
    print(run_ifg_backend(ifg_config_from_args(args)))
    return 0


def add_subcommands(subparsers: Any, include_ifg_stack: bool = False) -> None:
    """Add ``snap-graphs`` (and ``ifg-stack`` when asked) to the main parser's sub-parsers."""
    g = subparsers.add_parser("snap-graphs", help="write the SNAP gpt graphs of an interferogram stack without running them")
    g.add_argument("--out", required=True, help="output folder of the stack (graph paths point into it)")
    g.add_argument("--graphs-dir", help="where to write the graphs (default: OUT/graphs)")
    add_ifg_stack_options(g, backend=False)
    g.set_defaults(func=cmd_snap_graphs)
    if include_ifg_stack:
        s = subparsers.add_parser("ifg-stack", help="Sentinel-1 SLCs to an INSAR_<reference> StaMPS export")
        s.add_argument("--out", required=True, help="output folder")
        add_ifg_stack_options(s)
        s.set_defaults(func=cmd_ifg_stack)


# ---------------------------------------------------------------------- psi
def add_psi_backend_option(p: argparse.ArgumentParser) -> None:
    """``--backend native|stamps|auto`` for the psi command."""
    p.add_argument("--backend", choices=PSI_BACKENDS, default="native",
                   help="native (default), stamps (StaMPS under Octave/MATLAB, needs $STAMPS), auto = stamps when found")


def resolve_psi_backend(backend: str) -> str:
    """``native`` or ``stamps`` for a requested backend (``auto``: stamps when found)."""
    if backend not in PSI_BACKENDS:
        raise ParameterError(f"unknown psi backend {backend!r}; choose one of {', '.join(PSI_BACKENDS)}")
    if backend == "auto":
        from .stamps import stamps_available

        return "stamps" if stamps_available() else "native"
    return backend


def run_psi_backend(
    backend: str,
    insar_dir: Path | None,
    out: Path,
    start: int = 0,
    end: int = 8,
    updates: dict[str, Any] | None = None,
    mask_file: Path | None = None,
    show_progress: bool = True,
    patches: list[str] | None = None,
) -> dict[str, Any]:
    """Run psi with ``backend`` (native, stamps or auto) and return the run summary (same keys as native).

    ``patches`` (native only) restricts steps 1-4 to the named patch directories.
    """
    chosen = resolve_psi_backend(backend)
    if chosen == "native":
        from ..workflows.psi import run_psi

        summary = run_psi(insar_dir, Path(out), start=start, end=end, param_updates=updates,
                          mask_file=mask_file, show_progress=show_progress, patches=patches)
        summary.setdefault("backend", "native")
        return summary
    from .stamps import run_stamps_psi

    if patches:
        from ..errors import ParameterError

        raise ParameterError("--patch is only supported by the native backend")

    return run_stamps_psi(insar_dir, Path(out), start=start, end=end, param_updates=updates, mask_file=mask_file)
