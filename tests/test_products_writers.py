"""The product writers' fast paths give exactly the bytes of the library calls they replace
(pandas ``to_csv`` for ``ps_points.csv``, ``np.savetxt`` for the ``.xy`` files), and the modules a
tool process imports stay light (no pandas/scipy where they are not used)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from snapstamps.results import products as P


def _table(n: int, rng: np.random.Generator) -> pd.DataFrame:
    t = pd.DataFrame({
        "pid": np.arange(1, n + 1, dtype=np.int64),
        "latitude": rng.uniform(-90, 90, n),
        "height": rng.normal(0, 1e4, n),
        "line": rng.integers(0, 10**6, n),
        "tiny": rng.normal(0, 1e-7, n),  # rounds to -0.000000 / 0.000000
        "f32": rng.normal(0, 10, n).astype(np.float32),
    })
    t["20240105"] = np.where(rng.random(n) < 0.2, np.nan, rng.normal(0, 50, n))
    if n:
        t.loc[0, "height"] = np.inf
        t.loc[n - 1, "latitude"] = -0.0
    return t


@pytest.mark.parametrize("n", [0, 1, 7, 2500])
def test_write_csv_equals_pandas_to_csv(tmp_path, n):
    table = _table(n, np.random.default_rng(n))
    ref, fast = tmp_path / "ref.csv", tmp_path / "fast.csv"
    table.to_csv(ref, index=False, float_format="%.6f")
    P.write_csv(table, fast, block_rows=1000)
    assert fast.read_bytes() == ref.read_bytes()


def test_write_csv_falls_back_to_pandas_for_other_columns(tmp_path):
    table = pd.DataFrame({"a": [1.5, np.nan], "name": ["x,y", "z"], "flag": [True, False]})
    ref, fast = tmp_path / "ref.csv", tmp_path / "fast.csv"
    table.to_csv(ref, index=False, float_format="%.6f")
    P.write_csv(table, fast)
    assert fast.read_bytes() == ref.read_bytes()


def test_write_xy_equals_savetxt(tmp_path):
    rng = np.random.default_rng(1)
    lon, lat = rng.uniform(-180, 180, 500), rng.uniform(-90, 90, 500)
    v, h = rng.normal(0, 20, 500), rng.normal(0, 1e3, 500)
    v[3] = np.nan
    ref, fast = tmp_path / "ref.xy", tmp_path / "fast.xy"
    np.savetxt(ref, np.column_stack([lon, lat, v, h]), fmt="%.7f %.7f %.4f %.4f")
    P._write_xy(fast, P._xy_prefix(lon, lat), [v, h], "%.4f %.4f")
    assert fast.read_bytes() == ref.read_bytes()


def test_light_imports():
    """A step or service process importing the workflow, the result model and the STAC layer does
    not load pandas, pyarrow, matplotlib or scipy (each step's kernel imports what it needs)."""
    code = (
        "import sys\n"
        "import snapstamps.workflows.psi, snapstamps.results, snapstamps.stac.psi\n"
        "import snapstamps.psi.weed, snapstamps.psi.scn, snapstamps.psi.scla, snapstamps.psi.unwrap, snapstamps.psi.aps\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'pandas', 'pyarrow', 'matplotlib', 'scipy', 'rasterio'}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]", out


def test_product_version_ignores_execution_only_parameters(tmp_path: Path) -> None:
    """The same points and metadata computed with another core count keep their version; a result parameter does not."""
    from snapstamps.results.products import EXECUTION_ONLY_PARAMETERS, product_version

    csv = tmp_path / "ps_points.csv"
    csv.write_text("lon,lat,v\n12.5,41.9,-1.25\n")
    meta = {"master": "2024-05-04", "parameters": {"da_thresh": 0.4, "n_cores": None}}
    v = product_version(csv, meta)
    assert "n_cores" in EXECUTION_ONLY_PARAMETERS
    assert product_version(csv, {**meta, "parameters": {"da_thresh": 0.4, "n_cores": 8}}) == v
    assert product_version(csv, {**meta, "parameters": {"da_thresh": 0.3, "n_cores": None}}) != v
    csv.write_text("lon,lat,v\n12.5,41.9,-1.26\n")
    assert product_version(csv, meta) != v
