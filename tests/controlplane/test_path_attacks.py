"""Hostile disk paths, rejected by the real API server (issue 15, C1).

Two layers answer here: the CRD's own schema and CEL (static rules: no ',', newline or control
characters, no '.'/'..'/empty segments, at most 512 characters) and the chart's
ValidatingAdmissionPolicy (the admin's prefix allow-list, default ``/dev/disk/by-id/``,
``/dev/disk/by-path/`` and the local volume directory), rendered from the chart with its default
values. Every attack must be refused with the offending field named, on create and on update.
What only a node can see (symlinks, mounted/root/held devices, another group's file) is refused
by the agent: ``tests/unit/target/test_confinement.py`` and ``tests/vm/test_path_attacks.py``.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from tests.controlplane.cluster import ControlPlane
from tests.controlplane.helpers import vg_path
from tests.fixtures.controlplane import Kubectl
from tests.support.chart import render
from tests.support.manifests import wire
from tests.support.polling import wait_for

pytestmark = pytest.mark.controlplane

POLICY_TEMPLATE = "templates/path-admission-policy.yaml"
SHARED_OK = "/dev/disk/by-id/wwn-0x600a0b80001"


def _vg(name: str, disks: list[dict[str, Any]], backing: dict[str, Any] | None = None) -> dict[str, Any]:
    return wire(
        name, None, {"disks": disks, "backing": backing or {"type": "shared"}, "placement": {"nodes": ["node-a"]}}
    )


def _source(path: str) -> dict[str, Any]:
    return _vg("attack", [{"name": "d", "size": "1Gi", "source": {"path": path}}])


def _node_path(path: str) -> dict[str, Any]:
    source = {"path": SHARED_OK, "nodePaths": [{"node": "node-a", "path": path}]}
    return _vg("attack", [{"name": "d", "size": "1Gi", "source": source}])


def _local_dir(directory: str) -> dict[str, Any]:
    return _vg("attack", [{"name": "d", "size": "1Gi"}], {"type": "local", "local": {"directory": directory}})


SRC, NODE_PATH, LOCAL_DIR = "source.path", "source.nodePaths", "spec.backing.local.directory"
# (id, manifest, field the rejection names, who rejects: "crd" or "policy")
ATTACKS: list[tuple[str, dict[str, Any], str, str]] = [
    ("raw-root-disk-name", _source("/dev/sda"), SRC, "policy"),
    ("nvme-by-kernel-name", _node_path("/dev/nvme0n1"), NODE_PATH, "policy"),
    ("etc-shadow-as-fileio", _source("/etc/shadow"), SRC, "policy"),
    ("proc-kcore", _source("/proc/kcore"), SRC, "policy"),
    ("prefix-confusion", _source("/dev/disk/by-idx/evil"), SRC, "policy"),
    ("local-dir-sibling-prefix", _local_dir("/var/lib/nearpath/volumesevil"), LOCAL_DIR, "policy"),
    ("local-dir-devtmpfs", _local_dir("/dev"), LOCAL_DIR, "policy"),
    ("local-dir-host-etc", _local_dir("/etc"), LOCAL_DIR, "policy"),
    ("comma-exports-root-disk", _local_dir("/dev/sda,"), LOCAL_DIR, "crd"),
    ("comma-injects-buffered-io", _source(SHARED_OK + ",fd_buffered_io=1"), SRC, "crd"),
    ("newline-injects-option", _source(SHARED_OK + "\nfd_dev_name=/dev/sda"), SRC, "crd"),
    ("control-character", _node_path("/dev/disk/by-id/\x07x"), NODE_PATH, "crd"),
    ("dot-dot-escape", _source("/dev/disk/by-id/../../sda"), SRC, "crd"),
    ("dot-dot-local-dir", _local_dir("/var/lib/nearpath/volumes/../../../etc"), LOCAL_DIR, "crd"),
    ("dot-segment", _source("/dev/disk/by-id/./x"), SRC, "crd"),
    ("empty-segment", _source("/dev/disk/by-id//x"), SRC, "crd"),
    ("over-long-path", _source("/dev/disk/by-id/" + "x" * 600), SRC, "crd"),
    ("relative-path", _source("dev/disk/by-id/x"), SRC, "crd"),
]


@pytest.fixture(scope="module")
def path_policy(control_plane: ControlPlane, kubectl: Kubectl, installed_crds: dict[str, Any]) -> Iterator[str]:
    """The chart's admission policy (default values), active; removed afterwards (shared API server)."""
    manifest = render("nearpath", "nearpath-system", show_only=[POLICY_TEMPLATE])
    docs = [d for d in yaml.safe_load_all(manifest) if d]
    assert {d["kind"] for d in docs} == {"ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"}
    kubectl("apply", "-f", "-", input=manifest, check=True)
    namespace = "path-attacks"
    control_plane.request("POST", "/api/v1/namespaces", {"metadata": {"name": namespace}})
    probe = _source("/dev/sda")

    def enforced() -> bool:
        status, _ = control_plane.request("POST", vg_path(namespace) + "?dryRun=All", _named(probe, "probe"))
        return status in (403, 422)

    wait_for("the admission policy takes effect", enforced, 60)
    yield namespace
    kubectl("delete", "-f", "-", "--ignore-not-found", input=manifest)
    control_plane.request("DELETE", f"/api/v1/namespaces/{namespace}")


def _named(manifest: dict[str, Any], name: str) -> dict[str, Any]:
    out = copy.deepcopy(manifest)
    out["metadata"]["name"] = name
    return out


def _rejection(status: int, body: Any) -> str:
    assert status in (403, 422), f"accepted: HTTP {status} {json.dumps(body)[:300]}"
    return json.dumps(body)


def test_at_least_fifteen_attacks() -> None:
    assert len(ATTACKS) >= 15
    assert {who for *_rest, who in ATTACKS} == {"crd", "policy"}


@pytest.mark.parametrize(("attack_id", "manifest", "field", "who"), ATTACKS, ids=[a[0] for a in ATTACKS])
def test_create_is_rejected(
    control_plane: ControlPlane, path_policy: str, attack_id: str, manifest: dict[str, Any], field: str, who: str
) -> None:
    status, body = control_plane.request(
        "POST", vg_path(path_policy) + "?fieldValidation=Strict", _named(manifest, attack_id)
    )
    text = _rejection(status, body)
    assert field in text.replace("\\", ""), f"{attack_id}: rejection does not name {field}: {text[:500]}"
    by_policy = "ValidatingAdmissionPolicy" in text
    assert by_policy == (who == "policy"), f"{attack_id}: expected the {who} to reject it: {text[:500]}"


def test_update_to_a_hostile_path_is_rejected(control_plane: ControlPlane, path_policy: str) -> None:
    good = _named(_source(SHARED_OK), "fine")
    status, body = control_plane.request("POST", vg_path(path_policy), good)
    assert status == 201, body
    body["spec"]["disks"][0]["source"]["path"] = "/dev/sda"
    status, rejected = control_plane.request("PUT", vg_path(path_policy, "fine"), body)
    assert SRC in _rejection(status, rejected)


def test_allowed_paths_pass(control_plane: ControlPlane, path_policy: str) -> None:
    """The control: by-id, by-path and the local volume directory are accepted."""
    for name, manifest in (
        ("by-id", _source(SHARED_OK)),
        ("by-path", _node_path("/dev/disk/by-path/pci-0000:00:1f.2-ata-1")),
        ("local", _local_dir("/var/lib/nearpath/volumes")),
    ):
        status, body = control_plane.request("POST", vg_path(path_policy) + "?dryRun=All", _named(manifest, name))
        assert status == 201, (name, body)
