# ruff: noqa: N802  (gRPC method names are fixed by the CSI specification)
"""CSI Controller service: one VolumeGroup per volume, through the Kubernetes API only.

The controller never touches a node. It writes the VolumeGroup spec (create, size, access
list), its own ``attachments`` in the status (field manager ``nearpath-csi``), and waits,
bounded, until the operator and the target agents report the change applied; past the
bound it answers DEADLINE_EXCEEDED so the sidecar retries the (idempotent) call.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import grpc

from nearpath.core.api import ConditionStatus, ConditionType, VolumeGroup, parse_volume_group
from nearpath.core.contract import (
    CSI_DRIVER_LABEL,
    CSI_FIELD_MANAGER,
    CSI_FS_TYPE_ANNOTATION,
    DRIVER_NAME,
    TOPOLOGY_KEY,
)
from nearpath.core.errors import (
    Aborted,
    AlreadyExists,
    Conflict,
    DeadlineExceeded,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
)
from nearpath.core.kube import KubeApi
from nearpath.csi import capabilities
from nearpath.csi.grpc_errors import grpc_errors
from nearpath.csi.inflight import InFlight
from nearpath.csi.params import VolumeParams, parse
from nearpath.csi.proto import csi_pb2, csi_pb2_grpc
from nearpath.csi.settings import CsiSettings
from nearpath.csi.volume_ids import (
    DISK_NAME,
    NodeRef,
    VolumeRef,
    parse_node_id,
    parse_volume_id,
    volume_group_name,
    volume_id,
)
from nearpath.csi.volumes import (
    check_existing,
    claim_device,
    manifest,
    publish_context,
    readiness,
    requested_size,
    serving_nodes,
    with_initiator,
    with_size,
    without_initiators,
)

log = logging.getLogger("nearpath.csi.controller")

CONFLICT_RETRIES = 5
RPC = csi_pb2.ControllerServiceCapability.RPC
CAPABILITIES = (
    RPC.CREATE_DELETE_VOLUME,
    RPC.PUBLISH_UNPUBLISH_VOLUME,
    RPC.LIST_VOLUMES,
    RPC.LIST_VOLUMES_PUBLISHED_NODES,
    RPC.EXPAND_VOLUME,
    RPC.PUBLISH_READONLY,
    RPC.GET_VOLUME,
    RPC.VOLUME_CONDITION,
)


def _size(capacity: csi_pb2.CapacityRange | None, default: int) -> int:
    return requested_size(capacity.required_bytes if capacity else 0, capacity.limit_bytes if capacity else 0, default)


class ControllerService(csi_pb2_grpc.ControllerServicer):  # type: ignore[misc]
    def __init__(
        self,
        kube: KubeApi,
        settings: CsiSettings,
        *,
        inflight: InFlight | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.kube = kube
        self.settings = settings
        self.namespace = settings.volume_namespace
        self.inflight = inflight or InFlight()
        self.clock = clock
        self.sleep = sleep
        self._claim_lock = threading.Lock()

    # -- helpers -------------------------------------------------------------------------------
    def _get(self, ref: VolumeRef) -> VolumeGroup:
        obj = self.kube.get_volume_group(ref.namespace, ref.name)
        if obj is None or (obj.get("metadata", {}).get("labels") or {}).get(CSI_DRIVER_LABEL) != DRIVER_NAME:
            raise NotFound(f"volume {ref.id} does not exist")
        return parse_volume_group(obj)

    def _deadline(self, context: grpc.ServicerContext | None) -> float:
        wait = self.settings.ready_timeout_seconds
        remaining = context.time_remaining() if context is not None else None
        if remaining is not None:
            wait = min(wait, max(0.0, remaining - 0.5))
        return self.clock() + wait

    def _wait_ready(
        self, ref: VolumeRef, context: grpc.ServicerContext | None, generation: int | None = None
    ) -> VolumeGroup:
        deadline = self._deadline(context)
        while True:
            obj = self.kube.get_volume_group(ref.namespace, ref.name)
            if obj is None:
                raise Aborted(f"volume group {ref.id} disappeared while waiting for it")
            if obj["metadata"].get("deletionTimestamp"):
                raise Aborted(f"volume group {ref.id} is being deleted")
            vg = parse_volume_group(obj)
            ok, why = readiness(vg, generation if generation is not None else vg.metadata.generation)
            if ok:
                return vg
            if self.clock() >= deadline:
                raise DeadlineExceeded(f"volume {ref.id} is not ready yet: {why}")
            self.sleep(self.settings.poll_interval_seconds)

    def _patch_spec(self, ref: VolumeRef, change: Callable[[VolumeGroup], dict[str, Any] | None]) -> int:
        """Merge-patch the spec with ``change(vg)`` guarded by resourceVersion; the new generation."""
        for _attempt in range(CONFLICT_RETRIES):
            vg = self._get(ref)
            patch = change(vg)
            if patch is None:
                return vg.metadata.generation
            try:
                obj = self.kube.patch_volume_group(
                    ref.namespace, ref.name, {"spec": patch}, resource_version=vg.metadata.resource_version
                )
            except Conflict:
                continue
            return int(obj["metadata"]["generation"])
        raise Aborted(f"volume group {ref.id} keeps changing; retry")

    def _apply_attachments(self, ref: VolumeRef, attachments: list[dict[str, Any]]) -> None:
        self.kube.apply_volume_group_status(ref.namespace, ref.name, {"attachments": attachments}, CSI_FIELD_MANAGER)

    def _volume(self, vg: VolumeGroup) -> csi_pb2.Volume:
        disk = vg.spec.disk(DISK_NAME)
        context = {"backing": vg.spec.backing.type.value}
        fs_type = vg.metadata.annotations.get(CSI_FS_TYPE_ANNOTATION, "")
        if fs_type:
            context["fsType"] = fs_type
        return csi_pb2.Volume(
            volume_id=volume_id(vg.metadata.namespace, vg.metadata.name),
            capacity_bytes=disk.size_bytes,
            volume_context=context,
            accessible_topology=[csi_pb2.Topology(segments={TOPOLOGY_KEY: n}) for n in serving_nodes(vg)],
        )

    # -- capabilities ----------------------------------------------------------------------------
    @grpc_errors
    def ControllerGetCapabilities(
        self, request: csi_pb2.ControllerGetCapabilitiesRequest, context: grpc.ServicerContext
    ) -> csi_pb2.ControllerGetCapabilitiesResponse:
        return csi_pb2.ControllerGetCapabilitiesResponse(
            capabilities=[csi_pb2.ControllerServiceCapability(rpc=RPC(type=k)) for k in CAPABILITIES]
        )

    # -- create / delete -----------------------------------------------------------------------
    @grpc_errors
    def CreateVolume(
        self, request: csi_pb2.CreateVolumeRequest, context: grpc.ServicerContext
    ) -> csi_pb2.CreateVolumeResponse:
        if not request.name:
            raise InvalidArgument("volume name is required")
        capabilities.check_all(request.volume_capabilities)
        if request.HasField("volume_content_source"):
            raise InvalidArgument("volume content sources (snapshots, clones) are not supported by nearpath")
        params = parse(dict(request.parameters), self.settings.default_backing, self.settings.allowed_path_prefixes)
        fs_type = params.fs_type or next(
            (c.mount.fs_type for c in request.volume_capabilities if c.WhichOneof("access_type") == "mount"), ""
        )
        size = _size(
            request.capacity_range if request.HasField("capacity_range") else None, self.settings.default_size_bytes
        )
        ref = VolumeRef(self.namespace, volume_group_name(request.name))
        with self.inflight.guard(request.name, ref.id):
            obj = self.kube.get_volume_group(ref.namespace, ref.name)
            if obj is not None:
                self._check_existing(obj, request, params)
            else:
                preferred = self._preferred_node(request)
                with self._claim_lock:
                    body = manifest(ref, request.name, params, size, preferred, fs_type, self._claim_device)
                    try:
                        self.kube.create_volume_group(body)
                    except AlreadyExists as exc:
                        obj = self.kube.get_volume_group(ref.namespace, ref.name)
                        if obj is None:
                            raise Aborted(f"volume group {ref.id} appeared and vanished; retry") from exc
                        self._check_existing(obj, request, params)
                log.info("volume group created", extra={"volume": ref.id, "csi_name": request.name})
            vg = self._wait_ready(ref, context)
        return csi_pb2.CreateVolumeResponse(volume=self._volume(vg))

    def _check_existing(self, obj: dict[str, Any], request: csi_pb2.CreateVolumeRequest, params: VolumeParams) -> None:
        cap = request.capacity_range
        check_existing(obj, request.name, cap.required_bytes, cap.limit_bytes, params)

    def _preferred_node(self, request: csi_pb2.CreateVolumeRequest) -> str:
        reqs = request.accessibility_requirements
        for topo in list(reqs.preferred) + list(reqs.requisite):
            node = topo.segments.get(TOPOLOGY_KEY)
            if node:
                return str(node)
        return ""

    def _claim_device(self, candidates: tuple[str, ...]) -> str:
        return claim_device(self.kube, candidates)

    @grpc_errors
    def DeleteVolume(
        self, request: csi_pb2.DeleteVolumeRequest, context: grpc.ServicerContext
    ) -> csi_pb2.DeleteVolumeResponse:
        if not request.volume_id:
            raise InvalidArgument("volume id is required")
        try:
            ref = parse_volume_id(request.volume_id)
        except NotFound:
            return csi_pb2.DeleteVolumeResponse()
        with self.inflight.guard(ref.id):
            try:
                vg = self._get(ref)
            except NotFound:
                return csi_pb2.DeleteVolumeResponse()
            if vg.status.attachments:
                nodes = ", ".join(sorted({a.node for a in vg.status.attachments}))
                raise FailedPrecondition(f"volume {ref.id} is still published to {nodes}")
            self.kube.delete_volume_group(ref.namespace, ref.name)
            log.info("volume group deletion requested", extra={"volume": ref.id})
        return csi_pb2.DeleteVolumeResponse()

    # -- publish / unpublish ---------------------------------------------------------------------
    @grpc_errors
    def ControllerPublishVolume(
        self, request: csi_pb2.ControllerPublishVolumeRequest, context: grpc.ServicerContext
    ) -> csi_pb2.ControllerPublishVolumeResponse:
        if not request.volume_id:
            raise InvalidArgument("volume id is required")
        if not request.node_id:
            raise InvalidArgument("node id is required")
        cap = capabilities.check_one(request.volume_capability, present=request.HasField("volume_capability"))
        ref = parse_volume_id(request.volume_id)
        node = parse_node_id(request.node_id)
        self._get(ref)
        if node.name not in {n["metadata"]["name"] for n in self.kube.list_nodes()}:
            raise NotFound(f"node {node.name} does not exist")
        with self.inflight.guard(ref.id):
            vg = self._get(ref)
            attachments = [a.to_wire() for a in vg.status.attachments]
            mine = next((a for a in vg.status.attachments if a.initiator == node.initiator), None)
            if mine is not None and (mine.read_only != request.readonly or mine.node != node.name):
                raise AlreadyExists(
                    f"volume {ref.id} is already published to {mine.node} "
                    f"{'read-only' if mine.read_only else 'read-write'}"
                )
            others = sorted({a.node for a in vg.status.attachments if a.node != node.name})
            if others and cap.access_mode.mode in capabilities.SINGLE_NODE_MODES:
                raise FailedPrecondition(f"volume {ref.id} is published to {', '.join(others)} (single-node access)")
            generation = self._patch_spec(ref, lambda g: with_initiator(g, node.initiator))
            if mine is None:
                attachments.append({"initiator": node.initiator, "node": node.name, "readOnly": request.readonly})
                self._apply_attachments(ref, attachments)
            vg = self._wait_ready(ref, context, generation)
        return csi_pb2.ControllerPublishVolumeResponse(publish_context=publish_context(vg).to_map())

    @grpc_errors
    def ControllerUnpublishVolume(
        self, request: csi_pb2.ControllerUnpublishVolumeRequest, context: grpc.ServicerContext
    ) -> csi_pb2.ControllerUnpublishVolumeResponse:
        if not request.volume_id:
            raise InvalidArgument("volume id is required")
        try:
            ref = parse_volume_id(request.volume_id)
        except NotFound:
            return csi_pb2.ControllerUnpublishVolumeResponse()
        with self.inflight.guard(ref.id):
            try:
                vg = self._get(ref)
            except NotFound:
                return csi_pb2.ControllerUnpublishVolumeResponse()
            if request.node_id:
                try:
                    initiators = {parse_node_id(request.node_id).initiator}
                except NotFound:
                    return csi_pb2.ControllerUnpublishVolumeResponse()
            else:  # CSI: no node id means every node
                initiators = {a.initiator for a in vg.status.attachments}
            kept = [a.to_wire() for a in vg.status.attachments if a.initiator not in initiators]
            if len(kept) != len(vg.status.attachments):
                self._apply_attachments(ref, kept)
            generation = self._patch_spec(ref, lambda g: without_initiators(g, initiators))
            if generation != vg.metadata.generation:
                self._wait_ready(ref, context, generation)
        return csi_pb2.ControllerUnpublishVolumeResponse()

    # -- inspection --------------------------------------------------------------------------------
    @grpc_errors
    def ValidateVolumeCapabilities(
        self, request: csi_pb2.ValidateVolumeCapabilitiesRequest, context: grpc.ServicerContext
    ) -> csi_pb2.ValidateVolumeCapabilitiesResponse:
        if not request.volume_id:
            raise InvalidArgument("volume id is required")
        if not request.volume_capabilities:
            raise InvalidArgument("volume capabilities are required")
        self._get(parse_volume_id(request.volume_id))
        problems = [p for c in request.volume_capabilities if (p := capabilities.problem(c))]
        if problems:
            return csi_pb2.ValidateVolumeCapabilitiesResponse(message="; ".join(problems))
        return csi_pb2.ValidateVolumeCapabilitiesResponse(
            confirmed=csi_pb2.ValidateVolumeCapabilitiesResponse.Confirmed(
                volume_context=request.volume_context,
                volume_capabilities=request.volume_capabilities,
                parameters=request.parameters,
            )
        )

    def _volume_status(self, vg: VolumeGroup) -> csi_pb2.ListVolumesResponse.VolumeStatus:
        ready, why = readiness(vg, vg.metadata.generation)
        degraded = vg.status.condition(ConditionType.DEGRADED.value)
        abnormal = not ready or (degraded is not None and degraded.status is ConditionStatus.TRUE)
        message = why if not ready else (degraded.message if abnormal and degraded else "ready")
        return csi_pb2.ListVolumesResponse.VolumeStatus(
            published_node_ids=[NodeRef(a.node, a.initiator).id for a in vg.status.attachments],
            volume_condition=csi_pb2.VolumeCondition(abnormal=abnormal, message=message),
        )

    @grpc_errors
    def ListVolumes(
        self, request: csi_pb2.ListVolumesRequest, context: grpc.ServicerContext
    ) -> csi_pb2.ListVolumesResponse:
        if request.max_entries < 0:
            raise InvalidArgument("max_entries must not be negative")
        objs = [
            o
            for o in self.kube.list_volume_groups(self.namespace)
            if (o.get("metadata", {}).get("labels") or {}).get(CSI_DRIVER_LABEL) == DRIVER_NAME
            and not o["metadata"].get("deletionTimestamp")  # deleted; held only until its device is erased
        ]
        objs.sort(key=lambda o: str(o["metadata"]["name"]))
        start = 0
        if request.starting_token:
            if not request.starting_token.isdigit() or int(request.starting_token) > len(objs):
                raise Aborted(f"starting_token {request.starting_token!r} is not valid (the list changed?)")
            start = int(request.starting_token)
        end = len(objs) if request.max_entries == 0 else min(len(objs), start + request.max_entries)
        entries = []
        for obj in objs[start:end]:
            vg = parse_volume_group(obj)
            entries.append(csi_pb2.ListVolumesResponse.Entry(volume=self._volume(vg), status=self._volume_status(vg)))
        return csi_pb2.ListVolumesResponse(entries=entries, next_token=str(end) if end < len(objs) else "")

    @grpc_errors
    def ControllerGetVolume(
        self, request: csi_pb2.ControllerGetVolumeRequest, context: grpc.ServicerContext
    ) -> csi_pb2.ControllerGetVolumeResponse:
        if not request.volume_id:
            raise InvalidArgument("volume id is required")
        vg = self._get(parse_volume_id(request.volume_id))
        status = self._volume_status(vg)
        return csi_pb2.ControllerGetVolumeResponse(
            volume=self._volume(vg),
            status=csi_pb2.ControllerGetVolumeResponse.VolumeStatus(
                published_node_ids=status.published_node_ids, volume_condition=status.volume_condition
            ),
        )

    # -- expand ------------------------------------------------------------------------------------
    @grpc_errors
    def ControllerExpandVolume(
        self, request: csi_pb2.ControllerExpandVolumeRequest, context: grpc.ServicerContext
    ) -> csi_pb2.ControllerExpandVolumeResponse:
        if not request.volume_id:
            raise InvalidArgument("volume id is required")
        if not request.HasField("capacity_range"):
            raise InvalidArgument("capacity range is required")
        ref = parse_volume_id(request.volume_id)
        size = _size(request.capacity_range, self.settings.default_size_bytes)
        with self.inflight.guard(ref.id):
            vg = self._get(ref)
            if vg.spec.disk(DISK_NAME).size_bytes >= size:
                return csi_pb2.ControllerExpandVolumeResponse(
                    capacity_bytes=vg.spec.disk(DISK_NAME).size_bytes, node_expansion_required=True
                )
            generation = self._patch_spec(ref, lambda g: with_size(g, size))
            vg = self._wait_ready(ref, context, generation)
        return csi_pb2.ControllerExpandVolumeResponse(
            capacity_bytes=vg.spec.disk(DISK_NAME).size_bytes, node_expansion_required=True
        )
