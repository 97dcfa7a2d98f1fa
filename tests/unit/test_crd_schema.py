"""The generated CRD: structural, documented, and rejecting what the models reject.

The CEL rules are evaluated offline here (tests/crd_validator.py); the control-plane tier
runs the same samples against a real API server.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from nearpath.core import crd
from tests.crd_validator import validate
from tests.samples import INVALID_SAMPLES, VALID_SAMPLES, Sample

pytestmark = pytest.mark.unit

CRD_DIR = Path(__file__).resolve().parents[2] / "crds"


@pytest.fixture(scope="module")
def generated() -> dict[str, Any]:
    return crd.volume_group_crd()


def test_crds_directory_matches_the_generator() -> None:
    assert crd.diff(CRD_DIR) == [], "crds/ is stale: run `make crds`"
    committed = yaml.safe_load((CRD_DIR / crd.CRD_FILENAME).read_text())
    assert committed == crd.volume_group_crd()


def _walk(node: Any, path: str = "") -> list[tuple[str, dict[str, Any]]]:
    out: list[tuple[str, dict[str, Any]]] = []
    if isinstance(node, dict):
        out.append((path, node))
        for key, value in node.get("properties", {}).items():
            out.extend(_walk(value, f"{path}.{key}"))
        if isinstance(node.get("items"), dict):
            out.extend(_walk(node["items"], f"{path}[]"))
        if isinstance(node.get("additionalProperties"), dict):
            out.extend(_walk(node["additionalProperties"], f"{path}{{}}"))
    return out


def _schema(generated: dict[str, Any]) -> dict[str, Any]:
    return generated["spec"]["versions"][0]["schema"]["openAPIV3Schema"]


def test_schema_is_structural(generated: dict[str, Any]) -> None:
    text = yaml.safe_dump(generated)
    assert "$ref" not in text and "$defs" not in text and "null" not in text
    for path, node in _walk(_schema(generated)):
        if "anyOf" in node:
            assert node.get("x-kubernetes-int-or-string") is True, path
            assert all(set(branch) == {"type"} for branch in node["anyOf"]), path
        else:
            assert "type" in node, f"{path} has no type"
        assert node.get("additionalProperties") is not False, path
        assert not ("properties" in node and "additionalProperties" in node), path


def test_every_spec_and_status_field_is_documented(generated: dict[str, Any]) -> None:
    undocumented = [
        path
        for path, node in _walk(_schema(generated))
        if path.startswith((".spec.", ".status.")) and not path.endswith(("[]", "{}")) and not node.get("description")
    ]
    assert undocumented == []


def test_crd_shape(generated: dict[str, Any]) -> None:
    spec = generated["spec"]
    assert spec["group"] == "nearpath.io"
    assert spec["names"]["shortNames"] == ["vg"]
    version = spec["versions"][0]
    assert version["name"] == "v1alpha1" and version["subresources"] == {"status": {}}
    columns = [c["name"] for c in version["additionalPrinterColumns"]]
    assert columns == ["Backing", "Disks", "Optimized", "Ready", "Age"]
    rules = [r["rule"] for _, n in _walk(_schema(generated)) for r in n.get("x-kubernetes-validations", [])]
    assert any("preferredNode in self.nodes" in r for r in rules)
    assert any("size(self.placement.nodes) == 1" in r for r in rules)


@pytest.mark.parametrize("sample", VALID_SAMPLES, ids=lambda s: s.id)
def test_valid_sample_accepted_by_crd(generated: dict[str, Any], sample: Sample) -> None:
    assert validate(generated, sample.manifest) == []


@pytest.mark.parametrize("sample", INVALID_SAMPLES, ids=lambda s: s.id)
def test_invalid_sample_rejected_by_crd(generated: dict[str, Any], sample: Sample) -> None:
    errors = validate(generated, sample.manifest)
    assert errors, f"{sample.id} was accepted by the CRD"
    # The field is named by the error's path, or (rules on the root object, which cannot
    # point a fieldPath into metadata) by its message, as the API server renders them.
    assert any(sample.field in f"{path}: {message}" for path, message in errors), errors
