"""Web viewer of a psi result: a static folder (WebGL point map, click for time series).

- :func:`export_viewer` writes the folder (``snapstamps viewer export RESULT_DIR OUT_DIR``);
- :func:`viewer_static_dir` builds it once per result (cached) for a server to mount;
- :func:`load_result` reads the documented product files of a result directory.
"""

from __future__ import annotations

from .export import export_viewer, static_assets_dir, viewer_static_dir
from .result import PsiResult, load_result

__all__ = ["export_viewer", "viewer_static_dir", "static_assets_dir", "load_result", "PsiResult"]
