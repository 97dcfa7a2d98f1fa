"""Controller service against the in-memory KubeApi, with a stand-in operator/agents."""

from __future__ import annotations

import json

import grpc
import pytest

from nearpath.core.contract import CSI_VOLUME_NAME_ANNOTATION, TOPOLOGY_KEY, WIPE_FINALIZER
from nearpath.core.fake_kube import FakeKube
from nearpath.csi.controller import ControllerService
from nearpath.csi.proto import csi_pb2
from nearpath.csi.publish_context import PublishContext
from nearpath.csi.settings import CsiSettings
from tests.support.backend import FakeBackend
from tests.unit.csi.helpers import Aborted, FakeContext, block_cap, mount_cap

pytestmark = pytest.mark.unit

NS = "nearpath-volumes"
GI = 1 << 30
IQN_A = "iqn.1993-08.org.debian:01:node-a"
IQN_B = "iqn.1993-08.org.debian:01:node-b"


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def kube() -> FakeKube:
    k = FakeKube()
    for node in ("node-a", "node-b"):
        k.add_node(node)
    return k


@pytest.fixture
def backend(kube: FakeKube) -> FakeBackend:
    return FakeBackend(kube, {"node-a": "10.0.0.1:3260", "node-b": "10.0.0.2:3260"})


@pytest.fixture
def controller(kube: FakeKube, backend: FakeBackend) -> ControllerService:
    clock = Clock()

    def sleep(seconds: float) -> None:  # each poll: time passes and the backend catches up
        clock.now += seconds
        backend.reconcile()

    settings = CsiSettings(ready_timeout_seconds=5, poll_interval_seconds=0.5)
    return ControllerService(kube, settings, clock=clock, sleep=sleep)


def create_req(name: str = "pvc-1", **kw: object) -> csi_pb2.CreateVolumeRequest:
    req = csi_pb2.CreateVolumeRequest(name=name, volume_capabilities=[mount_cap("ext4")])
    params = kw.pop("parameters", {"backing": "shared", "devices": "/dev/disk/by-id/wwn-x,/dev/disk/by-id/wwn-y"})
    req.parameters.update(params)
    for key, value in kw.items():
        getattr(req, key).CopyFrom(value)
    return req


def call_code(fn: object, *args: object) -> grpc.StatusCode:
    with pytest.raises(Aborted) as excinfo:
        fn(*args)  # type: ignore[operator]
    return excinfo.value.code


def test_create_volume_makes_one_volumegroup_and_waits_for_targets(
    controller: ControllerService, kube: FakeKube, ctx: FakeContext
) -> None:
    req = create_req(capacity_range=csi_pb2.CapacityRange(required_bytes=GI + 1))
    vol = controller.CreateVolume(req, ctx).volume
    assert vol.volume_id == f"{NS}/pvc-1"
    assert vol.capacity_bytes == GI + (1 << 20)  # whole MiB
    obj = kube.get_volume_group(NS, "pvc-1")
    assert obj is not None
    assert obj["spec"]["disks"] == [{"name": "data", "size": "1025Mi", "source": {"path": "/dev/disk/by-id/wwn-x"}}]
    assert obj["spec"]["backing"] == {"type": "shared"}
    assert obj["metadata"]["annotations"][CSI_VOLUME_NAME_ANNOTATION] == "pvc-1"
    assert {t.segments[TOPOLOGY_KEY] for t in vol.accessible_topology} == {"node-a", "node-b"}
    assert vol.volume_context["fsType"] == "ext4"


def test_create_volume_is_idempotent_by_name(controller: ControllerService, kube: FakeKube, ctx: FakeContext) -> None:
    first = controller.CreateVolume(create_req(), ctx).volume
    second = controller.CreateVolume(create_req(), ctx).volume
    assert first.volume_id == second.volume_id
    assert len(kube.list_volume_groups(NS)) == 1


def test_create_volume_incompatible_existing_is_already_exists(controller: ControllerService, ctx: FakeContext) -> None:
    controller.CreateVolume(create_req(capacity_range=csi_pb2.CapacityRange(required_bytes=GI)), ctx)
    bigger = create_req(capacity_range=csi_pb2.CapacityRange(required_bytes=2 * GI))
    assert call_code(controller.CreateVolume, bigger, ctx) is grpc.StatusCode.ALREADY_EXISTS
    other_params = create_req(parameters={"backing": "shared", "devices": "/dev/disk/by-id/wwn-x", "fsType": "xfs"})
    assert call_code(controller.CreateVolume, other_params, ctx) is grpc.StatusCode.ALREADY_EXISTS


def test_capacity_range_out_of_range(controller: ControllerService, ctx: FakeContext) -> None:
    bad = create_req(capacity_range=csi_pb2.CapacityRange(required_bytes=2 * GI, limit_bytes=GI))
    assert call_code(controller.CreateVolume, bad, ctx) is grpc.StatusCode.OUT_OF_RANGE
    unaligned = create_req(capacity_range=csi_pb2.CapacityRange(required_bytes=1000, limit_bytes=1000))
    assert call_code(controller.CreateVolume, unaligned, ctx) is grpc.StatusCode.OUT_OF_RANGE


def test_unknown_parameter_is_named(controller: ControllerService, ctx: FakeContext) -> None:
    with pytest.raises(Aborted) as excinfo:
        controller.CreateVolume(create_req(parameters={"backing": "local", "replicas": "3"}), ctx)
    assert excinfo.value.code is grpc.StatusCode.INVALID_ARGUMENT
    assert "'replicas'" in excinfo.value.message


def test_wait_for_first_consumer_node_becomes_preferred_and_local_placement(
    controller: ControllerService, kube: FakeKube, ctx: FakeContext
) -> None:
    topo = csi_pb2.TopologyRequirement(
        requisite=[
            csi_pb2.Topology(segments={TOPOLOGY_KEY: "node-a"}),
            csi_pb2.Topology(segments={TOPOLOGY_KEY: "node-b"}),
        ],
        preferred=[csi_pb2.Topology(segments={TOPOLOGY_KEY: "node-b"})],
    )
    vol = controller.CreateVolume(
        create_req("pvc-local", parameters={"backing": "local"}, accessibility_requirements=topo), ctx
    ).volume
    spec = kube.get_volume_group(NS, "pvc-local")["spec"]  # type: ignore[index]
    assert spec["placement"] == {"nodes": ["node-b"], "preferredNode": "node-b"}
    assert [t.segments[TOPOLOGY_KEY] for t in vol.accessible_topology] == ["node-b"]


def test_shared_volumes_claim_distinct_devices(controller: ControllerService, kube: FakeKube, ctx: FakeContext) -> None:
    controller.CreateVolume(create_req("pvc-1"), ctx)
    controller.CreateVolume(create_req("pvc-2"), ctx)
    paths = {o["spec"]["disks"][0]["source"]["path"] for o in kube.list_volume_groups(NS)}
    assert paths == {"/dev/disk/by-id/wwn-x", "/dev/disk/by-id/wwn-y"}
    assert call_code(controller.CreateVolume, create_req("pvc-3"), ctx) is grpc.StatusCode.RESOURCE_EXHAUSTED


def test_create_times_out_with_deadline_exceeded_when_targets_never_ready(
    controller: ControllerService, backend: FakeBackend, ctx: FakeContext
) -> None:
    backend.frozen.add("pvc-slow")
    assert call_code(controller.CreateVolume, create_req("pvc-slow"), ctx) is grpc.StatusCode.DEADLINE_EXCEEDED


def test_non_dns_names_are_hashed(controller: ControllerService, ctx: FakeContext) -> None:
    vol = controller.CreateVolume(create_req("Sanity Volume 1"), ctx).volume
    assert vol.volume_id.startswith(f"{NS}/vol-")


def test_publish_adds_initiator_attachment_and_context(
    controller: ControllerService, kube: FakeKube, ctx: FakeContext
) -> None:
    vid = controller.CreateVolume(create_req(), ctx).volume.volume_id
    pub = csi_pb2.ControllerPublishVolumeRequest(
        volume_id=vid, node_id=f"node-a|{IQN_A}", volume_capability=mount_cap()
    )
    resp = controller.ControllerPublishVolume(pub, ctx)
    obj = kube.get_volume_group(NS, "pvc-1")
    assert obj is not None
    assert obj["spec"]["access"]["initiators"] == [IQN_A]
    assert obj["status"]["attachments"] == [{"initiator": IQN_A, "node": "node-a", "readOnly": False}]
    context = PublishContext.from_map(dict(resp.publish_context))
    assert [(t.node, t.portals) for t in context.targets] == [
        ("node-a", ("10.0.0.1:3260",)),
        ("node-b", ("10.0.0.2:3260",)),
    ]
    assert context.wwid.startswith("36001405") and context.lun == 0
    # idempotent; incompatible (read-only) -> ALREADY_EXISTS; another node -> FAILED_PRECONDITION
    controller.ControllerPublishVolume(pub, ctx)
    ro = csi_pb2.ControllerPublishVolumeRequest()
    ro.CopyFrom(pub)
    ro.readonly = True
    assert call_code(controller.ControllerPublishVolume, ro, ctx) is grpc.StatusCode.ALREADY_EXISTS
    other = csi_pb2.ControllerPublishVolumeRequest(
        volume_id=vid, node_id=f"node-b|{IQN_B}", volume_capability=mount_cap()
    )
    assert call_code(controller.ControllerPublishVolume, other, ctx) is grpc.StatusCode.FAILED_PRECONDITION
    # delete refuses while published
    assert (
        call_code(controller.DeleteVolume, csi_pb2.DeleteVolumeRequest(volume_id=vid), ctx)
        is grpc.StatusCode.FAILED_PRECONDITION
    )
    controller.ControllerUnpublishVolume(
        csi_pb2.ControllerUnpublishVolumeRequest(volume_id=vid, node_id=f"node-a|{IQN_A}"), ctx
    )
    obj = kube.get_volume_group(NS, "pvc-1")
    assert obj is not None
    assert obj["spec"]["access"]["initiators"] == []
    assert obj["status"].get("attachments", []) == []
    controller.ControllerUnpublishVolume(
        csi_pb2.ControllerUnpublishVolumeRequest(volume_id=vid, node_id=f"node-a|{IQN_A}"), ctx
    )
    controller.DeleteVolume(csi_pb2.DeleteVolumeRequest(volume_id=vid), ctx)
    held = kube.get_volume_group(NS, "pvc-1")  # until an agent erased the device (target/release.py)
    assert held is not None and held["metadata"]["deletionTimestamp"], held
    assert held["metadata"]["finalizers"] == [WIPE_FINALIZER]
    controller.DeleteVolume(csi_pb2.DeleteVolumeRequest(volume_id=vid), ctx)  # deletion pending: OK


def test_publish_not_found_cases(controller: ControllerService, ctx: FakeContext) -> None:
    vid = controller.CreateVolume(create_req(), ctx).volume.volume_id
    cap = mount_cap()
    missing_node = csi_pb2.ControllerPublishVolumeRequest(
        volume_id=vid, node_id="fake-node-id-1", volume_capability=cap
    )
    assert call_code(controller.ControllerPublishVolume, missing_node, ctx) is grpc.StatusCode.NOT_FOUND
    unknown_node = csi_pb2.ControllerPublishVolumeRequest(
        volume_id=vid, node_id=f"node-z|{IQN_A}", volume_capability=cap
    )
    assert call_code(controller.ControllerPublishVolume, unknown_node, ctx) is grpc.StatusCode.NOT_FOUND
    missing_vol = csi_pb2.ControllerPublishVolumeRequest(
        volume_id="fake-vol-id", node_id=f"node-a|{IQN_A}", volume_capability=cap
    )
    assert call_code(controller.ControllerPublishVolume, missing_vol, ctx) is grpc.StatusCode.NOT_FOUND
    no_cap = csi_pb2.ControllerPublishVolumeRequest(volume_id=vid, node_id=f"node-a|{IQN_A}")
    assert call_code(controller.ControllerPublishVolume, no_cap, ctx) is grpc.StatusCode.INVALID_ARGUMENT


def test_in_flight_guard_answers_aborted(controller: ControllerService, ctx: FakeContext) -> None:
    vid = controller.CreateVolume(create_req(), ctx).volume.volume_id
    with controller.inflight.guard(vid):
        assert (
            call_code(controller.DeleteVolume, csi_pb2.DeleteVolumeRequest(volume_id=vid), ctx)
            is grpc.StatusCode.ABORTED
        )
    with controller.inflight.guard("pvc-1"):
        assert call_code(controller.CreateVolume, create_req(), ctx) is grpc.StatusCode.ABORTED


def test_expand_patches_size_and_requires_node_expansion(
    controller: ControllerService, kube: FakeKube, ctx: FakeContext
) -> None:
    vid = controller.CreateVolume(
        create_req(capacity_range=csi_pb2.CapacityRange(required_bytes=GI)), ctx
    ).volume.volume_id
    resp = controller.ControllerExpandVolume(
        csi_pb2.ControllerExpandVolumeRequest(
            volume_id=vid, capacity_range=csi_pb2.CapacityRange(required_bytes=2 * GI)
        ),
        ctx,
    )
    assert resp.capacity_bytes == 2 * GI and resp.node_expansion_required
    assert kube.get_volume_group(NS, "pvc-1")["spec"]["disks"][0]["size"] == "2Gi"  # type: ignore[index]
    no_range = csi_pb2.ControllerExpandVolumeRequest(volume_id=vid)
    assert call_code(controller.ControllerExpandVolume, no_range, ctx) is grpc.StatusCode.INVALID_ARGUMENT


def test_list_volumes_pages_and_rejects_bad_tokens(controller: ControllerService, ctx: FakeContext) -> None:
    for i in range(3):
        controller.CreateVolume(create_req(f"pvc-{i}", parameters={"backing": "local", "nodes": "node-a"}), ctx)
    page = controller.ListVolumes(csi_pb2.ListVolumesRequest(max_entries=2), ctx)
    assert len(page.entries) == 2 and page.next_token == "2"
    rest = controller.ListVolumes(csi_pb2.ListVolumesRequest(starting_token=page.next_token), ctx)
    assert len(rest.entries) == 1 and rest.next_token == ""
    assert (
        call_code(controller.ListVolumes, csi_pb2.ListVolumesRequest(starting_token="zzz"), ctx)
        is grpc.StatusCode.ABORTED
    )


def test_validate_capabilities(controller: ControllerService, ctx: FakeContext) -> None:
    vid = controller.CreateVolume(create_req(), ctx).volume.volume_id
    ok = controller.ValidateVolumeCapabilities(
        csi_pb2.ValidateVolumeCapabilitiesRequest(volume_id=vid, volume_capabilities=[block_cap()]), ctx
    )
    assert ok.HasField("confirmed")
    multi = mount_cap(mode=csi_pb2.VolumeCapability.AccessMode.MULTI_NODE_MULTI_WRITER)
    no = controller.ValidateVolumeCapabilities(
        csi_pb2.ValidateVolumeCapabilitiesRequest(volume_id=vid, volume_capabilities=[multi]), ctx
    )
    assert not no.HasField("confirmed") and "MULTI_NODE_MULTI_WRITER" in no.message
    missing = csi_pb2.ValidateVolumeCapabilitiesRequest(volume_id="ns/nope", volume_capabilities=[block_cap()])
    assert call_code(controller.ValidateVolumeCapabilities, missing, ctx) is grpc.StatusCode.NOT_FOUND


def test_parameters_fingerprint_is_stored(controller: ControllerService, kube: FakeKube, ctx: FakeContext) -> None:
    controller.CreateVolume(create_req(), ctx)
    stored = kube.get_volume_group(NS, "pvc-1")["metadata"]["annotations"]["nearpath.io/csi-parameters"]  # type: ignore[index]
    assert json.loads(stored)["devices"] == ["/dev/disk/by-id/wwn-x", "/dev/disk/by-id/wwn-y"]
