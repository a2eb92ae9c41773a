"""Step state files: atomic save, full or partial load, clear errors."""

from __future__ import annotations

import numpy as np
import pytest

from snapstamps.errors import InputError, StepOrderError
from snapstamps.workflows.state import load_npz, save_npz


def test_load_npz_reads_all_or_only_the_keys_asked(tmp_path):
    a, b = np.arange(6.0).reshape(2, 3), np.array([1 + 2j], np.complex64)
    save_npz(tmp_path / "s.npz", {"a": a, "b": b, "none": None})
    full = load_npz(tmp_path / "s.npz")
    assert sorted(full) == ["a", "b"]
    np.testing.assert_array_equal(full["a"], a)
    part = load_npz(tmp_path / "s.npz", keys=["b"])
    assert list(part) == ["b"] and part["b"].dtype == np.complex64
    with pytest.raises(InputError, match="lacks c"):
        load_npz(tmp_path / "s.npz", keys=["a", "c"])
    with pytest.raises(StepOrderError, match=r"missing \(needed by step 9\)"):
        load_npz(tmp_path / "nope.npz", needed_by="step 9")
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(InputError, match="unreadable state file"):
        load_npz(tmp_path / "bad.npz")
