"""JSON encoding of the values the engine writes into its JSON files (numpy scalars and arrays, paths, dates)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


def json_default(o: Any) -> Any:
    """``default=`` hook of :func:`json.dumps`: numpy scalars/arrays as Python values, paths as strings,
    dates and datetimes as ISO 8601; anything else is a ``TypeError``."""
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    if hasattr(o, "isoformat"):
        return o.isoformat()
    raise TypeError(f"not JSON serialisable: {type(o)}")
