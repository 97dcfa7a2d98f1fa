"""The VolumeGroup CRD, served by a real kube-apiserver: schema, validation, status, columns."""

from __future__ import annotations

import copy
import json
import re
import subprocess
from typing import Any

import pytest

from tests.controlplane.cluster import ControlPlane
from tests.controlplane.helpers import (
    CRD_NAME,
    GROUP,
    KIND,
    PLURAL,
    VERSION,
    crd_version,
    match_field,
    schema_at,
    status_probe,
    vg_path,
)
from tests.fixtures.controlplane import Kubectl
from tests.samples import INVALID_SAMPLES, VALID_SAMPLES, Sample
from tests.support.polling import WaitTimeout, wait_for

pytestmark = pytest.mark.controlplane

MERGE_PATCH = "application/merge-patch+json"


def in_namespace(sample: Sample, namespace: str) -> dict[str, Any]:
    manifest = copy.deepcopy(sample.manifest)
    manifest.setdefault("metadata", {})["namespace"] = namespace
    return manifest


def create(cp: ControlPlane, namespace: str, manifest: dict[str, Any]) -> tuple[int, Any]:
    """POST straight to the API server (no kubectl client-side logic), strict field validation."""
    return cp.request("POST", vg_path(namespace) + "?fieldValidation=Strict", manifest)


def create_first_valid(cp: ControlPlane, namespace: str) -> dict[str, Any]:
    status, body = create(cp, namespace, in_namespace(VALID_SAMPLES[0], namespace))
    assert status == 201, f"valid sample {VALID_SAMPLES[0].id} rejected: HTTP {status} {body}"
    assert isinstance(body, dict)
    return body


def test_samples_exist() -> None:
    assert VALID_SAMPLES, "tests/samples.py has no valid samples"
    assert INVALID_SAMPLES, "tests/samples.py has no invalid samples"


def test_crd_established_with_contract_names(installed_crds: dict[str, Any], kubectl: Kubectl) -> None:
    got = kubectl("get", "crd", CRD_NAME, "-o", "json", check=True)
    crd = json.loads(got.stdout)
    conditions = {c["type"]: c["status"] for c in crd["status"].get("conditions", [])}
    assert conditions.get("Established") == "True", conditions
    assert conditions.get("NamesAccepted") == "True", conditions
    names = crd["spec"]["names"]
    assert (crd["spec"]["group"], names["kind"], names["plural"]) == (GROUP, KIND, PLURAL)
    assert "vg" in names.get("shortNames", [])
    assert crd["spec"]["scope"] == "Namespaced"
    assert VERSION in [v["name"] for v in crd["spec"]["versions"] if v.get("served")]


def _normalise(text: str) -> str:
    return " ".join(text.split())


def explain(kubectl: Kubectl, what: str, timeout_s: float = 30.0) -> subprocess.CompletedProcess[str]:
    """kubectl explain, retried: the CRD's OpenAPI is published a moment after Established."""
    result: list[subprocess.CompletedProcess[str]] = []

    def attempt() -> bool:
        result[:] = [kubectl("explain", what, f"--api-version={GROUP}/{VERSION}")]
        return result[0].returncode == 0

    try:
        wait_for(f"kubectl explain {what}", attempt, timeout_s, interval_s=1.0)
    except WaitTimeout as exc:
        raise WaitTimeout(f"{exc}: {result[0].stderr}") from exc
    return result[0]


@pytest.mark.parametrize("field", ["name", "size"])
def test_explain_documents_disk_fields(installed_crds: dict[str, Any], kubectl: Kubectl, field: str) -> None:
    got = explain(kubectl, "volumegroup.spec.disks")
    assert re.search(rf"^\s+{field}\s+<\w+>", got.stdout, re.M), (
        f"kubectl explain volumegroup.spec.disks does not list {field!r}:\n{got.stdout}"
    )
    description = schema_at(installed_crds, f"spec.disks.{field}").get("description", "")
    assert description.strip(), f"spec.disks[].{field} has no description in the CRD schema"
    first_words = " ".join(_normalise(description).split()[:6])
    assert first_words in _normalise(got.stdout), (
        f"the description of {field!r} is not served by the API server:\n{got.stdout}"
    )


@pytest.mark.parametrize("sample", INVALID_SAMPLES, ids=lambda s: s.id)
def test_invalid_sample_rejected_by_api_server(
    installed_crds: dict[str, Any], control_plane: ControlPlane, namespace: str, sample: Sample
) -> None:
    status, body = create(control_plane, namespace, in_namespace(sample, namespace))
    assert status in (400, 422), f"{sample.id}: expected rejection, got HTTP {status}: {body}"
    match = match_field(body, sample.field)
    assert match is not None, (
        f"{sample.id}: rejection does not name {sample.field!r}: {json.dumps(body, indent=1)[:2000]}"
    )
    name = sample.manifest.get("metadata", {}).get("name")
    if name:
        assert control_plane.request("GET", vg_path(namespace, name))[0] == 404


@pytest.mark.parametrize("sample", VALID_SAMPLES, ids=lambda s: s.id)
def test_valid_sample_accepted(
    installed_crds: dict[str, Any], control_plane: ControlPlane, namespace: str, sample: Sample
) -> None:
    status, body = create(control_plane, namespace, in_namespace(sample, namespace))
    assert status == 201, f"{sample.id}: rejected with HTTP {status}: {body}"
    name = body["metadata"]["name"]
    status, got = control_plane.request("GET", vg_path(namespace, name))
    assert status == 200 and got["kind"] == KIND


def test_status_only_through_subresource(
    installed_crds: dict[str, Any], control_plane: ControlPlane, namespace: str
) -> None:
    assert "status" in crd_version(installed_crds).get("subresources", {}), "status subresource not enabled"
    probe = status_probe(installed_crds)
    ((key, value),) = probe.items()
    name = create_first_valid(control_plane, namespace)["metadata"]["name"]
    path = vg_path(namespace, name)

    def status_value() -> Any:
        code, obj = control_plane.request("GET", path)
        assert code == 200, obj
        return (obj.get("status") or {}).get(key)

    code, body = control_plane.request("PATCH", path, {"status": probe}, content_type=MERGE_PATCH)
    assert code == 200, body
    assert status_value() != value, "a patch of the main resource changed .status"

    code, obj = control_plane.request("GET", path)
    obj["status"] = probe
    code, body = control_plane.request("PUT", path, obj)
    assert code == 200, body
    assert status_value() != value, "an update of the main resource changed .status"

    code, body = control_plane.request("PATCH", path + "/status", {"status": probe}, content_type=MERGE_PATCH)
    assert code == 200, f"patch of /status failed: HTTP {code}: {body}"
    assert status_value() == value, "a patch of /status did not change .status"


def _columns(line: str) -> list[str]:
    return re.split(r"\s{2,}", line.strip())


def _simple_value(obj: dict[str, Any], json_path: str) -> str | None:
    """Value at a plain ``.a.b.c`` JSONPath (None for anything fancier, or absent)."""
    if not re.fullmatch(r"(\.[A-Za-z0-9_]+)+", json_path):
        return None
    node: Any = obj
    for part in json_path.strip(".").split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node if isinstance(node, str) else json.dumps(node)


@pytest.mark.parametrize("wide", [False, True], ids=["default", "wide"])
def test_printer_columns(
    installed_crds: dict[str, Any], control_plane: ControlPlane, kubectl: Kubectl, namespace: str, wide: bool
) -> None:
    columns = crd_version(installed_crds).get("additionalPrinterColumns", [])
    assert columns, "the CRD defines no additionalPrinterColumns"
    shown = [c for c in columns if wide or c.get("priority", 0) == 0]
    obj = create_first_valid(control_plane, namespace)
    args = ["get", "vg", "-n", namespace] + (["-o", "wide"] if wide else [])
    got = kubectl(*args, check=True)
    header, *rows = got.stdout.strip().splitlines()
    assert _columns(header) == ["NAME"] + [c["name"].upper() for c in shown], got.stdout
    assert len(rows) == 1, got.stdout
    cells = _columns(rows[0])
    assert cells[0] == obj["metadata"]["name"]
    for column, cell in zip(shown, cells[1:], strict=False):
        expected = _simple_value(obj, column["jsonPath"])
        if expected is not None and column.get("type") != "date":
            assert cell == expected, f"column {column['name']}: {cell!r} != {expected!r}"
