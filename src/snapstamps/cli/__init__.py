"""Command-line interface: ``snapstamps <command> ...`` (one module per command group).

===========================  =====================================================
module                       commands
===========================  =====================================================
:mod:`.simulate`             ``simulate stamps-stack``, ``simulate safe-stack``
:mod:`.psi`                  ``psi``, ``psi-params``, ``demo``
:mod:`.ifg`                  ``ifg-stack``, ``ifg-stack-gather``, ``ifg-stack-dem``, ``stack-overview``, ``aoi-subswaths``
:mod:`.snap`                 ``snap-graphs``
:mod:`.results`              ``quicklooks``, ``viewer export``
:mod:`.importers`            ``import``
:mod:`.stac`                 ``stac validate|catalog|stack-catalog|ifg-stack-catalog|resolve-stack|resolve-slc|search``
:mod:`.serve`                ``serve``
:mod:`.systematic`           ``systematic add|list|show|pause|resume|remove|tick``, ``ifg-stack-extend``
===========================  =====================================================

Each module has ``add_commands(subparsers)``, which registers its commands with a handler
(``func``) taking the parsed namespace and returning the exit status.  Handlers are thin: they
turn flags into a library call and print its result.  Errors in the input or parameters
(:class:`~snapstamps.errors.SnapstampsError`) are reported as one line (``error: ...``) with
exit status 2; no traceback unless ``--debug`` is given.
"""

from __future__ import annotations

import argparse
import sys

from .. import __version__
from ..errors import SnapstampsError
from ..progress import setup_logging
from . import ifg, importers, psi, results, serve, simulate, snap, stac, systematic

__all__ = ["build_parser", "main"]

#: Command groups, in the order of ``snapstamps --help``.
COMMAND_GROUPS = (simulate, psi, ifg, snap, results, importers, serve, stac, systematic)


def build_parser() -> argparse.ArgumentParser:
    """The ``snapstamps`` argument parser with every command."""
    p = argparse.ArgumentParser(prog="snapstamps", description="Sentinel-1 PSI, SNAP + StaMPS compatible.")
    p.add_argument("--version", action="version", version=f"snapstamps {__version__}")
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars or log lines")
    sub = p.add_subparsers(dest="command", required=True)
    for group in COMMAND_GROUPS:
        group.add_commands(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    """Run ``snapstamps`` with ``argv`` (default ``sys.argv[1:]``); return the exit status."""
    args = build_parser().parse_args(argv)
    setup_logging(args.quiet)
    try:
        return int(args.func(args))
    except SnapstampsError as exc:
        if args.debug:
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
