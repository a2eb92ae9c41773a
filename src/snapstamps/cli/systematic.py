"""``snapstamps systematic add|list|show|pause|resume|remove|tick`` and ``ifg-stack-extend``.

``add_commands(subparsers)`` registers both; each sets ``func`` to a callable taking the parsed
namespace and returning the exit status.  ``--data-dir`` is the service's data folder (default
``$SNAPSTAMPS_DATA_DIR`` or ``./snapstamps-service``, as ``snapstamps serve``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any


def _data_dir(args: argparse.Namespace) -> Path:
    return Path(args.data_dir or os.environ.get("SNAPSTAMPS_DATA_DIR") or "snapstamps-service")


def _store(args: argparse.Namespace):
    from ..systematic.store import SubscriptionStore

    return SubscriptionStore(_data_dir(args))


def _add(args: argparse.Namespace) -> int:
    from ..systematic.model import SubscriptionError, load_subscription

    if args.spec == "-":
        text = sys.stdin.read()
    else:
        try:
            text = Path(args.spec).read_text(encoding="utf-8")
        except OSError as exc:
            raise SubscriptionError(f"{args.spec}: cannot read ({exc.strerror or exc})") from None
    sub = load_subscription(text)
    _store(args).add(sub)
    print(sub.name)
    return 0


def _list(args: argparse.Namespace) -> int:
    store = _store(args)
    rows = []
    for name in store.names():
        r = store.row(name)
        v = store.versions(name)
        dates = store.dates(name)
        rows.append({"name": name, "status": r["status"], "reference_date": r["reference_date"],
                     "dates": len(dates), "failed_dates": sum(d["status"] in ("failed", "given_up") for d in dates),
                     "versions": len(v), "next_tick": r["next_tick"], "last_error": r["last_error"]})
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    for r in rows:
        print(f"{r['name']:<24} {r['status']:<7} reference {r['reference_date'] or '-':<10} {r['dates']:>4} dates "
              f"({r['failed_dates']} failed) {r['versions']:>3} versions  next tick {r['next_tick'] or '-'}"
              + (f"  error: {r['last_error']}" if r["last_error"] else ""))
    return 0


def _show(args: argparse.Namespace) -> int:
    info = _store(args).describe(args.name)
    if args.json:
        print(json.dumps(info, indent=2, default=str))
        return 0
    print(f"{info['name']} ({info['status']}): reference {info['reference_date'] or '-'}, sub-swaths "
          f"{', '.join(info['subswaths'] or []) or '-'}, next tick {info['next_tick'] or '-'}")
    if info["last_error"]:
        print(f"last error: {info['last_error']}")
    for d in info["dates"]:
        extra = f" attempts {d['attempts']}, retry after {d['next_attempt']}: {d['error']}" if d["error"] else ""
        print(f"  {d['date']}  {d['status']:<8}{extra}")
    for v in info["versions"]:
        print(f"  version {v['version']}: {len(v['dates'])} dates to {v['dates'][-1]}, PS {v['n_ps']}  {v['path']}")
    return 0


def _status(value: str):
    def run(args: argparse.Namespace) -> int:
        _store(args).set_status(args.name, value)
        print(f"{args.name}: {value}")
        return 0

    return run


def _remove(args: argparse.Namespace) -> int:
    store = _store(args)
    sub = store.get(args.name)
    store.remove(args.name)
    if args.purge:
        from ..systematic.tick import SubscriptionPaths

        paths = SubscriptionPaths.of(_data_dir(args), sub)
        for folder in (paths.items, paths.safes, paths.pairs, paths.psi, paths.root / "dem"):
            shutil.rmtree(folder, ignore_errors=True)
    print(f"{args.name}: removed" + (" (work files deleted; published results kept)" if args.purge else ""))
    return 0


def _tick(args: argparse.Namespace) -> int:
    from ..errors import SnapstampsError
    from ..systematic.model import SubscriptionError
    from ..systematic.tick import tick

    if not args.name and not args.due:
        raise SubscriptionError("systematic tick: give a subscription NAME or --due")
    now = dt.datetime.fromisoformat(args.now.replace("Z", "+00:00")) if args.now else None
    names = [args.name] if args.name else _store(args).due()
    worst = 0
    out: list[dict[str, Any]] = []
    for name in names:
        try:
            out.append(tick(_data_dir(args), name, now=now))
        except SnapstampsError as exc:  # with --due: reported, and the other subscriptions go on
            if args.name:
                raise
            print(f"error: {name}: {exc}", file=sys.stderr)
            worst = 2
    print(json.dumps(out[0] if args.name else out, indent=2, default=str))
    return worst


def _extend(args: argparse.Namespace) -> int:
    from ..workflows.ifg_extend import extend_ifg_stack

    res = extend_ifg_stack(args.catalog, list(args.secondary), args.out, reference=args.reference or None,
                           bbox=tuple(args.bbox) if args.bbox else None, dem=str(args.dem) if args.dem else None,
                           orbits=str(args.orbits) if args.orbits else None, download_orbits=args.download_orbits)
    print(json.dumps(res, indent=2))
    return 0


def add_commands(subparsers: Any) -> None:
    """Register ``systematic`` (with its sub-commands) and ``ifg-stack-extend``."""
    p = subparsers.add_parser("systematic", help="subscriptions that keep a stack and its psi results up to date")
    sub = p.add_subparsers(dest="systematic_command", required=True)

    def common(q: argparse.ArgumentParser) -> argparse.ArgumentParser:
        q.add_argument("--data-dir", help="the service's data folder (default: $SNAPSTAMPS_DATA_DIR or ./snapstamps-service)")
        return q

    a = common(sub.add_parser("add", help="add a subscription from its JSON spec"))
    a.add_argument("spec", help="subscription JSON file, or - for standard input")
    a.set_defaults(func=_add)
    ls = common(sub.add_parser("list", help="the subscriptions and their state"))
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=_list)
    sh = common(sub.add_parser("show", help="one subscription: dates, failures, versions, last ticks"))
    sh.add_argument("name")
    sh.add_argument("--json", action="store_true")
    sh.set_defaults(func=_show)
    for verb, status in (("pause", "paused"), ("resume", "active")):
        q = common(sub.add_parser(verb, help=f"{verb} scheduled ticks"))
        q.add_argument("name")
        q.set_defaults(func=_status(status))
    rm = common(sub.add_parser("remove", help="delete a subscription and its records (published results are kept)"))
    rm.add_argument("name")
    rm.add_argument("--purge", action="store_true", help="also delete its work files (pairs, staged SAFEs, psi runs)")
    rm.set_defaults(func=_remove)
    t = common(sub.add_parser("tick", help="run one tick in the foreground (for cron and tests); prints its summary"))
    t.add_argument("name", nargs="?", help="subscription (or --due: every active one whose scheduled tick is due)")
    t.add_argument("--due", action="store_true", help="tick every active subscription that is due, one after the other")
    t.add_argument("--now", help=argparse.SUPPRESS)  # tests: the time failed dates' retries are compared with
    t.set_defaults(func=_tick)

    e = subparsers.add_parser("ifg-stack-extend", help="add new secondaries to an interferogram-stack catalog (same reference)")
    e.add_argument("catalog", type=Path, help="stack catalog.json (or its folder) made by interferogram-stack")
    e.add_argument("--secondary", required=True, nargs="+", help="new secondary SAFEs or their STAC items")
    e.add_argument("--reference", nargs="+", help="the stack's reference SAFE (default: the item the catalog links)")
    e.add_argument("--bbox", nargs=4, type=float, metavar=("W", "S", "E", "N"), help="only for stacks that do not record it")
    e.add_argument("--dem", type=Path, help="DEM (default: the one the stack was made with)")
    e.add_argument("--orbits", type=Path, help="EOF folder (default: the stack's)")
    e.add_argument("--download-orbits", action="store_true")
    e.add_argument("--out", required=True, type=Path, help="folder of the extended catalog (may be the catalog's own)")
    e.set_defaults(func=_extend)
