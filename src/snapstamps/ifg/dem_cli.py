"""``snapstamps ifg-stack-dem``: the Copernicus GLO-30 DEM of an area of interest, prepared once.

::

    snapstamps ifg-stack-dem --bbox W S E N --out DIR

stitches the GLO-30 DEM of the AOI plus :data:`~snapstamps.ifg.download.DEM_MARGIN_DEG` with
``dem-stitcher`` (heights above the WGS84 ellipsoid) exactly as ``ifg-stack --dem auto`` does
(:func:`snapstamps.ifg.download.build_dem`), into ``DIR/dem/glo30_<W>_<S>_<E>_<N>.tif``, and
prints that path.  The interferogram-stack CWL workflow runs it once per job (step ``dem``) and
gives the file to every scattered ``ifg-stack`` run, instead of each run downloading it again.
A failed download is a one-line error (exit status 2) asking for a DEM file.

``SNAPSTAMPS_DEM_AUTO_SOURCE=/path/to/dem.tif`` is for tests only: the named GeoTIFF is copied to
the same path instead of downloading (so the service's ``dem``-omitted path can be tested
without a network); a line on stderr says so.  Never set it in a deployment.

``add_subcommands(subparsers)`` registers the command on the ``snapstamps`` command line; until
``snapstamps.cli`` does, ``python -m snapstamps.ifg.dem_cli --bbox W S E N --out DIR`` runs it
(and ``python -m snapstamps.service.cli ifg-stack-dem ...`` includes it).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path
from typing import Any

__all__ = ["TEST_SOURCE_ENV", "add_subcommands", "main", "prepare_dem"]

#: Environment variable naming a GeoTIFF copied instead of the GLO-30 download (tests only).
TEST_SOURCE_ENV = "SNAPSTAMPS_DEM_AUTO_SOURCE"


def _check_bbox(bbox: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
    """``bbox`` as floats; raise :class:`~snapstamps.errors.InputError` unless W < E and S < N in degrees."""
    from ..errors import InputError

    w, s, e, n = (float(v) for v in bbox)
    if not (-180 <= w < e <= 180 and -90 <= s < n <= 90):
        raise InputError(f"--bbox {w} {s} {e} {n}: expected W < E and S < N in lon/lat degrees")
    return w, s, e, n


def prepare_dem(bbox: tuple[float, float, float, float], out_dir: Path, log: Any = None) -> Path:
    """The GLO-30 DEM of ``bbox`` in ``out_dir/dem/`` (see the module docstring); return its path.

    ``log`` (a callable taking a line, default stderr) is told when the test-only
    :data:`TEST_SOURCE_ENV` variable replaces the download.  Raises
    :class:`~snapstamps.ifg.download.DownloadError` when the download fails, or
    :class:`~snapstamps.errors.InputError` for a bad ``bbox`` or a missing test source.
    """
    from ..errors import InputError
    from .download import build_dem, dem_auto_path

    box = _check_bbox(bbox)
    say = log or (lambda line: print(line, file=sys.stderr))
    source = os.environ.get(TEST_SOURCE_ENV)
    if source:
        src = Path(source)
        if not src.is_file():
            raise InputError(f"{TEST_SOURCE_ENV}={source}: no such file")
        dest = dem_auto_path(out_dir, box)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dest)
        say(f"{TEST_SOURCE_ENV} is set (tests only): {src} copied to {dest} instead of downloading GLO-30")
        return dest
    return build_dem(box, Path(out_dir))


def _run(args: argparse.Namespace) -> int:
    """Run the command of the parsed ``args``; print the DEM path."""
    print(prepare_dem(tuple(args.bbox), Path(args.out)))
    return 0


def _add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--bbox", nargs=4, type=float, metavar=("W", "S", "E", "N"), required=True,
                   help="area of interest (lon/lat degrees), as given to ifg-stack")
    p.add_argument("--out", required=True, type=Path,
                   help="output folder: the DEM is written as OUT/dem/glo30_<W>_<S>_<E>_<N>.tif (as ifg-stack --dem auto)")
    p.set_defaults(func=_run)


def add_subcommands(subparsers: Any) -> None:
    """Register ``ifg-stack-dem`` on the ``snapstamps`` sub-parser collection."""
    p = subparsers.add_parser(
        "ifg-stack-dem",
        help="download the Copernicus GLO-30 DEM of an AOI once (what ifg-stack --dem auto does), for several ifg-stack runs",
        description=__doc__.splitlines()[0] if __doc__ else None,
    )
    _add_arguments(p)


def main(argv: list[str] | None = None) -> int:
    """``python -m snapstamps.ifg.dem_cli --bbox W S E N --out DIR``; errors are one line, exit status 2."""
    from ..errors import SnapstampsError

    p = argparse.ArgumentParser(prog="snapstamps ifg-stack-dem", description=__doc__.splitlines()[0] if __doc__ else None)
    _add_arguments(p)
    args = p.parse_args(argv)
    try:
        return int(args.func(args))
    except SnapstampsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
