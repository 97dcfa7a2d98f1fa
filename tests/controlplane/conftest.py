"""Fixtures shared by the control-plane tier (the ``control_plane``/``kubectl`` fixtures come
from the ``tests.fixtures.controlplane`` plugin)."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.controlplane.chart import service_account_names, token_kubeconfig
from tests.controlplane.cluster import ControlPlane
from tests.controlplane.helpers import CRD_DIR, CRD_NAME, VG_CRD_FILE, load_crd
from tests.controlplane.nodes import LEASE_NS, RELEASE
from tests.fixtures.controlplane import Kubectl
from tests.support.chart import render

ESTABLISH_TIMEOUT_S = 60


@pytest.fixture(scope="session")
def vg_crd() -> dict[str, Any]:
    """The VolumeGroup CRD as written in the repository."""
    if not VG_CRD_FILE.is_file():
        pytest.fail(f"{VG_CRD_FILE} is missing (the tier tests the repository's CRDs)", pytrace=False)
    return load_crd()


@pytest.fixture(scope="session")
def installed_crds(control_plane: ControlPlane, kubectl: Kubectl, vg_crd: dict[str, Any]) -> dict[str, Any]:
    """``kubectl apply -f crds/`` and wait until the VolumeGroup CRD is Established."""
    applied = kubectl("apply", "-f", str(CRD_DIR))
    assert applied.returncode == 0, f"kubectl apply -f crds/ failed: {applied.stderr}"
    waited = kubectl(
        "wait",
        "--for=condition=Established",
        f"crd/{CRD_NAME}",
        f"--timeout={ESTABLISH_TIMEOUT_S}s",
        timeout=ESTABLISH_TIMEOUT_S + 10,
    )
    assert waited.returncode == 0, f"CRD {CRD_NAME} not Established: {waited.stderr}"
    control_plane.restart_controller_manager()  # the garbage collector must know the new kinds now
    return vg_crd


@pytest.fixture()
def namespace(control_plane: ControlPlane) -> Iterator[str]:
    """A fresh namespace, deleted (asynchronously) afterwards."""
    name = f"t-{secrets.token_hex(4)}"
    status, body = control_plane.request(
        "POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
    )
    assert status == 201, f"creating namespace {name}: HTTP {status} {json.dumps(body)[:500]}"
    yield name
    control_plane.request("DELETE", f"/api/v1/namespaces/{name}")


@pytest.fixture(scope="module")
def operator_kubeconfig(control_plane: ControlPlane, kubectl: Kubectl, installed_crds: dict[str, Any]) -> Path:
    kubectl("create", "namespace", LEASE_NS)  # may exist already
    rbac = render(RELEASE, LEASE_NS, show_only=["templates/operator-rbac.yaml"])
    kubectl("apply", "-f", "-", input=rbac, check=True)
    return token_kubeconfig(
        kubectl,
        control_plane.url,
        control_plane.ca_cert,
        LEASE_NS,
        service_account_names(RELEASE)["operator"],
        control_plane.workdir / "operator-sa-nodes.kubeconfig",
    )


@pytest.fixture()
def operator_log(control_plane: ControlPlane, request: pytest.FixtureRequest) -> Iterator[Path]:
    path = control_plane.workdir / "logs" / f"operator-{request.node.name}.log"
    yield path
    if path.exists():
        print("\n[operator] log tail:\n" + "\n".join(path.read_text().splitlines()[-12:]))
