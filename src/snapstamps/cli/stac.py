"""``snapstamps stac ...``: STAC catalogs of stacks and results, validation, search.

::

    snapstamps stac validate CATALOG [--schemas DIR] [--no-fetch] [--require-extensions]
    snapstamps stac catalog RESULT_DIR --out DIR [--id ID] [--stack REF] [--polarisation VV] [--swath IW2] [--quicklooks DIR]
                            [--make-quicklooks [--tiles URL]]
    snapstamps stac stack-catalog INSAR_DIR [...] --out DIR [--swath IW2 ...] [--polarisation VV]
    snapstamps stac ifg-stack-catalog GATHERED [...] --out DIR [--item PRODUCT=HREF ...] [--id ID]
    snapstamps stac resolve-stack STACK [--swath IW2]
    snapstamps stac resolve-slc REF
    snapstamps stac search URL [--collection C] [--bbox W S E N] [--datetime I] [--relative-orbit N] [--max-items N]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from ..errors import SnapstampsError


def cmd_stac_validate(args: argparse.Namespace) -> int:
    """``stac validate CATALOG``: validate every object; say which schemas were used."""
    from ..stac.validate import validate_catalog

    try:
        report = validate_catalog(Path(args.catalog), args.schemas, fetch=False if args.no_fetch else None,
                                  require_extensions=args.require_extensions)
    except (FileNotFoundError, ValueError) as exc:
        raise SnapstampsError(str(exc)) from exc
    print(f"schemas: {report.schemas}")
    for uri, where in sorted(report.used.items()):
        print(f"schema used: {uri} ({where})")
    for label in report.checked:
        print(f"valid: {label}")
    for warning in report.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    for err in report.errors:
        print(f"invalid: {err}", file=sys.stderr)
    skipped = f", {len(report.skipped)} extension(s) not validated" if report.skipped else ""
    print(f"{len(report.checked)} valid, {len(report.errors)} invalid{skipped}")
    return 0 if report.ok else 1


def publish_psi_catalog(result_dir: Path, out: Path, *, make_quicklooks: bool, quicklooks: Path | None = None,
                        tiles: str | None = None, **fields: Any) -> Path:
    """The psi result catalog of ``result_dir`` in ``out``; with ``make_quicklooks`` the quicklooks,
    COGs, report and viewer are made first in this process (into ``quicklooks``, default a temporary
    folder beside ``out``), as ``snapstamps quicklooks`` does.  ``fields``: the other arguments of
    :func:`~snapstamps.stac.psi.build_psi_catalog`.  Returns the path of ``catalog.json``."""
    import tempfile

    from ..stac.psi import build_psi_catalog

    if tiles and not make_quicklooks:
        raise SnapstampsError("--tiles needs --make-quicklooks (or give it to `snapstamps quicklooks`)")
    parent = Path(out).resolve().parent
    parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".quicklooks-", dir=parent) as scratch:
        if make_quicklooks:
            from ..results.derived import make_job_outputs

            quicklooks = quicklooks or Path(scratch)
            make_job_outputs(Path(result_dir), quicklooks, viewer=True, tiles_url=tiles)
        return build_psi_catalog(Path(result_dir), Path(out), quicklooks_dir=quicklooks, **fields)


def cmd_stac_catalog(args: argparse.Namespace) -> int:
    """``stac catalog RESULT_DIR --out DIR``: publish the psi result catalog (with ``--make-quicklooks``:
    make the quicklooks, COGs, report and viewer first, as ``snapstamps quicklooks``, in one process)."""
    path = publish_psi_catalog(Path(args.result_dir), Path(args.out), make_quicklooks=args.make_quicklooks,
                               quicklooks=Path(args.quicklooks) if args.quicklooks else None, tiles=args.tiles,
                               catalog_id=args.id, stack_ref=args.stack, polarisation=args.polarisation,
                               swath=args.swath)
    print(path)
    return 0


def cmd_stac_stack_catalog(args: argparse.Namespace) -> int:
    """``stac stack-catalog INSAR_DIR... --out DIR``: a stack catalog of existing stacks."""
    from ..stac.stack import write_stack_catalog

    path = write_stack_catalog([Path(p) for p in args.insar_dirs], Path(args.out), swaths=args.swath,
                               polarisation=args.polarisation)
    print(path)
    return 0


def cmd_stac_ifg_stack_catalog(args: argparse.Namespace) -> int:
    """``stac ifg-stack-catalog GATHERED... --out DIR``: the stack catalog of an interferogram stack."""
    from ..stac.ifg import build_ifg_stack_catalog

    items: dict[str, str] = {}
    for spec in args.item or []:
        name, sep, href = spec.partition("=")
        if not sep or not name or not href:
            raise SnapstampsError(f"--item {spec!r}: expected PRODUCT=HREF")
        items[name] = href
    print(build_ifg_stack_catalog([Path(p) for p in args.gathered], Path(args.out), items, catalog_id=args.id))
    return 0


def cmd_stac_resolve_slc(args: argparse.Namespace) -> int:
    """``stac resolve-slc REF``: print the SAFE product of an SLC STAC item (or SAFE)."""
    from ..stac.slc import resolve_slc

    print(resolve_slc(args.ref).safe)
    return 0


def cmd_stac_resolve_stack(args: argparse.Namespace) -> int:
    """``stac resolve-stack STACK``: print the INSAR_<master> directory of a stack reference."""
    from ..stac.stack import resolve_stack

    print(resolve_stack(args.stack, swath=args.swath))
    return 0


def cmd_stac_search(args: argparse.Namespace) -> int:
    """``stac search URL``: Sentinel-1 SLC items from a STAC API (pystac-client)."""
    from ..stac.search import search_slc

    items = search_slc(args.url, collection=args.collection, bbox=args.bbox, datetime=args.datetime,
                       relative_orbit=args.relative_orbit, orbit_state=args.orbit_state, max_items=args.max_items)
    if args.json:
        print(json.dumps({"type": "FeatureCollection", "features": [i.to_dict() for i in items]}, indent=2))
    else:
        for i in items:
            p = i.properties
            print(f"{i.id}\t{p.get('datetime')}\t{p.get('sat:relative_orbit', '')}\t{p.get('sat:orbit_state', '')}\t{i.get_self_href() or ''}")
    return 0


def add_commands(sub: Any) -> None:
    """Register ``stac`` and its sub-commands."""
    st = sub.add_parser("stac", help="STAC catalogs: validate, build, search")
    ss = st.add_subparsers(dest="stac_command", required=True)
    v = ss.add_parser("validate", help="validate a catalog and every object in it (core and extension schemas)")
    v.add_argument("catalog", help="catalog.json or its directory")
    v.add_argument("--schemas", help="extension schema directory with schema-map.json (default: $SNAPSTAMPS_STAC_SCHEMAS, "
                                     "else shared/data/stac-schemas beside the checkout; then the cache and fetching)")
    v.add_argument("--no-fetch", action="store_true", help="never fetch schemas (also SNAPSTAMPS_STAC_FETCH=0)")
    v.add_argument("--require-extensions", action="store_true",
                   help="an extension whose schema is unavailable is an error, not a warning")
    v.set_defaults(func=cmd_stac_validate)

    c = ss.add_parser("catalog", help="publish the STAC catalog of a finished psi run")
    c.add_argument("result_dir", help="psi processing directory (after step 7 or 8)")
    c.add_argument("--out", required=True, help="catalog directory (replaced atomically)")
    c.add_argument("--id", help="catalog id (default psi-<master>)")
    c.add_argument("--stack", help="the input stack reference, recorded as a derived_from link")
    c.add_argument("--polarisation", help="sar:polarizations of the stack (e.g. VV)")
    c.add_argument("--swath", help="sar:beam_ids of the stack (e.g. IW2)")
    c.add_argument("--quicklooks", help="folder written by `snapstamps quicklooks RESULT_DIR --out DIR` "
                                        "(default: RESULT_DIR when it holds assets.json)")
    c.add_argument("--make-quicklooks", action="store_true",
                   help="make the quicklooks, COGs, report and viewer first (into --quicklooks, default a temporary "
                        "folder), as `snapstamps quicklooks`: one process for both")
    c.add_argument("--tiles", metavar="URL", help="with --make-quicklooks: XYZ tile URL template for the viewer background")
    c.set_defaults(func=cmd_stac_catalog)

    k = ss.add_parser("stack-catalog", help="write a stack catalog for INSAR_<master> directories")
    k.add_argument("insar_dirs", nargs="+")
    k.add_argument("--out", required=True)
    k.add_argument("--swath", action="append", help="sub-swath of each directory, in order (repeatable)")
    k.add_argument("--polarisation")
    k.set_defaults(func=cmd_stac_stack_catalog)

    g = ss.add_parser("ifg-stack-catalog", help="the stack catalog of gathered interferogram stacks (one folder per sub-swath)")
    g.add_argument("gathered", nargs="+", help="output folders of `snapstamps ifg-stack-gather` (INSAR_<ref>/, ifg_stack.json)")
    g.add_argument("--out", required=True, help="catalog directory (replaced atomically)")
    g.add_argument("--item", action="append", metavar="PRODUCT=HREF",
                   help="input STAC item (or SAFE) of a product, linked as reference/secondary (repeatable)")
    g.add_argument("--id", help="catalog id (default ifg-stack-<reference date>)")
    g.set_defaults(func=cmd_stac_ifg_stack_catalog)

    rs = ss.add_parser("resolve-slc", help="print the SAFE product of an SLC STAC item (path or URL) or SAFE")
    rs.add_argument("ref")
    rs.set_defaults(func=cmd_stac_resolve_slc)

    r = ss.add_parser("resolve-stack", help="print the INSAR_<master> directory of a stack reference")
    r.add_argument("stack", help="INSAR_<date> directory, stack catalog.json, its directory, or file:// URL")
    r.add_argument("--swath")
    r.set_defaults(func=cmd_stac_resolve_stack)

    s = ss.add_parser("search", help="search a STAC API for Sentinel-1 SLC items")
    s.add_argument("url", help="STAC API root, e.g. https://stac.dataspace.copernicus.eu/v1")
    s.add_argument("--collection", default="sentinel-1-slc")
    s.add_argument("--bbox", type=float, nargs=4, metavar=("W", "S", "E", "N"))
    s.add_argument("--datetime", help="RFC 3339 instant or interval a/b")
    s.add_argument("--relative-orbit", type=int)
    s.add_argument("--orbit-state", choices=["ascending", "descending"])
    s.add_argument("--max-items", type=int, default=100)
    s.add_argument("--json", action="store_true", help="print a GeoJSON FeatureCollection")
    s.set_defaults(func=cmd_stac_search)
