"""Every metrics endpoint the chart declares serves its families on real parts: the operator
and the CSI controller run as processes against the real API server and are scraped over HTTP
(the node plugin and the target agent: tests/vm/test_metrics_endpoints.py)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from nearpath.csi.proto import csi_pb2, csi_pb2_grpc
from tests.controlplane.cluster import ControlPlane
from tests.controlplane.helpers import REPO_ROOT
from tests.fixtures.controlplane import Kubectl
from tests.metrics_contract import FAMILIES, declared_metrics_ports, families, free_port, scrape
from tests.support.processes import start_nearpath

pytestmark = pytest.mark.controlplane


def test_chart_declares_a_metrics_endpoint_per_component() -> None:
    assert set(declared_metrics_ports()) == set(FAMILIES)


@pytest.fixture()
def crds(kubectl: Kubectl) -> None:
    kubectl("apply", "-f", str(REPO_ROOT / "crds"), check=True)
    kubectl("wait", "--for=condition=Established", "crd/volumegroups.nearpath.io", "--timeout=60s", check=True)


@pytest.fixture()
def controller(control_plane: ControlPlane, crds: None, tmp_path: Path) -> Iterator[tuple[str, int, Path]]:
    port = free_port()
    sock = tmp_path / "csi.sock"
    log = tmp_path / "csi-controller.log"
    env = {
        "NEARPATH_METRICS_PORT": str(port),
        "NEARPATH_VOLUME_NAMESPACE": "metrics-vgs",
        "NEARPATH_LOG_FORMAT": "text",
    }
    args = ["csi", "--mode", "controller", f"--endpoint=unix://{sock}", f"--kubeconfig={control_plane.kubeconfig}"]
    proc = start_nearpath("csi-controller", args, log, env)
    try:
        deadline = time.monotonic() + 60
        while not sock.exists():
            assert proc.running(), log.read_text()
            assert time.monotonic() < deadline, "the CSI controller did not open its socket"
            time.sleep(0.2)
        yield f"unix://{sock}", port, log
    finally:
        assert proc.terminate(grace_s=30) == 0, log.read_text()[-2000:]


def test_csi_controller_serves_rpc_metrics(controller: tuple[str, int, Path]) -> None:
    endpoint, port, _log = controller
    with grpc.insecure_channel(endpoint) as channel:
        identity = csi_pb2_grpc.IdentityStub(channel)
        ctrl = csi_pb2_grpc.ControllerStub(channel)
        identity.Probe(csi_pb2.ProbeRequest())
        ctrl.ControllerGetCapabilities(csi_pb2.ControllerGetCapabilitiesRequest())
        with pytest.raises(grpc.RpcError) as err:
            ctrl.CreateVolume(csi_pb2.CreateVolumeRequest(name=""))
        assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT
        with pytest.raises(grpc.RpcError) as err:
            ctrl.DeleteVolume(csi_pb2.DeleteVolumeRequest(volume_id=""))
    text = scrape(port)
    assert set(FAMILIES["csi-controller"]) <= families(text)
    assert 'nearpath_csi_rpc_duration_seconds_count{code="OK",method="Probe"} 1.0' in text
    assert 'nearpath_csi_rpc_duration_seconds_count{code="OK",method="ControllerGetCapabilities"} 1.0' in text
    assert 'nearpath_csi_rpc_duration_seconds_count{code="INVALID_ARGUMENT",method="CreateVolume"} 1.0' in text


def test_operator_serves_its_families(
    control_plane: ControlPlane, kubectl: Kubectl, crds: None, tmp_path: Path
) -> None:
    port = free_port()
    log = tmp_path / "operator.log"
    kubectl("create", "namespace", "metrics-leases")
    args = [
        "operator",
        f"--kubeconfig={control_plane.kubeconfig}",
        f"--metrics-port={port}",
        "--namespace=metrics-vgs-none",
        "--lease-namespace=metrics-leases",
    ]
    proc = start_nearpath("operator", args, log, {"NEARPATH_LOG_FORMAT": "text"})
    try:
        text = scrape(port)
    finally:
        assert proc.terminate(grace_s=30) == 0, log.read_text()[-2000:]
    assert set(FAMILIES["operator"]) <= families(text)
    assert 'nearpath_operator_volumegroups{condition="Ready",status="True"} 0.0' in text
