"""A CSI volume as a VolumeGroup: its manifest, size, readiness, spec patches and publish context.

Everything the controller service (:mod:`nearpath.csi.controller`) knows about VolumeGroups that
is not gRPC: pure functions, except :func:`claim_device`, which lists VolumeGroups through
``KubeApi``. The service maps requests to these and their results back to CSI messages.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from nearpath.core.api import (
    API_VERSION,
    KIND,
    AluaState,
    BackingType,
    ConditionStatus,
    ConditionType,
    VolumeGroup,
    parse_volume_group,
)
from nearpath.core.contract import (
    CSI_DRIVER_LABEL,
    CSI_FS_TYPE_ANNOTATION,
    CSI_PARAMETERS_ANNOTATION,
    CSI_VOLUME_NAME_ANNOTATION,
    DRIVER_NAME,
    WIPE_FINALIZER,
)
from nearpath.core.errors import (
    Aborted,
    AlreadyExists,
    DeadlineExceeded,
    InvalidArgument,
    OutOfRange,
    ResourceExhausted,
)
from nearpath.core.kube import KubeApi
from nearpath.core.quantity import MI, format_bytes
from nearpath.csi.params import VolumeParams
from nearpath.csi.publish_context import PublishContext, TargetPortal
from nearpath.csi.volume_ids import DISK_NAME, VolumeRef


def requested_size(required: int, limit: int, default: int) -> int:
    """Bytes to provision: at least ``required``, at most ``limit`` (0: none), whole MiB."""
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
    """Are the group's targets serving ``generation`` of the spec? And if not, why not.

    Only live, unfenced targets count: the operator assigns ``unavailable`` to a node whose Lease
    expired or whose agent reports a failure, and such a node may never report again (H1: a dead
    serving node must not block attach, detach or expand while the others serve)."""
    status = vg.status
    if not status.assignments:
        ready = status.condition(ConditionType.READY.value)
        detail = f": {ready.message}" if ready and ready.message else " (is the nearpath operator running?)"
        return False, "no node is assigned to serve the volume yet" + detail
    serving = [a for a in status.assignments if a.alua_state is not AluaState.UNAVAILABLE]
    if not serving:
        return False, "every assigned node is fenced (unavailable): no node serves the volume now"
    for assignment in serving:
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


def _metadata(ref: VolumeRef, csi_name: str, params: VolumeParams, fs_type: str) -> dict[str, Any]:
    annotations = {CSI_VOLUME_NAME_ANNOTATION: csi_name, CSI_PARAMETERS_ANNOTATION: params.fingerprint()}
    if fs_type:
        annotations[CSI_FS_TYPE_ANNOTATION] = fs_type
    return {
        "name": ref.name,
        "namespace": ref.namespace,
        "labels": {CSI_DRIVER_LABEL: DRIVER_NAME},
        "annotations": annotations,
        # A released device or file is erased before it can be claimed again (target/release.py).
        "finalizers": [WIPE_FINALIZER],
    }


def manifest(
    ref: VolumeRef,
    csi_name: str,
    params: VolumeParams,
    size: int,
    preferred: str,
    fs_type: str,
    claim_device: Callable[[tuple[str, ...]], str],
) -> dict[str, Any]:
    """The VolumeGroup for CSI volume ``csi_name`` (``claim_device`` picks a shared backing device)."""
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
        disk["source"] = {"path": claim_device(params.devices)}
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
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": _metadata(ref, csi_name, params, fs_type),
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


def check_existing(obj: dict[str, Any], csi_name: str, required: int, limit: int, params: VolumeParams) -> None:
    """An existing VolumeGroup answers CreateVolume only if it is this volume, in range, same parameters."""
    meta = obj.get("metadata", {})
    annotations = meta.get("annotations") or {}
    if (meta.get("labels") or {}).get(CSI_DRIVER_LABEL) != DRIVER_NAME or annotations.get(
        CSI_VOLUME_NAME_ANNOTATION
    ) != csi_name:
        raise AlreadyExists(
            f"volume group {meta.get('namespace')}/{meta.get('name')} exists and is not volume {csi_name!r}"
        )
    if meta.get("deletionTimestamp"):
        raise Aborted(f"volume {csi_name!r} is being deleted; retry")
    vg = parse_volume_group(obj)
    have = vg.spec.disk(DISK_NAME).size_bytes
    if have < required or (limit and have > limit):
        raise AlreadyExists(f"volume {csi_name!r} exists with {have} bytes, outside the requested range")
    if annotations.get(CSI_PARAMETERS_ANNOTATION) != params.fingerprint():
        raise AlreadyExists(f"volume {csi_name!r} exists with other parameters")


def claim_device(kube: KubeApi, candidates: tuple[str, ...]) -> str:
    """The first candidate device no VolumeGroup uses yet."""
    used: set[str] = set()
    for obj in kube.list_volume_groups(None):
        for disk in obj.get("spec", {}).get("disks", []):
            source = disk.get("source") or {}
            if source.get("path"):
                used.add(source["path"])
            used.update(p.get("path", "") for p in source.get("nodePaths") or [])
    for device in candidates:
        if device not in used:
            return device
    raise ResourceExhausted(f"every candidate device is in use by another volume: {', '.join(candidates)}")


def with_initiator(vg: VolumeGroup, initiator: str) -> dict[str, Any] | None:
    current = list(vg.spec.access.initiators or [])
    if initiator in current:
        return None
    return {"access": {"initiators": [*current, initiator]}}


def without_initiators(vg: VolumeGroup, initiators: set[str]) -> dict[str, Any] | None:
    current = list(vg.spec.access.initiators or [])
    kept = [i for i in current if i not in initiators]
    if kept == current:
        return None
    return {"access": {"initiators": kept}}


def with_size(vg: VolumeGroup, size: int) -> dict[str, Any] | None:
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
