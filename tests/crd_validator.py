"""Offline evaluation of a CRD's schema the way the API server applies it.

Three layers, in the API server's order: the OpenAPI v3 schema (types, patterns, bounds,
required), list types (``map`` keys and ``set`` items unique), and the CEL rules
(``x-kubernetes-validations``) with the Kubernetes CEL library functions nearpath uses
(``quantity``, ``isQuantity``, ``compareTo``, ``isCIDR``, ``substring``) implemented here.
Errors come back as ``(field path, message)`` with paths in the API server's form.
"""

from __future__ import annotations

import ipaddress
from typing import Any

import celpy
import jsonschema
from celpy import celtypes

from nearpath.core.quantity import is_quantity, parse_bytes

FieldError = tuple[str, str]


def _quantity(value: Any) -> celtypes.IntType:
    text = str(value)
    if not is_quantity(text):
        raise ValueError(f"invalid quantity {text!r}")
    return celtypes.IntType(parse_bytes(text))


def _is_quantity(value: Any) -> celtypes.BoolType:
    return celtypes.BoolType(is_quantity(str(value)))


def _compare_to(left: Any, right: Any) -> celtypes.IntType:
    return celtypes.IntType((left > right) - (left < right))


def _is_cidr(value: Any) -> celtypes.BoolType:
    try:
        ipaddress.ip_network(str(value), strict=True)
    except ValueError:
        return celtypes.BoolType(False)
    return celtypes.BoolType(True)


def _substring(value: Any, start: Any, end: Any = None) -> celtypes.StringType:
    text = str(value)
    return celtypes.StringType(text[int(start) :] if end is None else text[int(start) : int(end)])


FUNCTIONS = {
    "quantity": _quantity,
    "isQuantity": _is_quantity,
    "compareTo": _compare_to,
    "isCIDR": _is_cidr,
    "substring": _substring,
}


def _path(parts: list[str | int]) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _schema_errors(schema: dict[str, Any], obj: Any) -> list[FieldError]:
    validator = jsonschema.Draft7Validator(schema)
    out = []
    for error in validator.iter_errors(obj):
        parts = list(error.absolute_path)
        if error.validator == "required":
            missing = error.message.split("'")[1]
            parts.append(missing)
        out.append((_path(parts), error.message))
    return out


def _walk(schema: dict[str, Any], value: Any, parts: list[str | int], errors: list[FieldError]) -> None:
    if isinstance(value, list):
        _check_list_type(schema, value, parts, errors)
        item_schema = schema.get("items", {})
        for index, item in enumerate(value):
            _walk(item_schema, item, [*parts, index], errors)
    elif isinstance(value, dict):
        for key, sub in schema.get("properties", {}).items():
            if key in value:
                _walk(sub, value[key], [*parts, key], errors)
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            for key, item in value.items():
                _walk(extra, item, [*parts, key], errors)
    for rule in schema.get("x-kubernetes-validations", []):
        if not _evaluate(rule["rule"], value):
            field = rule.get("fieldPath", "")
            errors.append(((_path(parts) + field).lstrip("."), rule["message"]))


def _check_list_type(
    schema: dict[str, Any], value: list[Any], parts: list[str | int], errors: list[FieldError]
) -> None:
    list_type = schema.get("x-kubernetes-list-type")
    seen: list[Any] = []
    for index, item in enumerate(value):
        key = item
        if list_type == "map":
            key = tuple(item.get(k) for k in schema["x-kubernetes-list-map-keys"])
        elif list_type != "set":
            return
        if key in seen:
            errors.append((_path([*parts, index]), f"Duplicate value: {key!r}"))
        seen.append(key)


def _evaluate(rule: str, value: Any) -> bool:
    env = celpy.Environment()
    program = env.program(env.compile(rule), functions=FUNCTIONS)
    try:
        result = program.evaluate({"self": celpy.json_to_cel(value)})
    except celpy.CELEvalError:
        return False  # the API server rejects an object whose rule fails to evaluate
    return bool(result)


def validate(crd: dict[str, Any], obj: dict[str, Any]) -> list[FieldError]:
    """Everything the API server would say about ``obj`` (empty: accepted)."""
    version = crd["spec"]["versions"][0]
    schema = version["schema"]["openAPIV3Schema"]
    errors = _schema_errors(schema, obj)
    if errors:
        return errors
    _walk(schema, obj, [], errors)
    return errors
