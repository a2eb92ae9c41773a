"""Files made from a psi result, described as STAC assets (path, roles, media type, fields)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["Asset"]


@dataclass
class Asset:
    """A file produced for a job, described as a STAC asset."""

    key: str
    path: Path
    roles: list[str]
    media_type: str
    title: str
    description: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def to_stac(self, base_dir: str | Path | None = None) -> dict[str, Any]:
        """STAC asset object; ``href`` relative to ``base_dir`` when given, else absolute."""
        href = os.path.relpath(self.path, base_dir) if base_dir else str(Path(self.path).resolve())
        d: dict[str, Any] = {"href": href, "type": self.media_type, "title": self.title, "roles": list(self.roles)}
        if self.description:
            d["description"] = self.description
        d.update(self.extra)
        return d
