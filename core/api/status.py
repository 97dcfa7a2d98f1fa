"""The observed state of a VolumeGroup (``status``).

Three writers share the status, each through the status subresource and each owning its
own part (server-side apply with its own field manager, list entries keyed by node):

- the operator writes ``conditions``, ``observedGeneration``, ``optimizedNode``, ``disks``
  and ``assignments`` (its decision: which nodes serve and each node's ALUA state);
- the target agent of node N writes the ``targets`` entry whose ``node`` is N;
- the CSI controller writes ``attachments``.
"""

from __future__ import annotations

import enum
from datetime import datetime

from pydantic import Field

from nearpath.core.api.fields import ApiModel, NodeName
from nearpath.core.api.spec import AluaState


class ConditionType(enum.StrEnum):
    READY = "Ready"
    DEGRADED = "Degraded"
    PROGRESSING = "Progressing"
    CAPACITY_WARNING = "CapacityWarning"


class ConditionStatus(enum.StrEnum):
    TRUE = "True"
    FALSE = "False"
    UNKNOWN = "Unknown"


class Condition(ApiModel):
    type: str = Field(max_length=64, description="Ready, Degraded, Progressing or CapacityWarning.")
    status: ConditionStatus = Field(description="True, False or Unknown.")
    reason: str = Field(
        max_length=128, pattern=r"^[A-Za-z]([A-Za-z0-9_]*[A-Za-z0-9])?$", description="CamelCase reason."
    )
    message: str = Field("", max_length=4096, description="What happened, for humans.")
    last_transition_time: datetime | None = Field(
        None, description="When status last changed.", json_schema_extra={"format": "date-time"}
    )
    observed_generation: int | None = Field(None, ge=0, description="The generation this was computed for.")


class TargetAssignment(ApiModel):
    """The operator's decision for one node: serve the group, in this ALUA state."""

    node: NodeName = Field(description="Node that serves the group.")
    alua_state: AluaState = Field(description="ALUA access state the node's target port group must report.")
    port_group_id: int = Field(
        ge=2, le=65535, description="ALUA target port group id of this node (unique in the group, stable)."
    )
    device_paths: dict[str, str] | None = Field(
        None, description="Disk name to device or file path on this node, as resolved by the operator."
    )


class TargetStatus(ApiModel):
    """What a node's target agent observes of its target for the group."""

    node: NodeName = Field(description="Node of the target.")
    iqn: str = Field("", max_length=223, description="Target IQN on that node.")
    portals: list[str] = Field(default_factory=list, description="Portals (ip:port) of the target.")
    alua_state: AluaState | None = Field(None, description="ALUA access state the target reports now.")
    port_group_id: int | None = Field(None, description="ALUA target port group id applied.")
    devices_present: bool | None = Field(
        None,
        description=(
            "Every disk's device or file exists on this node (reported for every group the node may serve, "
            "before it is assigned: the operator only assigns nodes that can reach the data)."
        ),
    )
    ready: bool = Field(False, description="The target serves every disk with the assigned state.")
    fenced: bool | None = Field(
        None,
        description="The agent serves the group unavailable on its own, whatever the assignment: it lost its "
        "Lease (self-fence) or its node is labelled nearpath.io/target=disabled. Lasts until the operator "
        "assigns the node unavailable.",
    )
    sessions: int = Field(0, ge=0, description="Logged-in iSCSI sessions.")
    message: str = Field("", max_length=4096, description="Why it is not ready, or what was last done.")
    observed_generation: int | None = Field(None, description="VolumeGroup generation the agent applied.")
    last_update_time: datetime | None = Field(
        None, description="When the agent last wrote this entry.", json_schema_extra={"format": "date-time"}
    )

    def reports_applied(self, assignment: TargetAssignment, generation: int) -> bool:
        """The agent serves ``assignment`` (ready, its ALUA state and port group) at ``generation`` or later."""
        return (
            self.ready
            and self.alua_state == assignment.alua_state
            and (self.observed_generation or 0) >= generation
            and (self.port_group_id is None or self.port_group_id == assignment.port_group_id)
        )


class Attachment(ApiModel):
    initiator: str = Field(max_length=223, description="Initiator name of the attached node.")
    node: NodeName = Field(description="Node the group is attached to.")
    read_only: bool = Field(False, description="Published read-only (the node mounts it read-only).")


class DiskStatus(ApiModel):
    name: str = Field(description="Disk name.")
    serial: str = Field(description="Unit serial every node uses for the disk.")
    wwid: str = Field(description="SCSI WWID initiators see (the dm-multipath map name).")
    lun: int = Field(ge=0, description="LUN number.")
    size_bytes: int = Field(ge=0, description="Size in bytes.")


class VolumeGroupStatus(ApiModel):
    observed_generation: int | None = Field(None, description="Generation the operator last reconciled.")
    conditions: list[Condition] = Field(
        default_factory=list,
        description="Ready, Degraded, Progressing, CapacityWarning.",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    )
    optimized_node: str | None = Field(None, description="Node whose target is Active/Optimized now.")
    failed_over_from: str | None = Field(
        None,
        description=(
            "Node that lost Active/Optimized through a failover and has not got it back; moving back to it "
            "follows spec.failover.autoFailback (with the operator's failback delay)."
        ),
    )
    disks: list[DiskStatus] = Field(
        default_factory=list,
        description="Identity of each disk.",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]},
    )
    assignments: list[TargetAssignment] = Field(
        default_factory=list,
        description="The operator's per-node target assignments (desired state for the agents).",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["node"]},
    )
    targets: list[TargetStatus] = Field(
        default_factory=list,
        description="Per-node targets as their agents observe them.",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["node"]},
    )
    attachments: list[Attachment] = Field(
        default_factory=list,
        description="Initiators the group is attached to.",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["initiator"]},
    )

    def condition(self, type_: str) -> Condition | None:
        for cond in self.conditions:
            if cond.type == type_:
                return cond
        return None

    def target(self, node: str) -> TargetStatus | None:
        for target in self.targets:
            if target.node == node:
                return target
        return None

    def assignment(self, node: str) -> TargetAssignment | None:
        for assignment in self.assignments:
            if assignment.node == node:
                return assignment
        return None

    def target_applied(self, node: str, generation: int, assignment: TargetAssignment | None = None) -> bool:
        """The target on ``node`` applied generation ``generation`` of the group as assigned.

        ``assignment`` defaults to the node's stored one (the operator passes the one it is about
        to write); a node without an assignment or without a report has applied nothing.
        """
        wanted = assignment if assignment is not None else self.assignment(node)
        entry = self.target(node)
        return wanted is not None and entry is not None and entry.reports_applied(wanted, generation)

    @classmethod
    def list_map_keys(cls) -> dict[str, str]:
        """Wire name -> key field of every list-map in the status (as the CRD declares them)."""
        out = {}
        for name, info in cls.model_fields.items():
            extra = info.json_schema_extra
            if isinstance(extra, dict) and extra.get("x-kubernetes-list-type") == "map":
                keys = extra["x-kubernetes-list-map-keys"]
                assert isinstance(keys, list) and len(keys) == 1
                out[info.alias or name] = str(keys[0])
        return out
