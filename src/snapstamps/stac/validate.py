"""Offline validation of STAC catalogs against the core and extension JSON schemas.

No network is used.  The schemas come from two places:

* STAC 1.1.0 core (catalog, collection, item) and GeoJSON: shipped inside pystac
  (``pystac.validation.local_validator``);
* the extension schemas (sar, sat, processing, view, projection, file, raster, timestamps,
  product, sentinel-1, insar) and the PROJJSON schemas they reference: vendored in
  ``snapstamps/stac/schemas`` (a byte-for-byte copy of the project's ``shared/data/stac-schemas``,
  with its ``schema-map.json``), or any directory in that layout given as ``schema_dir``.

A schema URI not found in either place is an error naming the URI (never a download).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SCHEMA_DIR = Path(__file__).parent / "schemas"


class OfflineSchemaError(Exception):
    """A schema needed for validation is not available offline."""


def load_schema_map(schema_dir: Path | None = None) -> dict[str, dict[str, Any]]:
    """Return ``{schema URI: schema}`` for every schema listed in ``schema_dir/schema-map.json``."""
    root = Path(schema_dir) if schema_dir else SCHEMA_DIR
    mapping = json.loads((root / "schema-map.json").read_text())
    return {uri: json.loads((root / rel).read_text()) for uri, rel in mapping.items()}


def offline_validator(schema_dir: Path | None = None) -> Any:
    """A pystac ``JsonSchemaSTACValidator`` whose schema cache holds every offline schema.

    A cache miss raises :class:`OfflineSchemaError` instead of downloading the schema.
    """
    from pystac.validation import JsonSchemaSTACValidator

    class _OfflineValidator(JsonSchemaSTACValidator):
        def _get_schema(self, schema_uri: str) -> dict[str, Any]:
            key = schema_uri.rstrip("#")
            for cand in (schema_uri, key, key + "#"):
                if cand in self.schema_cache:
                    return self.schema_cache[cand]
            raise OfflineSchemaError(
                f"schema {schema_uri} is not available offline (add it to the stac-schemas directory and its schema-map.json)"
            )

    v = _OfflineValidator()
    for uri, schema in load_schema_map(schema_dir).items():
        v.schema_cache[uri] = schema
        v.schema_cache[uri + "#"] = schema
    return v


@dataclass
class ValidationReport:
    """Outcome of validating every object of a catalog."""

    checked: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every object validated."""
        return not self.errors and bool(self.checked)


def _catalog_path(path: Path) -> Path:
    path = Path(path)
    if path.is_dir():
        path = path / "catalog.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such STAC catalog")
    return path


def validate_catalog(path: str | Path, schema_dir: Path | None = None) -> ValidationReport:
    """Validate a catalog (``catalog.json`` or its directory) and every object below it.

    Each catalog, collection and item is validated against the STAC core schema of its type
    and every extension schema it declares in ``stac_extensions``; asset hrefs that are local
    files are checked to exist.
    """
    import pystac
    from pystac.errors import STACValidationError

    validator = offline_validator(schema_dir)
    report = ValidationReport()
    root = pystac.read_file(str(_catalog_path(Path(path))))
    objects: list[Any] = [root]
    if isinstance(root, (pystac.Catalog, pystac.Collection)):
        for _, children, items in root.walk():
            objects.extend(children)
            objects.extend(items)
    seen: set[int] = set()
    for obj in objects:
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        label = f"{obj.STAC_OBJECT_TYPE.value} {obj.id}"
        try:
            obj.validate(validator=validator)
        except STACValidationError as exc:
            report.errors.append(f"{label}: {_short(exc)}")
        except OfflineSchemaError as exc:
            report.errors.append(f"{label}: {exc}")
        else:
            report.checked.append(label)
        if isinstance(obj, pystac.Item):
            for key, asset in obj.assets.items():
                href = asset.get_absolute_href()
                if href and "://" not in href and not Path(href).exists():
                    report.errors.append(f"{label}: asset {key!r} points to a missing file {href}")
    return report


def _short(exc: Exception) -> str:
    src = getattr(exc, "source", None)
    msg = str(exc).splitlines()[0]
    if src is not None and getattr(src, "message", None):
        path = "/".join(str(p) for p in getattr(src, "absolute_path", []))
        return f"{msg} ({src.message}{' at ' + path if path else ''})"
    return msg
