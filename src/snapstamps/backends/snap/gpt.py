"""Finding and running SNAP's ``gpt``: options, logs, time limit and readable errors.

Each graph runs as ``gpt <graph.xml> -q N -c SIZE -e [-J-Xmx..] [-J-Dsnap.jai.defaultTileSize=..]
[-DAuxDataPath=..] [-DOrbitFiles.sentinel1POEOrbitPath=..]`` in a scratch working directory (gpt
leaves a default ``target.dim`` there for graphs without a Write node, such as the StaMPS
export; it is removed afterwards).  stdout and stderr go to one log file per graph.  A non-zero
exit, a timeout or a missing output is a :class:`GptError` whose message names the graph, the
log and, where the log matches a known failure, its likely cause and fix.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from ...errors import SnapstampsError
from ...ifg.config import GptOptions

#: (pattern in the gpt log, explanation) for failures users meet (snap-chain.md §4).
KNOWN_FAILURES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"No valid orbit file found|orbit file.*not found|Unable to download.*orbit", re.I),
     "no orbit file: put the POEORB/RESORB .EOF files under the orbits folder (--orbits-dir), "
     "or use --orbit-type restituted for acquisitions younger than about 20 days"),
    (re.compile(r"Unable to download.*(egm96|dem|srtm)|DEM.*not found|No DEM tiles", re.I),
     "DEM tiles (or the EGM96 grid) are missing and could not be downloaded: pre-seed auxdata/dem "
     "(with dem/egm96/ww15mgh_b.zip) or give an external DEM file"),
    (re.compile(r"OutOfMemoryError|Java heap space|GC overhead limit", re.I),
     "gpt ran out of Java heap: raise --gpt-heap (about 70-80 % of the memory) or lower --gpt-cache"),
    (re.compile(r"Unknown element|unknown parameter|Invalid parameter|is not a valid parameter", re.I),
     "the graph uses a parameter this SNAP version does not know: pass --snap-version with the "
     "installed version (gpt --diag shows it)"),
    (re.compile(r"wktAoi|does not intersect|No bursts? (found|selected)|TOPSAR-Split\]\s*-1", re.I),
     "the area of interest has no burst in this sub-swath: drop the sub-swath or widen the bbox"),
    (re.compile(r"Split product is expected|not a TOPSAR|burst product", re.I),
     "an input is not a TOPS split product: check that the products are Sentinel-1 IW SLCs"),
    (re.compile(r"Elevation band required|Orthorectified lat/lon bands required", re.I),
     "the interferogram lacks elevation/lat/lon bands: TopoPhaseRemoval must precede the export"),
    (re.compile(r"No space left on device", re.I), "the disk is full"),
]


class GptError(SnapstampsError):
    """A gpt run failed, timed out or did not write its outputs."""


@dataclass
class GptResult:
    """Outcome of one successful gpt run."""

    graph: Path
    log: Path
    seconds: float
    command: list[str]


def find_gpt(options: GptOptions | None = None) -> Path | None:
    """The gpt executable: the configured one, ``$SNAP_HOME/bin/gpt``, ``gpt`` on PATH, usual install dirs."""
    cands: list[Path] = []
    if options is not None and options.executable:
        exe = shutil.which(options.executable) or options.executable
        return Path(exe) if Path(exe).is_file() else None
    if os.environ.get("SNAP_HOME"):
        cands.append(Path(os.environ["SNAP_HOME"]) / "bin" / "gpt")
    on_path = shutil.which("gpt")
    if on_path:
        cands.append(Path(on_path))
    cands += [Path("/usr/local/snap/bin/gpt"), Path("/opt/snap/bin/gpt"), Path.home() / "esa-snap" / "bin" / "gpt", Path.home() / "snap" / "bin" / "gpt"]
    for c in cands:
        if c.is_file() and os.access(c, os.X_OK):
            return c
    return None


def detect_snap_version(gpt: Path, timeout_s: float = 120.0) -> str | None:
    """SNAP version from ``gpt --diag`` (e.g. ``"9.0.0"``), or None when it cannot be read."""
    try:
        proc = subprocess.run([str(gpt), "--diag"], capture_output=True, text=True, timeout=timeout_s, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return parse_diag_version(proc.stdout + "\n" + proc.stderr)


def parse_diag_version(text: str) -> str | None:
    """The release version in ``gpt --diag`` output (``SNAP Release version 9.0.0``)."""
    m = re.search(r"Release version\s+(\d+(?:\.\d+){0,2})", text) or re.search(r"\bversion\s+(\d+\.\d+(?:\.\d+)?)", text, re.I)
    return m.group(1) if m else None


def gpt_command(
    gpt: Path, graph: Path, options: GptOptions, orbits_dir: Path | None = None
) -> list[str]:
    """The gpt command line for ``graph`` with the configured options."""
    cmd = [str(gpt), str(graph), "-e"]
    if options.threads:
        cmd += ["-q", str(options.threads)]
    if options.cache:
        cmd += ["-c", options.cache]
    if options.heap:
        cmd.append(f"-J-Xmx{options.heap}")
    if options.tile_size:
        cmd.append(f"-J-Dsnap.jai.defaultTileSize={options.tile_size}")
    if options.aux_data_path:
        cmd.append(f"-DAuxDataPath={Path(options.aux_data_path).resolve()}")
    if orbits_dir:
        o = Path(orbits_dir).resolve()
        cmd.append(f"-DOrbitFiles.sentinel1POEOrbitPath={o / 'POEORB'}")
        cmd.append(f"-DOrbitFiles.sentinel1RESOrbitPath={o / 'RESORB'}")
    return cmd


def explain_log(text: str, max_lines: int = 5) -> str:
    """The error lines of a gpt log, and the known cause when one matches."""
    lines = [ln.strip() for ln in text.splitlines() if re.search(r"error|exception|severe|caused by", ln, re.I)]
    lines = [ln for ln in lines if ln][-max_lines:]
    hints = [hint for pat, hint in KNOWN_FAILURES if pat.search(text)]
    parts = []
    if hints:
        parts.append("likely cause: " + "; ".join(dict.fromkeys(hints)))
    if lines:
        parts.append("gpt said: " + " | ".join(lines))
    return "; ".join(parts) if parts else "no error message in the log"


def run_gpt(
    graph: Path,
    log_file: Path,
    options: GptOptions,
    expected_outputs: list[Path] | None = None,
    gpt: Path | None = None,
    orbits_dir: Path | None = None,
) -> GptResult:
    """Run one graph; raise :class:`GptError` on failure, timeout or missing outputs."""
    exe = gpt or find_gpt(options)
    if exe is None:
        raise GptError("gpt not found: install SNAP (see docker/README.md), set SNAP_HOME, or pass --gpt")
    graph = Path(graph)
    _check_xml(graph)
    log_file = Path(log_file)
    log_file.parent.mkdir(parents=True, exist_ok=True)
    cmd = gpt_command(exe, graph, options, orbits_dir)
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="gpt-") as work, open(log_file, "w") as log:
        log.write("$ " + " ".join(cmd) + "\n")
        log.flush()
        env = dict(os.environ)
        env["LD_LIBRARY_PATH"] = ".:" + env.get("LD_LIBRARY_PATH", "")
        proc = subprocess.Popen(cmd, cwd=work, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        try:
            rc = proc.wait(timeout=options.timeout_s)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            raise GptError(
                f"{graph.name}: gpt did not finish within {options.timeout_s:.0f} s and was stopped "
                f"(log: {log_file}); raise the time limit (--gpt-timeout) or process fewer bursts"
            ) from None
        except BaseException:
            _kill_group(proc)
            raise
    seconds = time.monotonic() - t0
    text = log_file.read_text(errors="replace")
    if rc != 0:
        raise GptError(f"{graph.name}: gpt failed with exit status {rc} (log: {log_file}); {explain_log(text)}")
    missing = [p for p in expected_outputs or [] if not _nonempty(p)]
    if missing:
        raise GptError(
            f"{graph.name}: gpt exited normally but did not write {', '.join(map(str, missing))} "
            f"(log: {log_file}); {explain_log(text)}"
        )
    return GptResult(graph, log_file, seconds, cmd)


def _nonempty(p: Path) -> bool:
    p = Path(p)
    if p.suffix == ".dim":
        data = p.with_suffix(".data")
        return p.is_file() and p.stat().st_size > 0 and data.is_dir()
    return p.is_file() and p.stat().st_size > 0


def _check_xml(graph: Path) -> None:
    import xml.etree.ElementTree as ET

    try:
        ET.parse(graph)
    except (ET.ParseError, OSError) as exc:
        raise GptError(f"{graph}: not a well-formed graph ({exc})") from exc


def _kill_group(proc: subprocess.Popen) -> None:
    """Stop gpt and the JVM it started (its own process group)."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()
