"""``snapstamps serve``: the OGC API - Processes service (pygeoapi)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def cmd_serve(args: argparse.Namespace) -> int:
    """``serve``: run the server until interrupted."""
    from ..service.server import serve

    serve(host=args.host, port=args.port, config=Path(args.config) if args.config else None,
          data_dir=Path(args.data_dir) if args.data_dir else None)
    return 0


def add_commands(sub: Any) -> None:
    """Register ``serve``."""
    sv = sub.add_parser("serve", help="run the OGC API - Processes service (pygeoapi)")
    sv.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    sv.add_argument("--port", type=int, default=5000, help="port (default 5000)")
    sv.add_argument("--config", help="pygeoapi configuration (default: processes/pygeoapi-config.yml)")
    sv.add_argument("--data-dir",
                    help="jobs database, job directories and results (default: $SNAPSTAMPS_DATA_DIR or ./snapstamps-service)")
    sv.set_defaults(func=cmd_serve)
