"""Validation of execute-request inputs against an OGC process description (pygeoapi 0.21 has none)."""

from __future__ import annotations

from typing import Any

from .processes import InvalidInputError


def _unwrap(value: Any) -> Any:
    """The value of a qualified input (``{"value": v}``) or link (``{"href": url}``)."""
    if isinstance(value, dict) and set(value) <= {"value", "mediaType", "encoding", "schema"} and "value" in value:
        return value["value"]
    if isinstance(value, dict) and "href" in value and set(value) <= {"href", "type", "rel", "title", "hreflang"}:
        return value["href"]
    return value


def validate_execute_inputs(description: dict[str, Any], inputs: dict[str, Any]) -> dict[str, Any]:
    """Check ``inputs`` against the description; return them with defaults filled in.

    Raises :class:`InvalidInputError` (HTTP 400, ``InvalidParameterValue``) naming the input
    for an unknown input, a missing required one, too many or too few values, or a value that
    does not match the input's JSON schema.
    """
    import jsonschema

    spec = description.get("inputs", {})
    unknown = sorted(set(inputs) - set(spec))
    if unknown:
        raise InvalidInputError(user_msg=f"unknown input(s) {', '.join(unknown)}; this process takes {', '.join(spec)}")
    out: dict[str, Any] = {}
    for name, d in spec.items():
        schema = d.get("schema", {})
        min_occurs = int(d.get("minOccurs", 1))
        max_occurs = d.get("maxOccurs", 1)
        if name not in inputs or inputs[name] is None:
            if min_occurs > 0:
                raise InvalidInputError(user_msg=f"missing required input '{name}'")
            if "default" in schema:
                out[name] = schema["default"]
            continue
        raw = inputs[name]
        multi = max_occurs == "unbounded" or int(max_occurs) > 1
        if multi and isinstance(raw, list) and schema.get("type") != "array":
            values = [_unwrap(v) for v in raw]
            if len(values) < min_occurs or (max_occurs != "unbounded" and len(values) > int(max_occurs)):
                raise InvalidInputError(user_msg=f"input '{name}': {len(values)} values, expected {min_occurs}..{max_occurs}")
        else:
            values = [_unwrap(raw)]
        for v in values:
            try:
                jsonschema.validate(v, schema, format_checker=jsonschema.FormatChecker())
            except jsonschema.ValidationError as exc:
                where = "/".join(str(p) for p in exc.absolute_path)
                raise InvalidInputError(
                    user_msg=f"input '{name}'{('/' + where) if where else ''}: {exc.message}"
                ) from None
        out[name] = values if multi and isinstance(raw, list) and schema.get("type") != "array" else values[0]
    return out
