"""The results layer: everything made from, or read out of, a psi result directory.

=====================  ==============================================================
module                 what
=====================  ==============================================================
:mod:`.model`          the point columns (one definition), :class:`PsiResult`, the loader
:mod:`.products`       the product writer (``ps_*.xy``, ``ps_points.*``, ``psi_metadata.json``)
:mod:`.assets`         :class:`Asset`: a derived file described as a STAC asset
:mod:`.quicklooks`     quicklook PNGs
:mod:`.rasters`        velocity Cloud-Optimized GeoTIFFs
:mod:`.report`         the one-page HTML report
:mod:`.viewer`         the static web-viewer export
:mod:`.derived`        all derived outputs of a result at once, and ``assets.json``
=====================  ==============================================================

The STAC catalog (:mod:`snapstamps.stac.psi`) and the evaluation (:mod:`snapstamps.evaluate`)
read results through :func:`load_result`.
"""

from __future__ import annotations

from typing import Any

from .assets import Asset
from .model import ATTRIBUTE_COLUMNS, POINT_COLUMNS, PsiResult, load_result

__all__ = ["Asset", "ATTRIBUTE_COLUMNS", "POINT_COLUMNS", "PsiResult", "load_result", "write_products",
           "make_job_outputs", "export_viewer"]


def __getattr__(name: str) -> Any:  # heavy modules (pyarrow, matplotlib, rasterio) on first use
    if name == "write_products":
        from .products import write_products

        return write_products
    if name == "make_job_outputs":
        from .derived import make_job_outputs

        return make_job_outputs
    if name == "export_viewer":
        from .viewer import export_viewer

        return export_viewer
    raise AttributeError(name)
