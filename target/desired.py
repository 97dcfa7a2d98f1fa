"""The desired LIO state of one VolumeGroup on this node (pure: no I/O).

Input: the VolumeGroup, the operator's assignment for this node, the node's portals, what the
agent found on the node for each disk (:class:`DeviceFacts`) and the CHAP Secret's data.
Output: a :class:`DesiredTarget`, or :class:`TargetConfigError` with a message for the
VolumeGroup status when the group cannot be served here (missing device, bad Secret).

Naming (nearpath.core.identifiers): one target per VolumeGroup per node, TPG 1; one
backstore per disk; one ALUA target port group ``np_pg<id>`` on every backstore; LUN n is the
n-th disk; every allowed initiator gets a NodeACL mapping LUN n to LUN n.
"""

from __future__ import annotations

from collections.abc import Mapping

from nearpath.core import identifiers as ids
from nearpath.core.api import TargetAssignment, VolumeGroup
from nearpath.core.chap import NO_CHAP, ChapCredentials, chap_from_secret
from nearpath.target.model import (
    ALUA_ACCESS_TYPES,
    ALUA_STATE_CODES,
    ALUA_STATES_BY_CODE,
    THIN_LIMITS,
    TPG_TAG,
    BackstoreKind,
    DesiredAcl,
    DesiredAluaGroup,
    DesiredBackstore,
    DesiredLun,
    DesiredTarget,
    DeviceFacts,
    Portal,
    TargetConfigError,
)

# The records live in target/model.py; the planner re-exports them for its callers.
__all__ = [
    "ALUA_ACCESS_TYPES",
    "ALUA_STATES_BY_CODE",
    "ALUA_STATE_CODES",
    "THIN_LIMITS",
    "TPG_TAG",
    "BackstoreKind",
    "DesiredAcl",
    "DesiredAluaGroup",
    "DesiredBackstore",
    "DesiredLun",
    "DesiredTarget",
    "DeviceFacts",
    "Portal",
    "TargetConfigError",
    "backstore_attributes",
    "desired_backstore",
    "desired_target",
    "disk_paths",
    "group_chap",
    "owned_names",
]


def owned_names(vg: VolumeGroup, node: str) -> tuple[str, set[str]]:
    """The target IQN and backstore names the agent of ``node`` owns for ``vg``."""
    return vg.target_iqn(node), {vg.backstore_name(d.name) for d in vg.spec.disks}


def group_chap(vg: VolumeGroup, secret: Mapping[str, str] | None) -> ChapCredentials:
    """The CHAP credentials of the group from its Secret's data (NO_CHAP when it sets none)."""
    chap = vg.spec.access.chap
    if chap is None:
        return NO_CHAP
    source = f"Secret {vg.metadata.namespace}/{chap.secret_ref.name}"
    return chap_from_secret(secret, mutual=chap.mutual, source=source)


def backstore_attributes(kind: BackstoreKind, thin: bool) -> tuple[tuple[str, str], ...]:
    attrs: list[tuple[str, str]] = [("emulate_caw", "1"), ("emulate_3pc", "1")]
    if thin:
        attrs += THIN_LIMITS
        attrs += [("emulate_tpu", "1"), ("emulate_tpws", "1")]
    else:
        attrs += [("emulate_tpu", "0"), ("emulate_tpws", "0")]
    return tuple(attrs)


def desired_backstore(vg: VolumeGroup, disk_name: str, path: str, serial: str, facts: DeviceFacts) -> DesiredBackstore:
    disk = vg.spec.disk(disk_name)
    if not facts.exists:
        raise TargetConfigError(f"disk {disk_name}: {path} does not exist on this node")
    if facts.is_block:
        if facts.size_bytes and facts.size_bytes < disk.size_bytes:
            raise TargetConfigError(
                f"disk {disk_name}: {path} holds {facts.size_bytes} bytes, the spec asks for {disk.size_bytes}"
            )
        kind, thin = BackstoreKind.BLOCK, facts.discard
    else:
        kind, thin = BackstoreKind.FILEIO, True  # sparse file: holes are unmapped blocks
    return DesiredBackstore(
        name=vg.backstore_name(disk_name),
        kind=kind,
        path=path,
        size_bytes=disk.size_bytes,
        serial=serial,
        attributes=backstore_attributes(kind, thin),
    )


def desired_target(
    vg: VolumeGroup,
    assignment: TargetAssignment,
    node: str,
    portals: list[Portal],
    devices: Mapping[str, DeviceFacts],
    secret: Mapping[str, str] | None,
) -> DesiredTarget:
    """The LIO objects that serve ``vg`` on ``node`` as ``assignment`` says.

    ``devices`` maps each disk's path (as :func:`disk_paths` resolves it) to what is there.
    """
    if not portals:
        raise TargetConfigError("the agent has no portal configured (NEARPATH_PORTALS)")
    chap = group_chap(vg, secret)
    paths = disk_paths(vg, assignment, node)
    backstores = []
    for identity in vg.disk_identities():
        path = paths[identity.name]
        backstores.append(
            desired_backstore(vg, identity.name, path, identity.serial, devices.get(path, DeviceFacts(False)))
        )
    luns = tuple(DesiredLun(i, b.name) for i, b in enumerate(backstores))
    lun_numbers = tuple(lun.lun for lun in luns)
    initiators = sorted(set(vg.spec.access.initiators or []))
    acls = tuple(DesiredAcl(initiator, lun_numbers, chap) for initiator in initiators)
    group = DesiredAluaGroup(
        name=ids.port_group_name(assignment.port_group_id),
        group_id=assignment.port_group_id,
        state=assignment.alua_state,
        access_type=ALUA_ACCESS_TYPES[vg.spec.failover.alua_mode],
    )
    tpg_attributes = (
        ("authentication", "1" if chap.enabled else "0"),
        ("generate_node_acls", "0"),
        ("cache_dynamic_acls", "0"),
        ("demo_mode_write_protect", "0"),
        ("prod_mode_write_protect", "0"),
    )
    return DesiredTarget(
        vg_key=vg.key,
        iqn=vg.target_iqn(node),
        backstores=tuple(backstores),
        alua_group=group,
        luns=luns,
        acls=acls,
        portals=tuple(sorted(set(portals))),
        tpg_attributes=tpg_attributes,
        discovery_auth=chap if vg.spec.access.discovery_auth and chap.enabled else None,
    )


def disk_paths(vg: VolumeGroup, assignment: TargetAssignment | None, node: str) -> dict[str, str]:
    """Disk name -> path on ``node``: the operator's resolved path, else the spec's."""
    resolved = (assignment.device_paths or {}) if assignment is not None else {}
    return {d.name: resolved.get(d.name) or vg.device_path(d.name, node) for d in vg.spec.disks}
