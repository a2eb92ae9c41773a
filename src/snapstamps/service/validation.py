"""Validation of execute requests against an OGC process description (pygeoapi 0.21 has none).

Inputs: JSON schema of each input (integers must be JSON integers: ``1.0`` is refused),
``minOccurs``/``maxOccurs``, unknown inputs.  Outputs: the ``outputs`` selection must be an
object naming outputs of the process, each with an optional ``transmissionMode`` the process
offers.  ``response`` is ``raw`` or ``document``.
"""

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
    spec = description.get("inputs", {})
    validator_cls = _strict_validator()
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
            import jsonschema

            errors = sorted(validator_cls(schema, format_checker=jsonschema.FormatChecker()).iter_errors(v),
                            key=lambda e: list(e.absolute_path))
            if errors:
                exc = errors[0]
                where = "/".join(str(p) for p in exc.absolute_path)
                msg = exc.message if len(exc.message) <= 300 else exc.message[:300] + "..."
                raise InvalidInputError(user_msg=f"input '{name}'{('/' + where) if where else ''}: {msg}")
        out[name] = values if multi and isinstance(raw, list) and schema.get("type") != "array" else values[0]
    return out


def _strict_validator() -> Any:
    """A JSON-schema validator class whose ``integer`` is a JSON integer (not ``1.0``), and never a boolean."""
    import jsonschema

    base = jsonschema.validators.validator_for({})

    def is_integer(checker: Any, instance: Any) -> bool:
        return isinstance(instance, int) and not isinstance(instance, bool)

    def is_number(checker: Any, instance: Any) -> bool:
        return isinstance(instance, (int, float)) and not isinstance(instance, bool)

    checker = base.TYPE_CHECKER.redefine_many({"integer": is_integer, "number": is_number})
    return jsonschema.validators.extend(base, type_checker=checker)


def validate_outputs(description: dict[str, Any], outputs: Any) -> dict[str, Any] | None:
    """Check the ``outputs`` selection of an execute request; return it (None when absent)."""
    if outputs is None:
        return None
    if not isinstance(outputs, dict):
        raise InvalidInputError(user_msg="'outputs' must be an object mapping output ids to "
                                         "{\"transmissionMode\": ...} (or {})")
    known = description.get("outputs", {})
    modes = description.get("outputTransmission") or ["value", "reference"]
    for key, val in outputs.items():
        if key not in known:
            shown = key if len(key) <= 64 else key[:64] + "..."
            raise InvalidInputError(user_msg=f"unknown output '{shown}'; this process has {', '.join(known)}")
        if val is None:
            continue
        if not isinstance(val, dict):
            raise InvalidInputError(user_msg=f"output '{key}': must be an object")
        mode = val.get("transmissionMode")
        if mode is not None and mode not in modes:
            raise InvalidInputError(user_msg=f"output '{key}': transmissionMode must be one of {', '.join(modes)}")
    return outputs
