"""Satellite orbits: state vectors, EOF files, and a local interpolator.

Times are float seconds relative to an ``epoch`` (``numpy.datetime64[ns]``) so that float64
keeps sub-nanosecond precision over a pass.  Positions and velocities are Earth-fixed (ECEF, m).

The interpolator is *local*: a query time between two state vectors is served by the Hermite
polynomial (positions and velocities) through the few vectors around that interval (default 4,
degree 7), never one polynomial over a whole day of POEORB vectors; it passes exactly through the
given vectors and is continuous (position and velocity) where its window changes.
"""

from __future__ import annotations

import datetime as _dt
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from ..errors import InputError

__all__ = ["StateVectors", "OrbitInterpolator", "parse_eof", "find_eof", "to_seconds", "from_seconds"]


def to_seconds(t, epoch: np.datetime64) -> NDArray[np.float64]:
    """datetime64 (scalar/array) -> float seconds since ``epoch``."""
    d = np.asarray(t, dtype="datetime64[ns]") - np.datetime64(epoch, "ns")
    return d.astype(np.int64) * 1e-9


def from_seconds(s, epoch: np.datetime64) -> np.ndarray:
    """float seconds since ``epoch`` -> datetime64[ns]."""
    return np.datetime64(epoch, "ns") + np.round(np.asarray(s, dtype=np.float64) * 1e9).astype("timedelta64[ns]")


@dataclass
class StateVectors:
    """Orbit state vectors: ``time`` (n,) s since ``epoch``, ``position``/``velocity`` (n, 3)."""

    epoch: np.datetime64
    time: NDArray[np.float64]
    position: NDArray[np.float64]
    velocity: NDArray[np.float64]
    source: str = "annotation"

    def __post_init__(self) -> None:
        order = np.argsort(self.time)
        self.time = np.asarray(self.time, np.float64)[order]
        self.position = np.asarray(self.position, np.float64)[order]
        self.velocity = np.asarray(self.velocity, np.float64)[order]
        keep = np.concatenate([[True], np.diff(self.time) > 1e-6])
        self.time, self.position, self.velocity = self.time[keep], self.position[keep], self.velocity[keep]

    def rebase(self, epoch: np.datetime64) -> "StateVectors":
        """The same vectors with times relative to another epoch."""
        shift = to_seconds(np.datetime64(self.epoch, "ns"), epoch)
        return StateVectors(np.datetime64(epoch, "ns"), self.time + float(shift), self.position, self.velocity, self.source)

    def crop(self, t0: float, t1: float, margin: float = 60.0) -> "StateVectors":
        """Vectors within ``[t0 - margin, t1 + margin]``."""
        m = (self.time >= t0 - margin) & (self.time <= t1 + margin)
        return StateVectors(self.epoch, self.time[m], self.position[m], self.velocity[m], self.source)

    def covers(self, t0: float, t1: float, nodes: int = 4) -> bool:
        """True if at least ``nodes`` vectors lie on each side of the span (interpolation, not extrapolation)."""
        return bool(np.sum(self.time <= t0) >= nodes and np.sum(self.time >= t1) >= nodes)


class OrbitInterpolator:
    """Local Hermite interpolation of state vectors, exact at the vectors and C1 across windows.

    A query time in the interval ``[t_i, t_i+1)`` between two vectors is served by the polynomial
    of degree ``2 n - 1`` that passes through the positions *and* velocities of the ``n`` vectors
    around that interval (``n / 2`` on each side, fewer sides at the ends of the list).  The
    polynomial is interpolating, not fitted: at every given vector the position and velocity are
    returned exactly (to rounding), and since two neighbouring windows share the vector between
    their intervals, position and velocity are continuous where the window changes.  The
    interpolated velocity is the derivative of the interpolated position.  Queries are grouped by
    interval (vectorised).  Positions are interpolated relative to the window's mean position and
    in a scaled time variable, which keeps the Hermite system well conditioned.
    """

    def __init__(self, sv: StateVectors, n_nodes: int = 4) -> None:
        if sv.time.size < 2:
            raise InputError(f"orbit ({sv.source}): fewer than 2 state vectors")
        self.sv = sv
        self.n = int(min(n_nodes, sv.time.size))
        self.deg = 2 * self.n - 1
        self._cache: dict[int, tuple[float, float, NDArray[np.float64], NDArray[np.float64]]] = {}
        self._table: tuple | None = None

    @property
    def epoch(self) -> np.datetime64:
        return self.sv.epoch

    def _coeffs(self, start: int) -> tuple[float, float, NDArray[np.float64], NDArray[np.float64]]:
        if start in self._cache:
            return self._cache[start]
        sl = slice(start, start + self.n)
        t = self.sv.time[sl]
        tc = float(t.mean())
        ts = float(max(np.ptp(t), 1e-3)) / 2.0
        x = (t - tc) / ts
        k = np.arange(self.deg + 1)
        A_pos = x[:, None] ** k[None, :]
        A_vel = np.where(k[None, :] > 0, k[None, :] * x[:, None] ** np.maximum(k[None, :] - 1, 0), 0.0)
        p0 = self.sv.position[sl].mean(axis=0)
        A = np.vstack([A_pos, A_vel])
        b = np.vstack([self.sv.position[sl] - p0, self.sv.velocity[sl] * ts])  # d/dx = ts d/dt
        c = np.linalg.solve(A, b)
        self._cache[start] = (tc, ts, p0, c)
        return self._cache[start]

    def table(self) -> tuple[NDArray[np.float64], int]:
        """The interpolator as one array, for the compiled kernels (:mod:`snapstamps.ifg.geokernels`).

        ``(table, n)`` with ``n`` the window size and ``table`` (len(knots), 6 + 3 (deg + 1)):
        column 0 the state-vector times; row ``s`` (first node of a window, 0 .. len - n) then
        holds the window's centre time, time scale, mean position (3) and the (deg + 1, 3)
        polynomial coefficients in ``x = (t - tc) / ts`` (those of :meth:`evaluate`, solved for
        all windows at once), row-major.
        """
        if self._table is None:
            n, deg = self.n, self.deg
            nw = self.sv.time.size - n + 1
            idx = np.arange(nw)[:, None] + np.arange(n)[None, :]
            t = self.sv.time[idx]  # (nw, n)
            tc = t.mean(axis=1)
            ts = np.maximum(np.ptp(t, axis=1), 1e-3) / 2.0
            x = (t - tc[:, None]) / ts[:, None]
            k = np.arange(deg + 1)
            a_pos = x[..., None] ** k
            a_vel = np.where(k > 0, k * x[..., None] ** np.maximum(k - 1, 0), 0.0)
            p0 = self.sv.position[idx].mean(axis=1)
            a = np.concatenate([a_pos, a_vel], axis=1)
            b = np.concatenate([self.sv.position[idx] - p0[:, None, :], self.sv.velocity[idx] * ts[:, None, None]], axis=1)
            c = np.linalg.solve(a, b)
            tab = np.zeros((self.sv.time.size, 6 + 3 * (deg + 1)))
            tab[:, 0] = self.sv.time
            tab[:nw, 1], tab[:nw, 2], tab[:nw, 3:6] = tc, ts, p0
            tab[:nw, 6:] = c.reshape(nw, -1)
            self._table = (tab, n)
        return self._table

    def _starts(self, t: NDArray[np.float64]) -> NDArray[np.int64]:
        # interval [t_i, t_i+1) -> nodes i - n/2 + 1 .. i + n/2 (clipped at the ends of the list)
        i = np.searchsorted(self.sv.time, t, side="right") - 1
        s = i - (self.n // 2 - 1)
        return np.clip(s, 0, self.sv.time.size - self.n).astype(np.int64)

    def evaluate(self, t, derivatives: int = 1) -> tuple[NDArray[np.float64], ...]:
        """Position, velocity (and acceleration if ``derivatives >= 2``) at times ``t`` (s), shape (..., 3)."""
        t = np.asarray(t, dtype=np.float64)
        flat = t.ravel()
        out = [np.empty((flat.size, 3)) for _ in range(derivatives + 1)]
        starts = self._starts(flat)
        k = np.arange(self.deg + 1)
        for s in np.unique(starts):
            m = starts == s
            tc, ts, p0, c = self._coeffs(int(s))
            x = (flat[m] - tc) / ts
            out[0][m] = p0 + (x[:, None] ** k[None, :]) @ c
            if derivatives >= 1:
                d1 = np.where(k > 0, k * x[:, None] ** np.maximum(k - 1, 0), 0.0) / ts
                out[1][m] = d1 @ c
            if derivatives >= 2:
                d2 = np.where(k > 1, k * (k - 1) * x[:, None] ** np.maximum(k - 2, 0), 0.0) / ts**2
                out[2][m] = d2 @ c
        return tuple(o.reshape(t.shape + (3,)) for o in out)

    def position(self, t) -> NDArray[np.float64]:
        return self.evaluate(t, 0)[0]

    def velocity(self, t) -> NDArray[np.float64]:
        return self.evaluate(t, 1)[1]


# --------------------------------------------------------------------------- EOF files

_EOF_NAME = re.compile(r"(S1[ABCD])_OPER_AUX_(POEORB|RESORB)_OPOD_\d{8}T\d{6}_V(\d{8}T\d{6})_(\d{8}T\d{6})\.EOF$", re.I)


def _utc(text: str) -> np.datetime64:
    return np.datetime64(text.strip().replace("UTC=", ""), "ns")


def parse_eof(path: Path, epoch: np.datetime64 | None = None) -> StateVectors:
    """Parse an ESA ``AUX_POEORB``/``AUX_RESORB`` ``.EOF`` file (Earth-fixed state vectors, UTC).

    Raises :class:`InputError` naming the file if it is missing, not XML, or holds no vectors.
    """
    path = Path(path)
    try:
        root = ET.parse(path).getroot()
    except FileNotFoundError:
        raise InputError(f"{path}: orbit file not found") from None
    except ET.ParseError as exc:
        raise InputError(f"{path}: not a valid EOF orbit file ({exc})") from None
    osvs = root.findall(".//List_of_OSVs/OSV")
    if not osvs:
        raise InputError(f"{path}: no state vectors (List_of_OSVs/OSV) in the orbit file")
    times, pos, vel = [], [], []
    try:
        for o in osvs:
            times.append(_utc(o.findtext("UTC")))
            pos.append([float(o.findtext(k)) for k in ("X", "Y", "Z")])
            vel.append([float(o.findtext(k)) for k in ("VX", "VY", "VZ")])
    except (TypeError, ValueError) as exc:
        raise InputError(f"{path}: malformed state vector ({exc})") from None
    t = np.array(times, dtype="datetime64[ns]")
    ep = np.datetime64(epoch, "ns") if epoch is not None else t[0]
    kind = "POEORB" if "POEORB" in path.name.upper() else ("RESORB" if "RESORB" in path.name.upper() else "EOF")
    return StateVectors(ep, to_seconds(t, ep), np.array(pos), np.array(vel), source=f"{kind} {path.name}")


def find_eof(orbit_dir: Path, mission: str, t_start: np.datetime64, t_stop: np.datetime64) -> Path | None:
    """The best EOF file under ``orbit_dir`` (recursive) whose validity covers the span.

    POEORB is preferred to RESORB; among equals, the newest production.  ``mission`` is
    ``S1A``/``S1B``/...; returns None when no file name covers the span.
    """
    best: tuple[int, str, Path] | None = None
    for p in sorted(Path(orbit_dir).rglob("*")):
        m = _EOF_NAME.search(p.name)
        if not m or m.group(1).upper() != mission.upper():
            continue
        v0 = np.datetime64(_dt.datetime.strptime(m.group(3), "%Y%m%dT%H%M%S"), "ns")
        v1 = np.datetime64(_dt.datetime.strptime(m.group(4), "%Y%m%dT%H%M%S"), "ns")
        if v0 <= t_start and v1 >= t_stop:
            key = (1 if m.group(2).upper() == "POEORB" else 0, p.name, p)
            if best is None or key[:2] > best[:2]:
                best = key
    return best[2] if best else None


def write_eof(path: Path, sv: StateVectors, mission: str = "S1A", kind: str = "POEORB") -> None:
    """Write state vectors as a minimal EOF file (used by the simulator and tests)."""
    t = from_seconds(sv.time, sv.epoch)
    rows = []
    for ti, p, v in zip(t, sv.position, sv.velocity):
        s = str(np.datetime64(ti, "us"))
        rows.append(
            "    <OSV>\n"
            f"      <UTC>UTC={s}</UTC>\n"
            f'      <X unit="m">{p[0]:.6f}</X>\n      <Y unit="m">{p[1]:.6f}</Y>\n      <Z unit="m">{p[2]:.6f}</Z>\n'
            f'      <VX unit="m/s">{v[0]:.6f}</VX>\n      <VY unit="m/s">{v[1]:.6f}</VY>\n      <VZ unit="m/s">{v[2]:.6f}</VZ>\n'
            "    </OSV>\n"
        )
    text = (
        '<?xml version="1.0" ?>\n<Earth_Explorer_File>\n  <Earth_Explorer_Header><Fixed_Header>\n'
        f"    <File_Name>{Path(path).stem}</File_Name><Mission>{mission}</Mission><File_Type>AUX_{kind}</File_Type>\n"
        "  </Fixed_Header></Earth_Explorer_Header>\n"
        f'<Data_Block type="xml">\n  <List_of_OSVs count="{len(rows)}">\n' + "".join(rows) + "  </List_of_OSVs>\n</Data_Block>\n</Earth_Explorer_File>\n"
    )
    from ..io.atomic import atomic_write_text

    atomic_write_text(path, text)


def eof_name(mission: str, t0: np.datetime64, t1: np.datetime64, kind: str = "POEORB") -> str:
    """Standard EOF file name with validity [t0, t1]."""
    f = lambda t: str(np.datetime64(t, "s")).replace("-", "").replace(":", "")  # noqa: E731
    return f"{mission}_OPER_AUX_{kind}_OPOD_{f(t1)}_V{f(t0)}_{f(t1)}.EOF"
