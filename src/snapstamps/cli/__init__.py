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
:mod:`.cwl`                  ``cwl-run``
===========================  =====================================================

Each module has ``add_commands(subparsers)``, which registers its commands with a handler
(``func``) taking the parsed namespace and returning the exit status.  :func:`main` imports and
registers only the module of the command it is asked to run (:data:`COMMANDS`): a CWL tool
process (``snapstamps psi ...``, ``snapstamps stac catalog ...``) pays for its own imports
only, not for every command's configuration models.  Handlers are thin: they
turn flags into a library call and print its result.  Errors in the input or parameters
(:class:`~snapstamps.errors.SnapstampsError`) are reported as one line (``error: ...``) with
exit status 2; no traceback unless ``--debug`` is given.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from types import ModuleType

from .. import __version__
from ..errors import SnapstampsError

__all__ = ["COMMANDS", "build_parser", "main"]

#: Command groups (modules of this package), in the order of ``snapstamps --help``.
COMMAND_GROUPS = ("simulate", "psi", "ifg", "snap", "results", "importers", "serve", "stac", "systematic", "cwl")
#: Top-level command -> the module that registers it (``tests/test_interfaces.py`` checks it
#: against what the modules register).
COMMANDS: dict[str, str] = {
    "simulate": "simulate", "psi": "psi", "psi-params": "psi", "demo": "psi",
    "ifg-stack": "ifg", "ifg-stack-gather": "ifg", "ifg-stack-dem": "ifg", "stack-overview": "ifg",
    "aoi-subswaths": "ifg", "snap-graphs": "snap", "viewer": "results", "quicklooks": "results",
    "import": "importers", "serve": "serve", "stac": "stac", "systematic": "systematic",
    "ifg-stack-extend": "systematic", "cwl-run": "cwl",
}


def _group(name: str) -> ModuleType:
    return importlib.import_module(f"{__name__}.{name}")


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The ``snapstamps`` argument parser: with every command, or with ``command``'s group only."""
    p = argparse.ArgumentParser(prog="snapstamps", description="Sentinel-1 PSI, SNAP + StaMPS compatible.")
    p.add_argument("--version", action="version", version=f"snapstamps {__version__}")
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars or log lines")
    sub = p.add_subparsers(dest="command", required=True)
    groups = [COMMANDS[command]] if command in COMMANDS else COMMAND_GROUPS
    for group in groups:
        _group(group).add_commands(sub)
    return p


def _command(argv: list[str]) -> str | None:
    """The command word of ``argv`` (the first argument that is not a global flag)."""
    for arg in argv:
        if arg in ("--debug", "-q", "--quiet"):
            continue
        return None if arg.startswith("-") else arg
    return None


def main(argv: list[str] | None = None) -> int:
    """Run ``snapstamps`` with ``argv`` (default ``sys.argv[1:]``); return the exit status."""
    from ..progress import setup_logging

    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser(_command(argv)).parse_args(argv)
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
