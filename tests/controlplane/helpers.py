"""Helpers for the control-plane tier: the VolumeGroup CRD contract, API paths, field matching."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
# NEARPATH_CRD_DIR: test another CRD directory (e.g. one rendered from the Helm chart).
CRD_DIR = Path(os.environ.get("NEARPATH_CRD_DIR") or REPO_ROOT / "crds")
VG_CRD_FILE = CRD_DIR / "nearpath.io_volumegroups.yaml"
GROUP = "nearpath.io"
VERSION = "v1alpha1"
KIND = "VolumeGroup"
PLURAL = "volumegroups"
CRD_NAME = f"{PLURAL}.{GROUP}"


def load_crd(path: Path = VG_CRD_FILE) -> dict[str, Any]:
    docs = [d for d in yaml.safe_load_all(path.read_text()) if d]
    crds = [d for d in docs if d.get("kind") == "CustomResourceDefinition"]
    if len(crds) != 1:
        raise AssertionError(f"{path}: expected exactly one CustomResourceDefinition, got {len(crds)}")
    crd: dict[str, Any] = crds[0]
    return crd


def crd_version(crd: dict[str, Any], version: str = VERSION) -> dict[str, Any]:
    for v in crd["spec"]["versions"]:
        if v["name"] == version:
            found: dict[str, Any] = v
            return found
    raise AssertionError(f"CRD {crd['metadata']['name']} has no version {version}")


def schema_at(crd: dict[str, Any], dotted: str) -> dict[str, Any]:
    """The openAPIV3Schema node at e.g. ``spec.disks`` (array items are entered implicitly)."""
    node: dict[str, Any] = crd_version(crd)["schema"]["openAPIV3Schema"]
    for part in dotted.split("."):
        if node.get("type") == "array":
            node = node["items"]
        node = node["properties"][part]
    return node


def vg_path(namespace: str, name: str | None = None, sub: str | None = None) -> str:
    path = f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/{PLURAL}"
    if name:
        path += f"/{name}"
    if sub:
        path += f"/{sub}"
    return path


# ---- rejection messages ----------------------------------------------------------------
_INDEX = re.compile(r"\[\d+\]")


@dataclass(frozen=True)
class FieldMatch:
    rule: str  # which rule matched: "exact", "duplicate-list-key" or "loose"
    text: str  # the text that matched


def rejection_texts(status: Any) -> list[str]:
    """The message and every ``details.causes[]`` (field + message) of a Status object."""
    if not isinstance(status, dict):
        return [str(status)]
    texts = [str(status.get("message", ""))]
    for cause in (status.get("details") or {}).get("causes") or []:
        texts.append(f"{cause.get('field', '')}: {cause.get('message', '')}")
    return texts


def match_field(status: Any, field: str) -> FieldMatch | None:
    """Does the API server's rejection name ``field`` (e.g. ``spec.disks[0].size``)?

    Rules, strictest first:

    1. exact: the path appears verbatim in the message or a cause's field;
    2. duplicate-list-key (fallback for ``x-kubernetes-list-type: map`` duplicates): the API
       server reports the *second* occurrence (``spec.disks[1]: Duplicate value: ...``) and
       never the key's own name, so it suffices that a "Duplicate value" text names the list
       path (the expected path cut at its last ``[``);
    3. loose: the message names both the path's top-level prefix as the API server renders it
       (``spec.``/``metadata.``) and the path's last component as a word (``size``), ignoring
       list indices; covers CEL rules reported at a parent path with the field in the text.
    """
    texts = rejection_texts(status)
    for text in texts:
        if field in text:
            return FieldMatch("exact", text)
    if "[" in field:
        list_path = field[: field.rindex("[")]
        for text in texts:
            if "Duplicate value" in text and list_path in text:
                return FieldMatch("duplicate-list-key", text)
    plain = _INDEX.sub("", field)
    prefix = plain.split(".")[0] + "."
    last = plain.split(".")[-1]
    word = re.compile(rf"(?<![A-Za-z0-9]){re.escape(last)}(?![A-Za-z0-9])")
    for text in texts:
        if prefix in text and word.search(text):
            return FieldMatch("loose", text)
    return None


# ---- status probe -------------------------------------------------------------------------
def _scalar_value(schema: dict[str, Any]) -> Any:
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if kind == "boolean":
        return True
    if kind == "integer":
        return max(int(schema.get("minimum", 0)), 0) + 7
    if kind == "string" and "format" not in schema and "pattern" not in schema:
        return "nearpath-status-probe"[: int(schema.get("maxLength", 64))]
    return None


def status_probe(crd: dict[str, Any]) -> dict[str, Any]:
    """A minimal, schema-valid status fragment setting one scalar field (not defaulted away).

    Prefers ``observedGeneration``; raises if the status schema has no usable scalar field.
    """
    props: dict[str, Any] = schema_at(crd, "status").get("properties", {})
    names = sorted(props, key=lambda n: (n != "observedGeneration", n))
    for name in names:
        value = _scalar_value(props[name])
        if value is not None:
            return {name: value}
    raise AssertionError("status schema has no scalar property to probe the status subresource with")
