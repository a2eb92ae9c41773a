"""Running the real StaMPS (``mt_prep_snap`` and ``stamps`` steps) under GNU Octave or MATLAB.

StaMPS is found through the ``STAMPS`` environment variable, as ``StaMPS_CONFIG.bash`` sets
it: the StaMPS install folder, holding ``matlab/`` (the ``.m`` code) and ``bin/``
(``mt_prep_snap`` and the C++ tools).  The engine is ``octave-cli`` (or ``$SNAPSTAMPS_OCTAVE``)
unless ``matlab`` is asked for.

Under Octave the snapstamps compatibility layer (``octave/*.m``, see
``shared/reference/stamps-psi.md`` §7.2) is put at the front of the path: MATLAB-like ``save``
(``.mat`` names, MAT v7), ``version('-release')``, ``system`` through bash, ``eval('!cmd')``,
``nanmean``/``nanstd``, and a ``matlab`` executable for ``mt_prep_snap``.  The signal package
is loaded for ``gausswin`` (a fallback window is used when it is missing); the statistics
package is never loaded.  Every step runs as its own process, its output in
``OUT/logs/stamps_*.log``.
"""

from __future__ import annotations

import logging
import math
import os
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ...errors import ExternalToolError, SnapstampsError
from ...psi.config import PsiParams

log = logging.getLogger("snapstamps")

HERE = Path(__file__).resolve().parent
COMPAT_DIR = HERE / "octave"
FALLBACK_DIR = HERE / "octave_fallback"
WRAPPER_BIN = HERE / "bin"

#: PsiParams fields that are not StaMPS parameters (prep arguments, native-only knobs, values from the data).
NOT_SETPARM = frozenset(
    {"da_thresh", "rg_patches", "az_patches", "rg_overlap", "az_overlap", "prep_block_lines",
     "n_rand", "rand_seed", "heading", "lambda", "platform", "scn_local_linear", "velocity_type",
     "aps_deformation_model", "aps_filter_wavelength", "aps_max_iterations", "aps_convergence",
     "tropo_delay_dir", "tropo_band_m", "tropo_powerlaw_alpha", "tropo_powerlaw_h0"}
)

Engine = Literal["octave", "matlab"]


class StampsError(SnapstampsError):
    """StaMPS is missing or one of its steps failed."""


@dataclass
class StampsInstall:
    """A StaMPS install and the engine that runs it."""

    root: Path
    engine: Engine = "octave"
    executable: str = "octave-cli"
    extra_path: list[Path] = field(default_factory=list)
    timeout_s: float = 24 * 3600.0

    @property
    def matlab_dir(self) -> Path:
        """StaMPS' ``matlab/`` folder."""
        return self.root / "matlab"

    @property
    def bin_dir(self) -> Path:
        """StaMPS' ``bin/`` folder (mt_prep_snap and the C++ tools)."""
        return self.root / "bin"

    # ------------------------------------------------------------------ code and environment
    def setup_code(self) -> str:
        """Engine code that puts StaMPS (and, under Octave, the compatibility layer) on the path."""
        m = _q(str(self.matlab_dir))
        if self.engine == "matlab":
            return f"addpath({m});"
        return (
            "warning('off', 'Octave:shadowed-function'); "
            "try, pkg load signal; catch, "
            f"addpath({_q(str(FALLBACK_DIR))}); fprintf(2, 'snapstamps: signal package missing, using a fallback gausswin\\n'); end; "
            f"addpath({m}); addpath({_q(str(COMPAT_DIR))}); "
        )

    def environment(self) -> dict[str, str]:
        """Environment of StaMPS processes: PATH with the wrappers, StaMPS' bin, snaphu, extras."""
        env = dict(os.environ)
        parts: list[str] = []
        if self.engine == "octave":
            _ensure_executable(WRAPPER_BIN / "matlab")
            parts.append(str(WRAPPER_BIN))
            env["SNAPSTAMPS_OCTAVE"] = self.executable
            env["SNAPSTAMPS_OCTAVE_SETUP"] = self.setup_code()
        parts.append(str(self.bin_dir))
        parts += [str(p) for p in self.extra_path]
        snaphu_dir = _snaphu_dir()
        if snaphu_dir:
            parts.append(str(snaphu_dir))
        env["PATH"] = os.pathsep.join(parts + [env.get("PATH", "")])
        env["STAMPS"] = str(self.root)
        return env

    def command(self, code: str) -> list[str]:
        """Command line that runs ``code`` with the engine."""
        full = self.setup_code() + code
        if self.engine == "matlab":
            return [self.executable, "-batch", full]
        return [self.executable, "--no-init-file", "--quiet", "--eval", full]

    # ------------------------------------------------------------------ running
    def run_code(self, code: str, cwd: Path, log_file: Path, what: str) -> float:
        """Run engine code in ``cwd``; raise :class:`StampsError` naming ``what`` and the log on failure."""
        return self._run(self.command(code), cwd, log_file, what)

    def run_prep(self, master: str, datadir: Path, params: PsiParams, cwd: Path, log_file: Path,
                 mask_file: Path | None = None) -> float:
        """``mt_prep_snap master datadir da rg az rg_overlap az_overlap [mask]`` in ``cwd``."""
        exe = self.bin_dir / "mt_prep_snap"
        if not exe.is_file():
            raise StampsError(f"{exe}: missing; is STAMPS the StaMPS install folder (with bin/ and matlab/)?")
        cmd = [str(exe), master, str(Path(datadir).resolve()), _num(params.da_thresh), str(params.rg_patches),
               str(params.az_patches), str(params.rg_overlap), str(params.az_overlap)]
        if mask_file is not None:
            cmd.append(str(Path(mask_file).resolve()))
        return self._run(cmd, cwd, log_file, "mt_prep_snap")

    def _run(self, cmd: list[str], cwd: Path, log_file: Path, what: str) -> float:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        t0 = time.monotonic()
        with open(log_file, "w") as fh:
            fh.write("$ " + " ".join(cmd) + "\n")
            fh.flush()
            try:
                proc = subprocess.run(cmd, cwd=cwd, env=self.environment(), stdout=fh, stderr=subprocess.STDOUT,
                                      timeout=self.timeout_s, check=False)
            except subprocess.TimeoutExpired:
                raise StampsError(f"{what}: did not finish within {self.timeout_s:.0f} s (log: {log_file})") from None
            except OSError as exc:
                raise StampsError(f"{what}: cannot run {cmd[0]} ({exc})") from exc
        text = log_file.read_text(errors="replace")
        if proc.returncode != 0 or _octave_error(text):
            raise StampsError(f"{what} failed (exit status {proc.returncode}, log: {log_file}): {_last_error(text)}")
        return time.monotonic() - t0


def _ensure_executable(path: Path) -> None:
    """Restore the executable bit of a packaged wrapper script (wheels may drop it)."""
    try:
        if path.is_file() and not os.access(path, os.X_OK):
            path.chmod(path.stat().st_mode | 0o755)
    except OSError:
        log.warning("%s is not executable and cannot be made so; mt_prep_snap will not find 'matlab'", path)


def _octave_error(text: str) -> bool:
    """An ``error:`` line other than Octave's harmless exit noise."""
    for ln in text.splitlines():
        s = ln.strip()
        if s.startswith("error:") and "ignoring const execution_exception" not in s:
            return True
    return False


def _last_error(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines()
             if ln.strip() and "ignoring const execution_exception" not in ln and "shadows a built-in" not in ln]
    errs = [ln for ln in lines if "error" in ln.lower()]
    pick = errs[-3:] if errs else lines[-3:]
    return " | ".join(pick) if pick else "no output"


def _snaphu_dir() -> Path | None:
    if shutil.which("snaphu"):
        return None
    try:
        from ...io.snaphu import snaphu_executable

        return snaphu_executable().parent
    except ExternalToolError:
        return None


def _q(s: str) -> str:
    """A single-quoted MATLAB/Octave string literal."""
    return "'" + s.replace("'", "''") + "'"


def _num(x: float | int) -> str:
    if isinstance(x, bool):
        return "1" if x else "0"
    if isinstance(x, int):
        return str(x)
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return repr(float(x))


def matlab_literal(value: Any) -> str:
    """A parameter value as MATLAB/Octave source (strings quoted, lists as row vectors)."""
    if isinstance(value, str):
        return _q(value)
    if isinstance(value, (list, tuple)):
        return "[" + " ".join(_num(v) for v in value) + "]"
    if isinstance(value, (int, float)):
        return _num(value)
    raise TypeError(f"no MATLAB literal for {value!r}")


def setparm_calls(params: PsiParams) -> list[tuple[str, str]]:
    """(name, MATLAB value) for every StaMPS parameter of ``params``."""
    data = params.model_dump(by_alias=True)
    return [(k, matlab_literal(v)) for k, v in data.items() if k not in NOT_SETPARM and v is not None]


def setparm_code(params: PsiParams, only: list[str] | None = None) -> str:
    """Engine code calling ``setparm`` for each parameter (a failure is reported, not fatal)."""
    out = []
    for name, lit in setparm_calls(params):
        if only is not None and name not in only:
            continue
        out.append(
            f"try, setparm({_q(name)}, {lit}); catch err, "
            f"fprintf(2, 'snapstamps: setparm {name} failed: %s\\n', err.message); end;"
        )
    return " ".join(out)


def find_stamps(engine: Engine | Literal["auto"] = "auto", stamps_dir: Path | None = None) -> StampsInstall | None:
    """The StaMPS install from ``stamps_dir`` or ``$STAMPS`` and an engine, or None when either is missing."""
    root = Path(stamps_dir) if stamps_dir else (Path(os.environ["STAMPS"]) if os.environ.get("STAMPS") else None)
    if root is None or not (root / "matlab").is_dir():
        return None
    octave = os.environ.get("SNAPSTAMPS_OCTAVE") or "octave-cli"
    if engine in ("auto", "octave") and shutil.which(octave):
        return StampsInstall(root=root, engine="octave", executable=shutil.which(octave) or octave)
    if engine in ("auto", "matlab") and shutil.which("matlab"):
        return StampsInstall(root=root, engine="matlab", executable=shutil.which("matlab") or "matlab")
    return None


def describe_missing() -> str:
    """Why :func:`find_stamps` found nothing, for error messages."""
    root = os.environ.get("STAMPS")
    if not root:
        return "STAMPS is not set: source StaMPS_CONFIG.bash (STAMPS = the StaMPS folder with bin/ and matlab/)"
    if not (Path(root) / "matlab").is_dir():
        return f"STAMPS={root} has no matlab/ folder"
    return "neither octave-cli nor matlab is on PATH (apt-get install octave octave-signal)"
