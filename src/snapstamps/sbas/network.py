"""Least-squares inversion of a network of unwrapped interferograms to a per-pixel time series.

Pure numpy kernels.  A network is a list of ``pairs`` ``(i, j)`` (indices into the ``dates``,
``i`` the earlier date); interferogram ``k`` holds ``phi[j] - phi[i]`` (the later date minus the
earlier, the convention of GAMMA/PyRate unwrapped products), in radians.  The time series is
relative to the first date (``phi[0] = 0``).

* :func:`design_matrix`: ``A`` (n_ifg, n_dates - 1) with ``A[k, j-1] = +1``, ``A[k, i-1] = -1``.
* :func:`invert_network`: per pixel ``min |A x - d|^2`` over the interferograms valid at the
  pixel; pixels are grouped by their pattern of valid interferograms and each group solved at
  once.  A pixel whose valid interferograms do not connect every date to the first is left NaN
  (an unconnected network has no unique solution, and the SVD minimum-norm answer would make
  one up).
* :func:`triplets` and :func:`triplet_closure`: loops of three interferograms ``(i, j)``,
  ``(j, k)``, ``(i, k)`` and their closure phase ``phi_ij + phi_jk - phi_ik`` (zero for a
  consistent network; a multiple of ``2 pi`` flags an unwrapping error).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from ..errors import InputError

__all__ = ["design_matrix", "invert_network", "triplets", "triplet_closure", "connected"]


def design_matrix(*, pairs: list[tuple[int, int]], n_dates: int) -> NDArray[np.float64]:
    """Incidence matrix of the network, the first date's column removed (it is the reference)."""
    A = np.zeros((len(pairs), n_dates))
    for k, (i, j) in enumerate(pairs):
        if not (0 <= i < n_dates and 0 <= j < n_dates) or i == j:
            raise InputError(f"interferogram {k}: pair ({i}, {j}) is not two distinct dates of {n_dates}")
        A[k, j] += 1.0
        A[k, i] -= 1.0
    return A[:, 1:]


def connected(*, pairs: list[tuple[int, int]], n_dates: int) -> bool:
    """True when the interferograms link every date to every other (one connected network)."""
    parent = list(range(n_dates))

    def find(a: int) -> int:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    for i, j in pairs:
        parent[find(i)] = find(j)
    return len({find(a) for a in range(n_dates)}) == 1


def invert_network(*, unw: NDArray, pairs: list[tuple[int, int]], n_dates: int) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Time series (n_dates, ...) relative to date 0 and the rms misfit (...) of each pixel.

    ``unw`` (n_ifg, ...) unwrapped phases, NaN where an interferogram has no value.
    """
    d = np.asarray(unw, np.float64)
    if d.shape[0] != len(pairs):
        raise InputError(f"{d.shape[0]} interferograms but {len(pairs)} pairs")
    shape = d.shape[1:]
    d = d.reshape(len(pairs), -1)
    A = design_matrix(pairs=pairs, n_dates=n_dates)
    ts = np.full((n_dates, d.shape[1]), np.nan)
    rms = np.full(d.shape[1], np.nan)
    valid = np.isfinite(d)
    patterns, inverse = np.unique(valid.T, axis=0, return_inverse=True)
    inverse = np.asarray(inverse).ravel()
    for g, pat in enumerate(patterns):
        cols = np.nonzero(inverse == g)[0]
        sub = [p for p, ok in zip(pairs, pat) if ok]
        if not sub or not connected(pairs=sub, n_dates=n_dates):
            continue
        Ag = A[pat]
        x, *_ = np.linalg.lstsq(Ag, d[np.ix_(pat, cols)], rcond=None)
        ts[0, cols] = 0.0
        ts[1:, cols] = x
        r = Ag @ x - d[np.ix_(pat, cols)]
        rms[cols] = np.sqrt(np.mean(r**2, axis=0))
    return ts.reshape((n_dates, *shape)), rms.reshape(shape)


def triplets(*, pairs: list[tuple[int, int]]) -> list[tuple[int, int, int]]:
    """Interferogram index triples ``(ij, jk, ik)`` closing a loop of three dates ``i < j < k``."""
    index = {tuple(p): k for k, p in enumerate(pairs)}
    out = []
    for (i, j), a in index.items():
        for (j2, k), b in index.items():
            if j2 == j and (i, k) in index:
                out.append((a, b, index[(i, k)]))
    return sorted(out)


def triplet_closure(*, unw: NDArray, pairs: list[tuple[int, int]]) -> tuple[list[tuple[int, int, int]], NDArray[np.float64]]:
    """The triplets and their closure phases (n_triplets, ...), NaN where one is missing."""
    t = triplets(pairs=pairs)
    d = np.asarray(unw, np.float64)
    c = np.stack([d[a] + d[b] - d[c_] for a, b, c_ in t]) if t else np.empty((0, *d.shape[1:]))
    return t, c
