"""Validation of STAC catalogs against the core and extension JSON schemas.

The STAC 1.1.0 core schemas (catalog, collection, item) and GeoJSON ship inside pystac and are
always used.  Extension schemas (sar, sat, processing, view, projection, ...) and the schemas they
reference are looked up, per schema URI, in this order:

1. a **schema directory** in the layout of ``stac-schemas`` (a ``schema-map.json`` mapping each
   canonical schema URL to a file below the directory): the one given by the caller (the
   ``--schemas`` option of ``snapstamps stac validate``, the service's ``stac_schemas`` setting),
   else ``$SNAPSTAMPS_STAC_SCHEMAS``, else ``shared/data/stac-schemas`` beside the checkout when
   it exists (tests and CI).  ``SNAPSTAMPS_STAC_SCHEMAS`` set to an empty string means "no
   directory" (not even the one beside the checkout);
2. the **on-disk cache** of schemas fetched earlier (``$SNAPSTAMPS_STAC_SCHEMA_CACHE``, default
   ``$XDG_CACHE_HOME/snapstamps/stac-schemas``), itself a schema directory with its own
   ``schema-map.json``, so it can be copied to an offline machine and given as ``--schemas``;
3. **fetching** the canonical URL (``http(s)`` only, with a timeout and a size limit, through the
   environment's proxy and CA bundle), stored into the cache; disabled by ``fetch=False`` or
   ``SNAPSTAMPS_STAC_FETCH=0``.

An extension whose schema (or a schema it references) cannot be had from any of these is
**skipped with a warning**, never an error, unless ``require_extensions`` is set; the core is
still validated.  The :class:`ValidationReport` says which schemas were used and from where, and
which extensions were skipped.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

#: ``shared/data/stac-schemas`` beside the checkout (``<parent>/<checkout>/src/snapstamps/stac``).
SHARED_SCHEMA_DIR = Path(__file__).resolve().parents[4] / "shared" / "data" / "stac-schemas"
ENV_SCHEMAS = "SNAPSTAMPS_STAC_SCHEMAS"
ENV_CACHE = "SNAPSTAMPS_STAC_SCHEMA_CACHE"
ENV_FETCH = "SNAPSTAMPS_STAC_FETCH"
FETCH_TIMEOUT_S = 30.0
FETCH_MAX_BYTES = 2_000_000


class SchemaUnavailable(Exception):
    """A schema is in no schema directory or cache and could not (or may not) be fetched."""

    def __init__(self, uri: str, reason: str) -> None:
        super().__init__(f"schema {uri} is not available: {reason}")
        self.uri = uri
        self.reason = reason


# Kept for callers of the earlier, offline-only module.
OfflineSchemaError = SchemaUnavailable


def _truthy(value: str | None, default: bool) -> bool:
    if value is None or value.strip() == "":
        return default
    return value.strip().lower() not in ("0", "no", "false", "off")


def default_schema_dir() -> Path | None:
    """The schema directory used when none is given: ``$SNAPSTAMPS_STAC_SCHEMAS`` (an empty value:
    none), else ``shared/data/stac-schemas`` beside the checkout when present, else ``None``."""
    env = os.environ.get(ENV_SCHEMAS)
    if env is not None:
        return Path(env).expanduser() if env.strip() else None
    return SHARED_SCHEMA_DIR if (SHARED_SCHEMA_DIR / "schema-map.json").is_file() else None


def default_cache_dir() -> Path:
    """``$SNAPSTAMPS_STAC_SCHEMA_CACHE``, else ``$XDG_CACHE_HOME`` (or ``~/.cache``)``/snapstamps/stac-schemas``."""
    env = os.environ.get(ENV_CACHE)
    if env and env.strip():
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "snapstamps" / "stac-schemas"


def fetch_enabled() -> bool:
    """Whether schemas may be fetched from their canonical URLs (``SNAPSTAMPS_STAC_FETCH``, default yes)."""
    return _truthy(os.environ.get(ENV_FETCH), True)


def _key(uri: str) -> str:
    return uri.split("#", 1)[0]


def load_schema_map(schema_dir: Path) -> dict[str, dict[str, Any]]:
    """Return ``{schema URI: schema}`` for every schema listed in ``schema_dir/schema-map.json``.

    A missing map, a listed file that is missing or not JSON, or a path leaving the directory is a
    ``ValueError`` naming it.
    """
    root = Path(schema_dir)
    map_file = root / "schema-map.json"
    if not map_file.is_file():
        raise ValueError(f"{root}: not a STAC schema directory (no schema-map.json)")
    try:
        mapping = json.loads(map_file.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{map_file}: not JSON ({exc})") from None
    if not isinstance(mapping, dict):
        raise ValueError(f"{map_file}: expected an object mapping schema URLs to files")
    out: dict[str, dict[str, Any]] = {}
    base = root.resolve()
    for uri, rel in mapping.items():
        path = (root / str(rel)).resolve()
        if base not in path.parents:
            raise ValueError(f"{map_file}: {rel!r} is outside the schema directory")
        try:
            out[_key(uri)] = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise ValueError(f"{map_file}: {uri} -> {rel}: {exc}") from None
    return out


class SchemaCache:
    """The on-disk cache of fetched schemas: ``<host>/<path>`` files plus a ``schema-map.json``."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def _rel(self, uri: str) -> str:
        u = urllib.parse.urlsplit(uri)
        parts = [u.netloc, *[p for p in u.path.split("/") if p]]
        if not u.netloc or any(p in (".", "..") or not re.fullmatch(r"[A-Za-z0-9._:+-]+", p) for p in parts):
            raise SchemaUnavailable(uri, "cannot be stored in the schema cache (unexpected characters)")
        return "/".join(parts)

    def get(self, uri: str) -> dict[str, Any] | None:
        """The cached schema of ``uri``, or ``None``."""
        try:
            path = self.root / self._rel(uri)
        except SchemaUnavailable:
            return None
        if not path.is_file():
            return None
        try:
            return json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            return None  # a damaged entry is fetched again

    def put(self, uri: str, text: str) -> None:
        """Store ``text`` (a schema) for ``uri``; files are written under a temporary name then renamed."""
        rel = self._rel(uri)
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(text)
        os.replace(tmp, path)
        with self._locked():
            map_file = self.root / "schema-map.json"
            try:
                mapping = json.loads(map_file.read_text()) if map_file.is_file() else {}
            except json.JSONDecodeError:
                mapping = {}
            mapping[_key(uri)] = rel
            tmp = map_file.with_name(f".schema-map.json.{os.getpid()}.tmp")
            tmp.write_text(json.dumps(dict(sorted(mapping.items())), indent=2) + "\n")
            os.replace(tmp, map_file)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        import fcntl

        with open(self.root / ".lock", "w") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)


def fetch_schema(uri: str, timeout: float = FETCH_TIMEOUT_S) -> str:
    """GET the schema at ``uri`` (``http(s)`` only; proxy and CA bundle from the environment)."""
    scheme = urllib.parse.urlsplit(uri).scheme
    if scheme not in ("http", "https"):
        raise SchemaUnavailable(uri, "only http(s) schema URLs are fetched")
    req = urllib.request.Request(uri, headers={"Accept": "application/schema+json, application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 (scheme checked)
            data = resp.read(FETCH_MAX_BYTES + 1)
    except Exception as exc:  # noqa: BLE001 (any network failure means "not available")
        raise SchemaUnavailable(uri, f"fetching it failed ({type(exc).__name__}: {exc})") from None
    if len(data) > FETCH_MAX_BYTES:
        raise SchemaUnavailable(uri, f"larger than {FETCH_MAX_BYTES} bytes")
    text = data.decode("utf-8", errors="replace")
    try:
        json.loads(text)
    except json.JSONDecodeError:
        raise SchemaUnavailable(uri, "the document fetched is not JSON") from None
    return text


@dataclass
class SchemaSources:
    """Where extension schemas come from for one validation run."""

    directory: Path | None
    cache: SchemaCache | None
    fetch: bool

    def describe(self) -> str:
        """One line: the schemas a validation run uses."""
        import pystac

        parts = [f"core: STAC {pystac.get_stac_version()} schemas bundled with pystac {pystac.__version__}"]
        ext = []
        if self.directory is not None:
            ext.append(f"directory {self.directory}")
        if self.cache is not None:
            ext.append(f"cache {self.cache.root}")
        if self.fetch:
            ext.append("fetched from their canonical URLs")
        parts.append("extensions: " + (", then ".join(ext) if ext else "none available (extension validation skipped)"))
        return "; ".join(parts)


def resolve_sources(schema_dir: str | Path | None = None, *, fetch: bool | None = None,
                    cache_dir: str | Path | None = None) -> SchemaSources:
    """The schema sources of a validation run: ``schema_dir`` or :func:`default_schema_dir`, the cache
    (``cache_dir`` or :func:`default_cache_dir`) and fetching (``fetch`` or :func:`fetch_enabled`)."""
    directory = Path(schema_dir).expanduser() if schema_dir else default_schema_dir()
    if directory is not None and not (directory / "schema-map.json").is_file():
        raise ValueError(f"{directory}: not a STAC schema directory (no schema-map.json)")
    fetch = fetch_enabled() if fetch is None else fetch
    root = Path(cache_dir) if cache_dir else default_cache_dir()
    cache = SchemaCache(root) if (fetch or (root / "schema-map.json").is_file()) else None
    return SchemaSources(directory=directory, cache=cache, fetch=fetch)


def make_validator(sources: SchemaSources) -> Any:
    """A pystac ``JsonSchemaSTACValidator`` resolving schemas from ``sources``.

    Its ``origin`` dict records, for every schema URI it served, where it came from
    (``pystac``, ``directory``, ``cache``, ``fetched``); a schema it cannot get raises
    :class:`SchemaUnavailable`.  Each schema is checked and compiled once per validator and
    reused for every object validated against it (pystac redoes both for every object).
    """
    import jsonschema
    from pystac.errors import STACValidationError
    from pystac.validation import JsonSchemaSTACValidator

    class _Validator(JsonSchemaSTACValidator):
        origin: dict[str, str]
        #: schema URI -> its checked jsonschema validator
        compiled: dict[str, Any]

        def _get_schema(self, schema_uri: str) -> dict[str, Any]:
            key = _key(schema_uri)
            for cand in (schema_uri, key, key + "#"):
                if cand in self.schema_cache:
                    self.origin.setdefault(key, "pystac")
                    return self.schema_cache[cand]
            # not preloaded into ``schema_cache`` so that references resolved through the registry
            # come here too and are recorded in ``origin``
            schema, where = directory.get(key), "directory"
            if schema is None and sources.cache is not None:
                schema, where = sources.cache.get(key), "cache"
            if schema is None:
                if not sources.fetch:
                    raise SchemaUnavailable(key, "not in the schema directory or cache, and fetching is disabled")
                text = fetch_schema(key)
                schema = json.loads(text)
                where = "fetched"
                if sources.cache is not None:
                    try:
                        sources.cache.put(key, text)
                    except OSError:
                        pass  # a read-only cache still validates, it just fetches again next time
            self.schema_cache[key] = schema
            self.origin[key] = where
            return schema

        def _validate_from_uri(self, stac_dict: dict[str, Any], stac_object_type: Any, schema_uri: str,
                               href: str | None = None) -> None:
            # pystac's version checks the schema and builds a registry of every cached schema for
            # each object; here that is done once per schema URI per validator (same errors, same
            # message: the schema, its checks and the references it resolves do not change)
            validator = self.compiled.get(schema_uri)
            if validator is None:
                schema = self._get_schema(schema_uri)
                cls = jsonschema.validators.validator_for(schema)
                cls.check_schema(schema)
                validator = self.compiled[schema_uri] = cls(schema, registry=self.registry)
            errors = list(validator.iter_errors(stac_dict))
            if errors:
                stac_id = stac_dict.get("id", None)
                msg = f"Validation failed for {stac_object_type} "
                if href is not None:
                    msg += f"at {href} "
                if stac_id is not None:
                    msg += f"with ID {stac_id} "
                msg += f"against schema at {schema_uri}"
                best = jsonschema.exceptions.best_match(errors)
                if best:
                    msg += "\n" + str(best)
                raise STACValidationError(msg, source=errors) from best

    directory = load_schema_map(sources.directory) if sources.directory is not None else {}
    v = _Validator()
    v.origin = {}
    v.compiled = {}
    return v


def offline_validator(schema_dir: Path | None = None) -> Any:
    """A validator that never fetches: ``schema_dir`` (or the default directory) plus pystac's core."""
    return make_validator(resolve_sources(schema_dir, fetch=False))


@dataclass
class ValidationReport:
    """Outcome of validating every object of a catalog."""

    checked: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    #: the sources in use (one line, :meth:`SchemaSources.describe`)
    schemas: str = ""
    #: schema URI -> where it came from (``pystac``, ``directory``, ``cache``, ``fetched``)
    used: dict[str, str] = field(default_factory=dict)
    #: extension schema URI -> why it was not validated
    skipped: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when every object passed what could be checked."""
        return not self.errors and bool(self.checked)

    @property
    def warnings(self) -> list[str]:
        """One line per extension that was not validated."""
        return [f"extension {uri} NOT validated: {why}" for uri, why in sorted(self.skipped.items())]

    def summary(self) -> dict[str, Any]:
        """The report as a JSON-able dict (for job results)."""
        return {"ok": self.ok, "checked": len(self.checked), "errors": self.errors, "schemas": self.schemas,
                "schemas_used": dict(sorted(self.used.items())), "warnings": self.warnings}


def _catalog_path(path: Path) -> Path:
    path = Path(path)
    if path.is_dir():
        path = path / "catalog.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such STAC catalog")
    return path


def _unavailable(exc: BaseException) -> SchemaUnavailable | None:
    """The :class:`SchemaUnavailable` behind ``exc`` (also through ``referencing``'s wrappers)."""
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        e = todo.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        if isinstance(e, SchemaUnavailable):
            return e
        todo += [e.__cause__, e.__context__]
    return None


def validate_catalog(path: str | Path, schema_dir: str | Path | None = None, *, fetch: bool | None = None,
                     cache_dir: str | Path | None = None, require_extensions: bool = False) -> ValidationReport:
    """Validate a catalog (``catalog.json`` or its directory) and every object below it.

    Each catalog, collection and item is validated against the STAC core schema of its type and
    every extension schema it declares in ``stac_extensions`` (resolved as the module says);
    asset hrefs that are local files are checked to exist.  An extension whose schema is
    unavailable is recorded in ``report.skipped`` (an error when ``require_extensions``).
    """
    import pystac

    sources = resolve_sources(schema_dir, fetch=fetch, cache_dir=cache_dir)
    with _quiet_pystac():
        try:
            return _validate(pystac.read_file(str(_catalog_path(Path(path)))), sources, require_extensions)
        except pystac.STACError as exc:
            raise ValueError(f"{path}: unreadable STAC ({exc})") from exc


@contextlib.contextmanager
def _quiet_pystac() -> Iterator[None]:
    """Silence pystac's validator logger (it logs a traceback for every unavailable schema, which
    the report already names)."""
    import logging

    log = logging.getLogger("pystac.validation.stac_validator")
    level = log.level
    log.setLevel(logging.CRITICAL + 1)
    try:
        yield
    finally:
        log.setLevel(level)


def _validate(root: Any, sources: SchemaSources, require_extensions: bool) -> ValidationReport:
    import pystac
    from pystac.errors import STACValidationError
    from pystac.validation import validate_dict

    validator = make_validator(sources)
    report = ValidationReport(schemas=sources.describe())
    objects: list[Any] = [root]
    if isinstance(root, (pystac.Catalog, pystac.Collection)):
        for _, children, items in root.walk():
            objects.extend(children)
            objects.extend(items)
    seen: set[int] = set()
    version = pystac.get_stac_version()
    for obj in objects:
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        label = f"{obj.STAC_OBJECT_TYPE.value} {obj.id}"
        data = json.loads(json.dumps(obj.to_dict()))
        href = obj.get_self_href()
        n_err = len(report.errors)
        try:
            validate_dict(data, obj.STAC_OBJECT_TYPE, version, extensions=[], href=href, validator=validator)
        except STACValidationError as exc:
            report.errors.append(f"{label}: {_short(exc)}")
        for ext in obj.stac_extensions or []:
            if urllib.parse.urlsplit(ext).scheme not in ("http", "https"):
                report.errors.append(f"{label}: extension {ext!r} is not an http(s) schema URL")
                continue
            try:
                validator.validate_extension(data, obj.STAC_OBJECT_TYPE, version, ext, href)
            except STACValidationError as exc:
                report.errors.append(f"{label}: {_short(exc)}")
            except Exception as exc:  # noqa: BLE001 (unavailable schemas surface wrapped by jsonschema)
                missing = _unavailable(exc)
                if missing is None:
                    raise
                why = missing.reason if missing.uri == _key(ext) else f"{missing.uri} (which it references) {missing.reason}"
                if require_extensions:
                    report.errors.append(f"{label}: extension {ext} could not be validated: {why}")
                else:
                    report.skipped.setdefault(_key(ext), why)
        if isinstance(obj, pystac.Item):
            for key, asset in obj.assets.items():
                a_href = asset.get_absolute_href()
                if a_href and "://" not in a_href and not Path(a_href).exists():
                    report.errors.append(f"{label}: asset {key!r} points to a missing file {a_href}")
        if len(report.errors) == n_err:
            report.checked.append(label)
    report.used = {uri: where for uri, where in validator.origin.items()}
    return report


def _short(exc: Exception) -> str:
    """First line of a ``STACValidationError`` plus jsonschema's best-matching error and where it is."""
    msg = str(exc).splitlines()[0]
    best = exc.__cause__
    if best is not None and getattr(best, "message", None):
        path = "/".join(str(p) for p in getattr(best, "absolute_path", []))
        return f"{msg} ({best.message}{' at ' + path if path else ''})"
    return msg
