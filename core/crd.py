"""Generate the VolumeGroup CustomResourceDefinition from the pydantic models.

The models are the single source of truth; ``crds/`` is this module's output (``nearpath
crds``), and a unit test fails when the two differ. The JSON schema pydantic writes is
turned into a Kubernetes *structural* schema: references inlined, ``anyOf``-with-null
collapsed, no ``additionalProperties: false``, ``metadata`` left to the API server, and
the CEL rules (``x-kubernetes-validations``) and list types the models declare kept.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from nearpath.core.api import GROUP, KIND, PLURAL, SHORT_NAMES, SINGULAR, VERSION, VolumeGroup

CRD_FILENAME = f"{GROUP}_{PLURAL}.yaml"

_DROP_KEYS = {"title", "$defs"}

PRINTER_COLUMNS: list[dict[str, Any]] = [
    {"name": "Backing", "type": "string", "jsonPath": ".spec.backing.type", "description": "Backing type."},
    {"name": "Disks", "type": "string", "jsonPath": ".spec.disks[*].name", "description": "Disk names."},
    {
        "name": "Optimized",
        "type": "string",
        "jsonPath": ".status.optimizedNode",
        "description": "Node whose target is ALUA Active/Optimized.",
    },
    {
        "name": "Ready",
        "type": "string",
        "jsonPath": '.status.conditions[?(@.type=="Ready")].status',
        "description": "Ready condition.",
    },
    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
]


def _resolve(node: Any, defs: Mapping[str, Any]) -> Any:
    if isinstance(node, list):
        return [_resolve(item, defs) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        target = defs[node["$ref"].rsplit("/", 1)[-1]]
        merged = {**_resolve(target, defs), **{k: v for k, v in node.items() if k != "$ref"}}
        return _structural(merged, defs)
    return _structural(node, defs)


def _structural(node: dict[str, Any], defs: Mapping[str, Any]) -> dict[str, Any]:
    node = {k: v for k, v in node.items() if k not in _DROP_KEYS}
    any_of = node.get("anyOf")
    if any_of:
        non_null = [branch for branch in any_of if branch.get("type") != "null"]
        if len(non_null) != 1:
            raise ValueError(f"cannot express anyOf {any_of!r} in a structural schema")
        rest = {k: v for k, v in node.items() if k != "anyOf"}
        inner = _resolve(non_null[0], defs)
        # The outer description/default win over the referenced model's own.
        node = {**inner, **rest}
    if node.get("additionalProperties") is False:
        del node["additionalProperties"]
    if node.get("default", 0) is None:
        del node["default"]
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in ("properties",):
            out[key] = {name: _resolve(sub, defs) for name, sub in value.items()}
        elif key in ("items", "additionalProperties") and isinstance(value, dict):
            out[key] = _resolve(value, defs)
        else:
            out[key] = value
    if "properties" in out and "type" not in out:
        out["type"] = "object"
    return _order(out)


_KEY_ORDER = [
    "description",
    "type",
    "format",
    "enum",
    "default",
    "minimum",
    "maximum",
    "minLength",
    "maxLength",
    "pattern",
    "minItems",
    "maxItems",
    "x-kubernetes-list-type",
    "x-kubernetes-list-map-keys",
    "items",
    "additionalProperties",
    "required",
    "properties",
    "x-kubernetes-validations",
]


def _order(node: dict[str, Any]) -> dict[str, Any]:
    known = {k: node[k] for k in _KEY_ORDER if k in node}
    unknown = {k: node[k] for k in sorted(node) if k not in known}
    return {**known, **unknown}


def openapi_schema() -> dict[str, Any]:
    """The structural OpenAPI v3 schema of the VolumeGroup resource."""
    raw = VolumeGroup.model_json_schema(by_alias=True, mode="validation")
    defs = raw.get("$defs", {})
    schema = _resolve(raw, defs)
    props = schema["properties"]
    props["apiVersion"] = {"type": "string", "description": "nearpath.io/v1alpha1"}
    props["kind"] = {"type": "string", "description": "VolumeGroup"}
    props["metadata"] = {"type": "object"}
    schema["required"] = ["spec"]
    schema.pop("default", None)
    for key in ("status",):
        props[key].pop("default", None)
    return _order(schema)


def volume_group_crd() -> dict[str, Any]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": f"{PLURAL}.{GROUP}",
            "labels": {"app.kubernetes.io/name": "nearpath", "app.kubernetes.io/component": "crd"},
        },
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": KIND,
                "listKind": f"{KIND}List",
                "plural": PLURAL,
                "singular": SINGULAR,
                "shortNames": list(SHORT_NAMES),
                "categories": ["nearpath", "storage"],
            },
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": PRINTER_COLUMNS,
                    "schema": {"openAPIV3Schema": openapi_schema()},
                }
            ],
        },
    }


class _NoAliasDumper(yaml.SafeDumper):
    """Writes repeated values out in full: Kubernetes tooling does not expect YAML anchors."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def render() -> dict[str, str]:
    """File name -> YAML text of every CRD nearpath ships."""
    header = "# Generated by `nearpath crds` from nearpath.core.api. Do not edit.\n"
    text = yaml.dump(volume_group_crd(), Dumper=_NoAliasDumper, sort_keys=False, width=120, allow_unicode=True)
    return {CRD_FILENAME: header + text}


def write(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in render().items():
        path = directory / name
        path.write_text(text)
        written.append(path)
    return written


def diff(directory: Path) -> list[str]:
    """Names of CRD files in ``directory`` that differ from the generator's output."""
    stale = []
    for name, text in render().items():
        path = directory / name
        if not path.exists() or path.read_text() != text:
            stale.append(name)
    return stale
