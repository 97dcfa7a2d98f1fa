"""A dead serving node never blocks attach, detach or expand (issue 14, H1), on the real API server.

The CSI controller service (in-process, the real code) talks to the real kube-apiserver; the
operator runs as its own supervised process; two nodes run the real target agent code on the
in-memory LIO. The consumer's node (also the optimized target) dies -- its agent stops renewing and
reporting, like a powered-off node -- and the pod moves: ControllerUnpublish from the dead node,
ControllerPublish to the survivor and ControllerExpand must all succeed while the dead node is
still down.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from nearpath.core.contract import TOPOLOGY_KEY
from nearpath.core.kube import ClusterKube
from nearpath.csi.controller import ControllerService
from nearpath.csi.proto import csi_pb2
from nearpath.csi.settings import CsiSettings
from tests.controlplane.cluster import ControlPlane
from tests.controlplane.nodes import AgentNode, SupervisedOperator
from tests.unit.csi.helpers import FakeContext, mount_cap

pytestmark = pytest.mark.controlplane

GI = 1 << 30
DEVICE = "/dev/disk/by-id/shared-dead"
IQN = {"dead-0": "iqn.1993-08.org.debian:01:dead-0", "dead-1": "iqn.1993-08.org.debian:01:dead-1"}


def publish(controller: ControllerService, vid: str, node: str) -> None:
    req = csi_pb2.ControllerPublishVolumeRequest(
        volume_id=vid, node_id=f"{node}|{IQN[node]}", volume_capability=mount_cap()
    )
    controller.ControllerPublishVolume(req, FakeContext())


def test_consumer_node_dies_and_the_volume_moves(
    control_plane: ControlPlane, namespace: str, operator_kubeconfig: Path, operator_log: Path
) -> None:
    kube = ClusterKube(str(control_plane.kubeconfig))
    for name in IQN:  # the Node objects kubelet would register
        code, body = control_plane.request(
            "POST", "/api/v1/nodes", {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name}}
        )
        assert code in (201, 409), body
    settings = CsiSettings(volume_namespace=namespace, ready_timeout_seconds=60, poll_interval_seconds=0.5)
    controller = ControllerService(kube, settings)
    nodes = {name: AgentNode(name, 20 + i, control_plane.kubeconfig) for i, name in enumerate(IQN)}
    with SupervisedOperator(operator_kubeconfig, operator_log):
        for node in nodes.values():
            node.start()
        try:
            req = csi_pb2.CreateVolumeRequest(name="pvc-dead", volume_capabilities=[mount_cap("ext4")])
            req.parameters.update({"backing": "shared", "devices": DEVICE, "nodes": ",".join(IQN)})
            req.capacity_range.CopyFrom(csi_pb2.CapacityRange(required_bytes=GI))
            req.accessibility_requirements.preferred.add().segments[TOPOLOGY_KEY] = "dead-0"
            vid = controller.CreateVolume(req, FakeContext()).volume.volume_id
            publish(controller, vid, "dead-0")
            obj = kube.get_volume_group(namespace, "pvc-dead")
            assert obj is not None
            assert obj["status"]["optimizedNode"] == "dead-0", obj["status"]

            nodes["dead-0"].kill()  # the consumer's node, optimized target, powers off
            died = time.monotonic()
            unpublish = csi_pb2.ControllerUnpublishVolumeRequest(volume_id=vid, node_id=f"dead-0|{IQN['dead-0']}")
            controller.ControllerUnpublishVolume(unpublish, FakeContext())
            publish(controller, vid, "dead-1")
            expand = csi_pb2.ControllerExpandVolumeRequest(
                volume_id=vid, capacity_range=csi_pb2.CapacityRange(required_bytes=2 * GI)
            )
            assert controller.ControllerExpandVolume(expand, FakeContext()).capacity_bytes == 2 * GI
            took = time.monotonic() - died
            obj = kube.get_volume_group(namespace, "pvc-dead")
            assert obj is not None
            status = obj["status"]
            assert {a["node"]: a["aluaState"] for a in status["assignments"]} == {
                "dead-0": "unavailable",
                "dead-1": "active-optimized",
            }
            assert [a["node"] for a in status["attachments"]] == ["dead-1"]
            print(f"\n[dead node] detach + attach elsewhere + expand done {took:.1f}s after the node died")
        finally:
            for node in nodes.values():
                node.kill()
