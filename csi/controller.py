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

from nearpath.core.api import (
    API_VERSION,
    KIND,
    BackingType,
    ConditionStatus,
    ConditionType,
    VolumeGroup,
    parse_volume_group,
)
from nearpath.core.contract import (
    CSI_DRIVER_LABEL,
    CSI_FIELD_MANAGER,
    CSI_FS_TYPE_ANNOTATION,
    CSI_PARAMETERS_ANNOTATION,
    CSI_VOLUME_NAME_ANNOTATION,
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
    OutOfRange,
    ResourceExhausted,
)
from nearpath.core.kube import KubeApi
from nearpath.core.quantity import MI, format_bytes
from nearpath.csi import capabilities
from nearpath.csi.grpc_errors import grpc_errors
from nearpath.csi.inflight import InFlight
from nearpath.csi.params import VolumeParams, parse
from nearpath.csi.proto import csi_pb2, csi_pb2_grpc
from nearpath.csi.publish_context import PublishContext, TargetPortal
from nearpath.csi.settings import CsiSettings
from nearpath.csi.volume_ids import DISK_NAME, VolumeRef, parse_node_id, parse_volume_id, volume_group_name, volume_id

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


def requested_size(capacity: csi_pb2.CapacityRange | None, default: int) -> int:
    """Bytes to provision: at least ``required``, at most ``limit``, whole MiB."""
    required = capacity.required_bytes if capacity else 0
    limit = capacity.limit_bytes if capacity else 0
    if required < 0 or limit < 0:
        raise OutOfRange("capacity range must not be negative")
    if limit and required > limit:
        raise OutOfRange(f"required_bytes {required} exceeds limit_bytes {limit}")
    size = required or (min(default, limit) if limit else default)
    size = max(MI, -(-size // MI) * MI)
    if limit and size > limit:
        raise OutOfRange(f"the smallest volume nearpath can make ({size} bytes, whole MiB) exceeds limit_bytes {limit}")
    return size


def readiness(vg: VolumeGroup, generation: int) -> tuple[bool, str]:
    """Are the group's targets serving ``generation`` of the spec? And if not, why not."""
    status = vg.status
    if not status.assignments:
        ready = status.condition(ConditionType.READY.value)
        detail = f": {ready.message}" if ready and ready.message else " (is the nearpath operator running?)"
        return False, "no node is assigned to serve the volume yet" + detail
    for assignment in status.assignments:
        if status.target_applied(assignment.node, generation):
            continue
        target = status.target(assignment.node)
        if target is None or not target.ready:
            why = target.message if target and target.message else "no report from its target agent"
            return False, f"target on {assignment.node} is not ready: {why}"
        return False, f"target on {assignment.node} has not applied generation {generation} as assigned yet"
    ready = status.condition(ConditionType.READY.value)
    if ready is None or ready.status is not ConditionStatus.TRUE:
        return False, f"volume group is not Ready: {ready.message if ready else 'no Ready condition yet'}"
    return True, "ready"


def serving_nodes(vg: VolumeGroup) -> list[str]:
    return [a.node for a in vg.status.assignments if (t := vg.status.target(a.node)) is not None and t.ready]


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
        params = parse(dict(request.parameters), self.settings.default_backing)
        fs_type = params.fs_type or next(
            (c.mount.fs_type for c in request.volume_capabilities if c.WhichOneof("access_type") == "mount"), ""
        )
        size = requested_size(
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
                    body = self._manifest(ref, request.name, params, size, preferred, fs_type)
                    try:
                        self.kube.create_volume_group(body)
                    except AlreadyExists:
                        obj = self.kube.get_volume_group(ref.namespace, ref.name)
                        if obj is None:
                            raise Aborted(f"volume group {ref.id} appeared and vanished; retry") from None
                        self._check_existing(obj, request, params)
                log.info("volume group created", extra={"volume": ref.id, "csi_name": request.name})
            vg = self._wait_ready(ref, context)
        return csi_pb2.CreateVolumeResponse(volume=self._volume(vg))

    def _check_existing(self, obj: dict[str, Any], request: csi_pb2.CreateVolumeRequest, params: VolumeParams) -> None:
        meta = obj.get("metadata", {})
        annotations = meta.get("annotations") or {}
        if (meta.get("labels") or {}).get(CSI_DRIVER_LABEL) != DRIVER_NAME or annotations.get(
            CSI_VOLUME_NAME_ANNOTATION
        ) != request.name:
            raise AlreadyExists(
                f"volume group {meta.get('namespace')}/{meta.get('name')} exists and is not volume {request.name!r}"
            )
        if meta.get("deletionTimestamp"):
            raise Aborted(f"volume {request.name!r} is being deleted; retry")
        vg = parse_volume_group(obj)
        have = vg.spec.disk(DISK_NAME).size_bytes
        cap = request.capacity_range
        if have < cap.required_bytes or (cap.limit_bytes and have > cap.limit_bytes):
            raise AlreadyExists(f"volume {request.name!r} exists with {have} bytes, outside the requested range")
        if annotations.get(CSI_PARAMETERS_ANNOTATION) != params.fingerprint():
            raise AlreadyExists(f"volume {request.name!r} exists with other parameters")

    def _preferred_node(self, request: csi_pb2.CreateVolumeRequest) -> str:
        reqs = request.accessibility_requirements
        for topo in list(reqs.preferred) + list(reqs.requisite):
            node = topo.segments.get(TOPOLOGY_KEY)
            if node:
                return str(node)
        return ""

    def _manifest(
        self, ref: VolumeRef, csi_name: str, params: VolumeParams, size: int, preferred: str, fs_type: str
    ) -> dict[str, Any]:
        nodes = list(params.nodes)
        if params.backing is BackingType.LOCAL and not nodes:
            if not preferred:
                raise InvalidArgument(
                    "local backing needs a node: use volumeBindingMode WaitForFirstConsumer or the `nodes` parameter"
                )
            nodes = [preferred]
        if preferred and nodes and preferred not in nodes:
            if params.backing is BackingType.LOCAL:
                raise ResourceExhausted(f"node {preferred} cannot hold this volume (allowed: {', '.join(nodes)})")
            preferred = ""
        disk: dict[str, Any] = {"name": DISK_NAME, "size": format_bytes(size)}
        if params.backing is BackingType.SHARED:
            disk["source"] = {"path": self._claim_device(params.devices)}
        backing: dict[str, Any] = {"type": params.backing.value}
        if params.directory:
            backing["local"] = {"directory": params.directory}
        placement: dict[str, Any] = {}
        if nodes:
            placement["nodes"] = nodes
        if preferred:
            placement["preferredNode"] = preferred
        access: dict[str, Any] = {"initiators": []}
        if params.chap_secret_name:
            access["chap"] = {"secretRef": {"name": params.chap_secret_name}, "mutual": params.mutual_chap}
            access["discoveryAuth"] = params.discovery_auth
        annotations = {CSI_VOLUME_NAME_ANNOTATION: csi_name, CSI_PARAMETERS_ANNOTATION: params.fingerprint()}
        if fs_type:
            annotations[CSI_FS_TYPE_ANNOTATION] = fs_type
        return {
            "apiVersion": API_VERSION,
            "kind": KIND,
            "metadata": {
                "name": ref.name,
                "namespace": ref.namespace,
                "labels": {CSI_DRIVER_LABEL: DRIVER_NAME},
                "annotations": annotations,
            },
            "spec": {
                "disks": [disk],
                "backing": backing,
                "placement": placement,
                "access": access,
                "failover": {
                    "nonOptimizedState": params.non_optimized_state.value,
                    "autoFailback": params.auto_failback,
                },
            },
        }

    def _claim_device(self, candidates: tuple[str, ...]) -> str:
        used: set[str] = set()
        for obj in self.kube.list_volume_groups(None):
            for disk in obj.get("spec", {}).get("disks", []):
                source = disk.get("source") or {}
                if source.get("path"):
                    used.add(source["path"])
                used.update(p.get("path", "") for p in source.get("nodePaths") or [])
        for device in candidates:
            if device not in used:
                return device
        raise ResourceExhausted(f"every candidate device is in use by another volume: {', '.join(candidates)}")

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
            generation = self._patch_spec(ref, lambda g: _with_initiator(g, node.initiator))
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
            generation = self._patch_spec(ref, lambda g: _without_initiators(g, initiators))
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
            published_node_ids=[f"{a.node}|{a.initiator}" for a in vg.status.attachments],
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
        size = requested_size(request.capacity_range, self.settings.default_size_bytes)
        with self.inflight.guard(ref.id):
            vg = self._get(ref)
            if vg.spec.disk(DISK_NAME).size_bytes >= size:
                return csi_pb2.ControllerExpandVolumeResponse(
                    capacity_bytes=vg.spec.disk(DISK_NAME).size_bytes, node_expansion_required=True
                )
            generation = self._patch_spec(ref, lambda g: _with_size(g, size))
            vg = self._wait_ready(ref, context, generation)
        return csi_pb2.ControllerExpandVolumeResponse(
            capacity_bytes=vg.spec.disk(DISK_NAME).size_bytes, node_expansion_required=True
        )


def _with_initiator(vg: VolumeGroup, initiator: str) -> dict[str, Any] | None:
    current = list(vg.spec.access.initiators or [])
    if initiator in current:
        return None
    return {"access": {"initiators": [*current, initiator]}}


def _without_initiators(vg: VolumeGroup, initiators: set[str]) -> dict[str, Any] | None:
    current = list(vg.spec.access.initiators or [])
    kept = [i for i in current if i not in initiators]
    if kept == current:
        return None
    return {"access": {"initiators": kept}}


def _with_size(vg: VolumeGroup, size: int) -> dict[str, Any] | None:
    disks = [d.to_wire() for d in vg.spec.disks]
    for disk in disks:
        if disk["name"] == DISK_NAME:
            if int(vg.spec.disk(DISK_NAME).size_bytes) >= size:
                return None
            disk["size"] = format_bytes(size)
    return {"disks": disks}


def publish_context(vg: VolumeGroup) -> PublishContext:
    """Where and how the node reaches the volume: every ready target, the LUN, its WWID, CHAP."""
    targets = []
    for node in serving_nodes(vg):
        target = vg.status.target(node)
        if target is not None and target.iqn and target.portals:
            targets.append(TargetPortal(node, target.iqn, tuple(target.portals)))
    if not targets:
        raise DeadlineExceeded(f"volume {vg.key} has no ready target with portals yet")
    identities = {d.name: d for d in (vg.status.disks or vg.disk_identities())}
    disk = identities.get(DISK_NAME) or vg.disk_identities()[0]
    chap = vg.spec.access.chap
    return PublishContext(
        targets=tuple(targets),
        lun=disk.lun,
        wwid=disk.wwid,
        size_bytes=disk.size_bytes,
        chap="none" if chap is None else ("mutual" if chap.mutual else "session"),
        discovery_chap=vg.spec.access.discovery_auth,
        optimized_node=vg.status.optimized_node or "",
    )
