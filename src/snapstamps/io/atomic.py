"""Atomic output helpers: nothing is ever visible half-written under its final name.

Every writer builds its output under a hidden temporary name in the *same directory* as the
final path (so the final step is a same-filesystem rename) and only renames it into place
once it is complete.  If anything raises, the temporary is removed and a previous file or
directory under the final name is left untouched.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["atomic_path", "atomic_write_text", "atomic_write_bytes", "atomic_dir"]


def _temp_sibling(final: Path, tag: str) -> Path:
    return final.with_name(f".{final.name}.{tag}-{uuid.uuid4().hex[:12]}")


def _remove(path: Path) -> None:
    try:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    except OSError:
        pass


@contextmanager
def atomic_path(final: Path | str) -> Iterator[Path]:
    """Yield a temporary path next to ``final``; ``os.replace`` it onto ``final`` on success.

    The caller writes a *file* at the yielded path.  On an exception the temporary is deleted
    and ``final`` is untouched.  The parent directory is created if needed.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temp_sibling(final, "tmp")
    try:
        yield tmp
        if not tmp.exists():
            raise FileNotFoundError(f"{tmp}: nothing was written for {final}")
        os.replace(tmp, final)
    except BaseException:
        _remove(tmp)
        raise


def atomic_write_bytes(path: Path | str, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(path: Path | str, text: str, encoding: str = "utf-8") -> None:
    """Write ``text`` to ``path`` atomically (LF line endings are kept as given)."""
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding=encoding, newline="") as f:
            f.write(text)


@contextmanager
def atomic_dir(final_dir: Path | str) -> Iterator[Path]:
    """Build a directory under a temporary name and rename it to ``final_dir`` at the end.

    If ``final_dir`` already exists it is replaced (moved aside, the new one renamed in, the old
    one deleted).  On an exception the temporary directory is deleted and an existing
    ``final_dir`` is left as it was.
    """
    final_dir = Path(final_dir)
    final_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temp_sibling(final_dir, "tmp")
    tmp.mkdir()
    try:
        yield tmp
    except BaseException:
        _remove(tmp)
        raise
    old: Path | None = None
    if final_dir.exists() or final_dir.is_symlink():
        old = _temp_sibling(final_dir, "old")
        os.replace(final_dir, old)
    try:
        os.replace(tmp, final_dir)
    except BaseException:
        if old is not None:
            os.replace(old, final_dir)
        _remove(tmp)
        raise
    if old is not None:
        _remove(old)
