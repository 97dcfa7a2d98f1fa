"""The wire contract between nearpath's components: every name more than one of them relies on.

The operator, the target agents, the CSI driver and the test fakes all take these values from
here; none spells them again. The chart's templates spell the ones they need once, in
``charts/nearpath/templates/_helpers.tpl``, and ``tests/unit/test_chart_agreement.py`` checks
the rendered objects against this module. Changing one is a protocol
change: every component and every installed object must follow.

- VolumeGroup API coordinates: :mod:`nearpath.core.api` (``GROUP``, ``VERSION``, ...).
- Objects nearpath names on nodes (target IQNs, backstores, ALUA groups, serials, WWIDs):
  :mod:`nearpath.core.identifiers`, re-exported here as the naming scheme's entry points.
- Who writes which part of a VolumeGroup's status: :mod:`nearpath.core.api.status`, with the
  field managers below.
"""

from __future__ import annotations

from collections.abc import Mapping

from nearpath.core.identifiers import (
    IQN_PREFIX,
    backstore_name,
    default_serial,
    is_nearpath_backstore,
    is_nearpath_iqn,
    port_group_name,
    target_iqn,
    wwid_for_serial,
)

# -- the operator ----------------------------------------------------------------------------
FINALIZER = "nearpath.io/targets"
"""Held by the operator on every VolumeGroup until no node serves it any more."""
WIPE_FINALIZER = "nearpath.io/wipe"
"""Held on a VolumeGroup (every CSI-created one) until a target agent erased its disks after deletion."""
OPERATOR_FIELD_MANAGER = "nearpath-operator"
"""Server-side-apply manager of the operator's status part (conditions, assignments, ...)."""
OPERATOR_EVENT_COMPONENT = "operator"
KOPF_ANNOTATION_PREFIX = "nearpath.io"
"""Where kopf would keep its own state on VolumeGroups (it keeps none: no change handlers)."""
LEADER_LEASE_NAME = "nearpath-operator-leader"
LEADER_LEASE_LABELS = {"app.kubernetes.io/name": "nearpath-operator"}

# -- the target agents -----------------------------------------------------------------------
LEASE_NAMESPACE = "nearpath-system"
"""Default namespace of the agents' heartbeat Leases and of the leader Lease."""
TARGET_LEASE_PREFIX = "nearpath-target-"
LEASE_ROLE_LABEL = "nearpath.io/role"
LEASE_NODE_LABEL = "nearpath.io/node"
TARGET_ROLE = "target"
TARGET_LEASE_SELECTOR = f"{LEASE_ROLE_LABEL}={TARGET_ROLE}"
"""Label selector of every agent's heartbeat Lease (what the operator lists)."""
ISCSI_PORT = 3260
"""Default iSCSI portal port."""
TARGET_DISABLED_LABEL = "nearpath.io/target"
"""Node label: the value ``disabled`` keeps the target DaemonSet (so every target) off the node."""
TARGET_DISABLED_VALUE = "disabled"


def target_disabled(labels: Mapping[str, str]) -> bool:
    """The node's labels take it out of serving (its groups are fenced, then its agent leaves)."""
    return labels.get(TARGET_DISABLED_LABEL) == TARGET_DISABLED_VALUE


def target_field_manager(node: str) -> str:
    """Server-side-apply manager of node ``node``'s agent (its ``targets`` entry and its Lease)."""
    return f"nearpath-target/{node}"


def target_lease_name(node: str) -> str:
    """The heartbeat Lease of node ``node``'s agent."""
    return f"{TARGET_LEASE_PREFIX}{node}"


def target_lease_labels(node: str) -> dict[str, str]:
    return {LEASE_ROLE_LABEL: TARGET_ROLE, LEASE_NODE_LABEL: node}


# -- the CSI driver --------------------------------------------------------------------------
DRIVER_NAME = "nearpath.io"
"""The CSI driver name: CSIDriver object, StorageClass provisioner, kubelet plugin directory."""
TOPOLOGY_KEY = "topology.nearpath.io/node"
"""Topology segment key naming a node."""
CSI_FIELD_MANAGER = "nearpath-csi"
"""Server-side-apply manager of the CSI controller's status part (``attachments``)."""
CSI_DRIVER_LABEL = "nearpath.io/csi-driver"
"""On VolumeGroups the CSI controller created: the driver name."""
CSI_VOLUME_NAME_ANNOTATION = "nearpath.io/csi-volume-name"
CSI_PARAMETERS_ANNOTATION = "nearpath.io/csi-parameters"
CSI_FS_TYPE_ANNOTATION = "nearpath.io/csi-fs-type"

# -- the host preflight ----------------------------------------------------------------------
PREFLIGHT_ANNOTATION_PREFIX = "preflight.nearpath.io/"
"""Node annotation ``preflight.nearpath.io/<role>``: the last preflight's JSON summary."""
INITIATOR_NAME_ANNOTATION = "nearpath.io/initiator-name"
"""Node annotation: the node's iSCSI initiator name (duplicate detection across nodes)."""
BOOT_ID_ANNOTATION = "nearpath.io/kernel-boot-id"
"""Node annotation: the kernel's boot id (nodes sharing one kernel, like kind's, share an initiator)."""
PREFLIGHT_EVENT_COMPONENT = "preflight"

__all__ = [
    "BOOT_ID_ANNOTATION",
    "CSI_DRIVER_LABEL",
    "CSI_FIELD_MANAGER",
    "CSI_FS_TYPE_ANNOTATION",
    "CSI_PARAMETERS_ANNOTATION",
    "CSI_VOLUME_NAME_ANNOTATION",
    "DRIVER_NAME",
    "FINALIZER",
    "INITIATOR_NAME_ANNOTATION",
    "IQN_PREFIX",
    "ISCSI_PORT",
    "KOPF_ANNOTATION_PREFIX",
    "LEADER_LEASE_LABELS",
    "LEADER_LEASE_NAME",
    "LEASE_NAMESPACE",
    "LEASE_NODE_LABEL",
    "LEASE_ROLE_LABEL",
    "OPERATOR_EVENT_COMPONENT",
    "OPERATOR_FIELD_MANAGER",
    "PREFLIGHT_ANNOTATION_PREFIX",
    "PREFLIGHT_EVENT_COMPONENT",
    "TARGET_DISABLED_LABEL",
    "TARGET_DISABLED_VALUE",
    "TARGET_LEASE_PREFIX",
    "TARGET_LEASE_SELECTOR",
    "TARGET_ROLE",
    "TOPOLOGY_KEY",
    "backstore_name",
    "default_serial",
    "is_nearpath_backstore",
    "is_nearpath_iqn",
    "port_group_name",
    "target_disabled",
    "target_field_manager",
    "target_iqn",
    "target_lease_labels",
    "target_lease_name",
    "wwid_for_serial",
]
