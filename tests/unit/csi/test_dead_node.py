"""A dead serving node never blocks attach, detach or expand (issue 14, H1).

The CSI controller runs against the real operator reconciler and the fake agents on one in-memory
API; time is simulated: each poll of the controller advances the clock, the live agents renew their
Leases and report, the operator lists the Leases and reconciles.
"""

from __future__ import annotations

from typing import Any

import grpc
import pytest

from nearpath.core.fake_kube import FakeKube
from nearpath.csi.controller import ControllerService
from nearpath.csi.proto import csi_pb2
from nearpath.csi.settings import CsiSettings
from nearpath.operator.decisions import Policy
from nearpath.operator.health import LeaseTracker
from nearpath.operator.metrics import OperatorMetrics
from nearpath.operator.reconciler import Reconciler
from tests.support.agents import FakeAgents
from tests.unit.csi.helpers import Aborted, FakeContext, mount_cap

pytestmark = pytest.mark.unit

NS = "nearpath-volumes"
GI = 1 << 30
IQN = {"node-a": "iqn.1993-08.org.debian:01:node-a", "node-b": "iqn.1993-08.org.debian:01:node-b"}


class Cluster:
    """Operator + agents on a FakeKube, advanced by the controller's own polling."""

    def __init__(self) -> None:
        self.kube = FakeKube()
        self.now = 0.0
        self.reconciler = Reconciler(self.kube, Policy(), OperatorMetrics(), LeaseTracker(), monotonic=lambda: self.now)
        self.agents = FakeAgents(self.kube, ["node-a", "node-b"])
        for node in ("node-a", "node-b"):
            self.kube.add_node(node)

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds
        self.agents.heartbeat()
        self.reconciler.observe_leases(self.kube.list_leases("nearpath-system"))
        for obj in self.kube.list_volume_groups():
            self.reconciler.observe("MODIFIED", obj)
        for key in self.reconciler.object_keys():
            self.reconciler.reconcile(key)
        self.agents.sync()


@pytest.fixture
def cluster() -> Cluster:
    return Cluster()


@pytest.fixture
def controller(cluster: Cluster) -> ControllerService:
    settings = CsiSettings(ready_timeout_seconds=60, poll_interval_seconds=0.5)
    return ControllerService(cluster.kube, settings, clock=cluster.clock, sleep=cluster.sleep)


def publish(controller: ControllerService, vid: str, node: str, ctx: FakeContext) -> dict[str, str]:
    req = csi_pb2.ControllerPublishVolumeRequest(
        volume_id=vid, node_id=f"{node}|{IQN[node]}", volume_capability=mount_cap()
    )
    return dict(controller.ControllerPublishVolume(req, ctx).publish_context)


def status(cluster: Cluster) -> dict[str, Any]:
    obj = cluster.kube.get_volume_group(NS, "pvc-1")
    assert obj is not None
    return dict(obj["status"])


def test_consumer_node_dies_and_the_pod_moves(cluster: Cluster, controller: ControllerService) -> None:
    ctx = FakeContext()
    req = csi_pb2.CreateVolumeRequest(name="pvc-1", volume_capabilities=[mount_cap("ext4")])
    req.parameters.update({"backing": "shared", "devices": "/dev/disk/by-id/shared-x"})
    req.capacity_range.CopyFrom(csi_pb2.CapacityRange(required_bytes=GI))
    vid = controller.CreateVolume(req, ctx).volume.volume_id
    publish(controller, vid, "node-a", ctx)
    assert status(cluster)["optimizedNode"] == "node-a"

    # node-a (consumer and optimized target) dies; the pod is rescheduled to node-b
    cluster.agents.kill("node-a")
    unpublish = csi_pb2.ControllerUnpublishVolumeRequest(volume_id=vid, node_id=f"node-a|{IQN['node-a']}")
    controller.ControllerUnpublishVolume(unpublish, ctx)
    publish(controller, vid, "node-b", ctx)
    now = status(cluster)
    assert {a["node"]: a["aluaState"] for a in now["assignments"]} == {
        "node-a": "unavailable",
        "node-b": "active-optimized",
    }
    assert now["attachments"] == [{"initiator": IQN["node-b"], "node": "node-b", "readOnly": False}]
    expand = csi_pb2.ControllerExpandVolumeRequest(
        volume_id=vid, capacity_range=csi_pb2.CapacityRange(required_bytes=2 * GI)
    )
    assert controller.ControllerExpandVolume(expand, ctx).capacity_bytes == 2 * GI
    assert cluster.now < 60, "each call must finish once the dead node is fenced, not at the timeout"


def test_every_node_fenced_is_not_ready(cluster: Cluster, controller: ControllerService) -> None:
    ctx = FakeContext()
    req = csi_pb2.CreateVolumeRequest(name="pvc-1", volume_capabilities=[mount_cap("ext4")])
    req.parameters.update({"backing": "shared", "devices": "/dev/disk/by-id/shared-x"})
    vid = controller.CreateVolume(req, ctx).volume.volume_id
    cluster.agents.kill("node-a")
    cluster.agents.kill("node-b")
    with pytest.raises(Aborted) as excinfo:
        publish(controller, vid, "node-b", ctx)
    assert excinfo.value.code is grpc.StatusCode.DEADLINE_EXCEEDED
    assert "fenced" in excinfo.value.message or "not Ready" in excinfo.value.message
