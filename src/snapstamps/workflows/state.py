"""Step state on disk: one ``.npz`` per step and patch, written atomically.

The processing directory mirrors StaMPS' versioned files (``ps1``, ``pm1``, ``select1``,
``weed1``, ``ps2``, ``phuw2``, ``scla2``, ``scn2``) so that a later run with ``--start N``
resumes from the saved state, as ``stamps(N, M)`` does.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from ..errors import InputError, StepOrderError
from ..io.atomic import atomic_path, atomic_write_text
from ..io.jsonable import json_default

T = TypeVar("T")


def save_npz(path: Path, arrays: dict[str, Any]) -> None:
    """Save arrays (None values skipped) to ``path`` via a temporary file and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    clean = {k: np.asarray(v) for k, v in arrays.items() if v is not None}
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, **clean)


def load_npz(path: Path, needed_by: str | None = None, keys: Sequence[str] | None = None) -> dict[str, np.ndarray]:
    """Load a state file (only the arrays ``keys`` when given: the others are not read); a missing
    file is a :class:`StepOrderError` naming it, a missing key an :class:`InputError`."""
    path = Path(path)
    if not path.exists():
        what = f" (needed by {needed_by})" if needed_by else ""
        raise StepOrderError(f"{path}: missing{what}; run the earlier steps first (--start lower)")
    try:
        with np.load(path, allow_pickle=False) as z:
            missing = [k for k in keys or () if k not in z.files]
            if missing:
                raise InputError(f"{path}: state file lacks {', '.join(missing)} (written by another version? re-run its step)")
            return {k: z[k] for k in (z.files if keys is None else keys)}
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: unreadable state file ({exc})") from exc


def save_dataclass(path: Path, obj: Any) -> None:
    save_npz(path, {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)})


def load_dataclass(path: Path, cls: type[T], needed_by: str | None = None) -> T:
    d = load_npz(path, needed_by)
    kw: dict[str, Any] = {}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        if f.name in d:
            v = d[f.name]
            kw[f.name] = v.item() if v.ndim == 0 else v
        else:
            kw[f.name] = None
    return cls(**kw)


def write_json(path: Path, data: Any) -> None:
    atomic_write_text(Path(path), json.dumps(data, indent=2, default=json_default) + "\n")


def read_json(path: Path, needed_by: str | None = None) -> Any:
    path = Path(path)
    if not path.exists():
        what = f" (needed by {needed_by})" if needed_by else ""
        raise StepOrderError(f"{path}: missing{what}; run the earlier steps first (--start lower)")
    return json.loads(path.read_text())
