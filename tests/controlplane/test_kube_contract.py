"""ClusterKube on a real kube-apiserver passes the contract FakeKube is held to
(:mod:`tests.support.kube_contract`; the unit tier runs the same cases against FakeKube)."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from nearpath.core.kube import ClusterKube
from tests.controlplane.cluster import ControlPlane
from tests.support.kube_contract import CASES, KubeBed

pytestmark = pytest.mark.controlplane


@pytest.fixture(scope="module")
def cluster_kube(control_plane: ControlPlane, installed_crds: dict[str, Any]) -> ClusterKube:
    return ClusterKube(str(control_plane.kubeconfig))


def _created(control_plane: ControlPlane, path: str, body: dict[str, Any]) -> None:
    status, reply = control_plane.request("POST", path, body)
    assert status == 201, f"POST {path}: HTTP {status} {json.dumps(reply)[:300]}"


@pytest.mark.parametrize("case", sorted(CASES))
def test_cluster_kube_keeps_the_contract(
    case: str, control_plane: ControlPlane, cluster_kube: ClusterKube, namespace: str
) -> None:
    def put_secret(ns: str, name: str, data: dict[str, str]) -> None:
        encoded = {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}
        body = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, "data": encoded}
        _created(control_plane, f"/api/v1/namespaces/{ns}/secrets", body)

    def put_node(name: str, labels: dict[str, str]) -> None:
        body = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": labels}}
        _created(control_plane, "/api/v1/nodes", body)

    CASES[case](KubeBed(cluster_kube, namespace, put_secret, put_node))
