"""The desired state of a VolumeGroup (``spec``), as a user writes it.

Every rule here exists twice on purpose: as a pydantic validator (for the CSI driver, the
operator and the CLI) and as a schema keyword or CEL rule in the generated CRD (so the API
server rejects the same objects). ``tests/unit/test_crd_schema.py`` checks the two agree on
every sample in ``tests/samples.py``.
"""

from __future__ import annotations

import enum

from pydantic import (
    ConfigDict,
    Field,
    model_validator,
)

from nearpath.core import identifiers as ids
from nearpath.core import paths
from nearpath.core.api.fields import ApiModel, DiskPath, DnsLabel, InitiatorName, NodeName, Quantity, cel
from nearpath.core.quantity import MI, parse_bytes

GROUP = "nearpath.io"
VERSION = "v1alpha1"
KIND = "VolumeGroup"
PLURAL = "volumegroups"
SINGULAR = "volumegroup"
SHORT_NAMES = ["vg"]
API_VERSION = f"{GROUP}/{VERSION}"

MIN_DISK_BYTES = MI
MAX_DISKS = 256
DEFAULT_LOCAL_DIRECTORY = paths.DEFAULT_LOCAL_DIRECTORY


class BackingType(enum.StrEnum):
    LOCAL = "local"
    SHARED = "shared"
    REPLICATED = "replicated"


class AluaMode(enum.StrEnum):
    IMPLICIT = "implicit"
    EXPLICIT = "explicit"


class AluaState(enum.StrEnum):
    """SPC-4 asymmetric access states, as LIO names them."""

    ACTIVE_OPTIMIZED = "active-optimized"
    ACTIVE_NON_OPTIMIZED = "active-non-optimized"
    STANDBY = "standby"
    UNAVAILABLE = "unavailable"
    OFFLINE = "offline"


class NodeDevice(ApiModel):
    node: NodeName = Field(description="Node name.")
    path: DiskPath = Field(description="Path of the disk's device or file on that node.")


class DiskSource(ApiModel):
    """Where a disk's data lives on the nodes that serve it."""

    path: DiskPath | None = Field(
        None,
        description=(
            "Block device or file holding the disk, the same path on every serving node (prefer a "
            "stable name such as /dev/disk/by-id/...). For `local` backing it may be omitted: the "
            "agent then creates a sparse file under `spec.backing.local.directory`."
        ),
    )
    node_paths: list[NodeDevice] | None = Field(
        None,
        max_length=64,
        description="Per-node paths that override `path` on the nodes they name (`shared` backing).",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["node"]},
    )


class Disk(ApiModel):
    """One logical unit of the group, exported under the same LUN number by every node."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                cel(
                    # CEL string literals reject the "\." escape: match a literal dot as "[.]"
                    "isQuantity(self.size) && quantity(self.size).compareTo(quantity('1Mi')) >= 0",
                    "size must be a quantity (e.g. 10Gi) of at least 1Mi",
                    ".size",
                ),
            ]
        }
    )

    name: DnsLabel = Field(description="Disk name, unique in the group (a DNS label). Also the LUN's order key.")
    size: Quantity = Field(description="Size as a Kubernetes quantity (e.g. 10Gi), at least 1Mi.")
    serial: str | None = Field(
        None,
        max_length=32,
        pattern=ids.SERIAL_PATTERN,
        description=(
            "Unit serial override: 25-32 lower-case hex digits, unique in the group in its first 25 "
            "(LIO derives the NAA WWID from those). Default: derived from the VolumeGroup's UID."
        ),
    )
    source: DiskSource | None = Field(
        None, description="Where the data lives. Required for `shared` backing; optional for `local`."
    )

    @model_validator(mode="after")
    def _size_at_least_1mi(self) -> Disk:
        if parse_bytes(self.size) < MIN_DISK_BYTES:
            raise ValueError(f"size: must be at least 1Mi, got {self.size!r}")
        return self

    @property
    def size_bytes(self) -> int:
        return parse_bytes(self.size)


class LocalBacking(ApiModel):
    directory: DiskPath = Field(
        DEFAULT_LOCAL_DIRECTORY,
        description="Directory on the node under which sparse files for disks without a source are created.",
    )


class Backing(ApiModel):
    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                cel(
                    "self.type != 'replicated'",
                    "replicated backing is not yet supported (reserved for a later release), use local or shared",
                    ".type",
                ),
            ]
        }
    )

    type: BackingType = Field(
        description=(
            "`local`: one node serves disks on its own storage. `shared`: every allowed node reaches "
            "the same device (SAN LUN, multi-attach disk) and serves it. `replicated`: reserved."
        )
    )
    local: LocalBacking | None = Field(None, description="Options of `local` backing.")

    @model_validator(mode="after")
    def _not_replicated(self) -> Backing:
        if self.type is BackingType.REPLICATED:
            raise ValueError(
                "type: replicated backing is not yet supported (reserved for a later release), use local or shared"
            )
        return self


class Placement(ApiModel):
    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                cel(
                    "!has(self.preferredNode) || !has(self.nodes) || self.preferredNode in self.nodes",
                    "preferredNode must be one of placement.nodes",
                    ".preferredNode",
                ),
            ]
        }
    )

    nodes: list[NodeName] | None = Field(
        None,
        max_length=64,
        description="Nodes allowed to serve the group. Unset: every node matching nodeSelector.",
        json_schema_extra={"x-kubernetes-list-type": "set"},
    )
    node_selector: dict[str, str] | None = Field(
        None, description="Label selector (matchLabels form) for the nodes allowed to serve the group."
    )
    preferred_node: NodeName | None = Field(
        None,
        description=(
            "Node whose target port group is ALUA Active/Optimized while it is healthy; usually the "
            "consumer's node. Unset: the node of the current attachment, else the first ready node."
        ),
    )

    @model_validator(mode="after")
    def _preferred_in_nodes(self) -> Placement:
        if self.preferred_node and self.nodes is not None and self.preferred_node not in self.nodes:
            raise ValueError(f"preferredNode: {self.preferred_node!r} must be one of placement.nodes")
        return self


class SecretReference(ApiModel):
    name: DnsLabel = Field(description="Name of a Secret in the VolumeGroup's namespace.")


class Chap(ApiModel):
    secret_ref: SecretReference = Field(
        description=(
            "Secret with `username` and `password` (12-16 characters for most initiators) the "
            "initiator presents; with `mutual`, also `mutualUsername` and `mutualPassword` the "
            "target presents back."
        )
    )
    mutual: bool = Field(False, description="Mutual (bidirectional) CHAP: the target authenticates too.")


class Access(ApiModel):
    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                cel(
                    "!has(self.discoveryAuth) || !self.discoveryAuth || has(self.chap)",
                    "discoveryAuth needs chap",
                    ".discoveryAuth",
                ),
            ]
        }
    )

    initiators: list[InitiatorName] | None = Field(
        None,
        max_length=256,
        description=(
            "Initiator names (iqn., eui. or naa.) allowed to log in and see the disks. Any other "
            "initiator is refused. The CSI driver adds and removes the nodes it attaches to."
        ),
        json_schema_extra={"x-kubernetes-list-type": "set"},
    )
    chap: Chap | None = Field(None, description="CHAP authentication for sessions.")
    discovery_auth: bool = Field(
        False, description="Require CHAP (the same credentials) for SendTargets discovery too."
    )

    @model_validator(mode="after")
    def _discovery_auth_needs_chap(self) -> Access:
        if self.discovery_auth and self.chap is None:
            raise ValueError("discoveryAuth: discoveryAuth needs chap")
        return self


class Failover(ApiModel):
    alua_mode: AluaMode = Field(
        AluaMode.IMPLICIT,
        description=(
            "`implicit`: the operator moves Active/Optimized between nodes (recommended). "
            "`explicit`: initiators may also switch groups with SET TARGET PORT GROUPS."
        ),
    )
    auto_failback: bool = Field(
        True,
        description="Move Active/Optimized back to preferredNode when it is healthy again (after a fence).",
    )
    non_optimized_state: AluaState = Field(
        AluaState.ACTIVE_NON_OPTIMIZED,
        description="ALUA state of the serving nodes that are not optimized: active-non-optimized or standby.",
        json_schema_extra={"enum": [AluaState.ACTIVE_NON_OPTIMIZED.value, AluaState.STANDBY.value]},
    )

    @model_validator(mode="after")
    def _non_optimized_state(self) -> Failover:
        if self.non_optimized_state not in (AluaState.ACTIVE_NON_OPTIMIZED, AluaState.STANDBY):
            raise ValueError(
                f"nonOptimizedState: must be active-non-optimized or standby, not {self.non_optimized_state.value!r}"
            )
        return self


class Capacity(ApiModel):
    warning_threshold_percent: int = Field(
        80, ge=1, le=100, description="Raise a CapacityWarning condition when a disk's backing is this full."
    )


class VolumeGroupSpec(ApiModel):
    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                cel(
                    "self.backing.type != 'local' || "
                    "(has(self.placement) && has(self.placement.nodes) && size(self.placement.nodes) == 1)",
                    "local backing needs exactly one node in placement.nodes",
                    ".placement",
                ),
                cel(
                    "self.backing.type != 'shared' || "
                    "self.disks.all(d, has(d.source) && (has(d.source.path) || has(d.source.nodePaths)))",
                    "shared backing needs source.path (or source.nodePaths) on every disk",
                    ".disks",
                ),
                cel(
                    "self.disks.all(d, !has(d.serial) || self.disks.all(e, !has(e.serial) || e.name == d.name || "
                    "e.serial.substring(0, 25) != d.serial.substring(0, 25)))",
                    "disk serials must differ in their first 25 digits (LIO derives the WWID from them)",
                    ".disks",
                ),
            ]
        }
    )

    disks: list[Disk] = Field(
        min_length=1,
        max_length=MAX_DISKS,
        description="The disks (LUNs) of the group, in LUN order.",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]},
    )
    backing: Backing = Field(description="Where the disks' data lives.")
    placement: Placement = Field(default_factory=Placement, description="Which nodes serve the group.")
    access: Access = Field(default_factory=Access, description="Who may log in, and how.")
    failover: Failover = Field(default_factory=Failover, description="ALUA and failover policy.")
    capacity: Capacity = Field(default_factory=Capacity, description="Capacity alerting.")

    @model_validator(mode="after")
    def _cross_field(self) -> VolumeGroupSpec:
        problems: list[str] = []
        seen: dict[str, int] = {}
        for index, disk in enumerate(self.disks):
            if disk.name in seen:
                problems.append(f"disks[{index}].name: duplicate disk name {disk.name!r}")
            seen.setdefault(disk.name, index)
        prefixes: dict[str, str] = {}
        for disk in self.disks:
            if disk.serial is None:
                continue
            head = disk.serial[: ids.SERIAL_NAA_DIGITS]
            if head in prefixes:
                problems.append(f"disks: serials of {prefixes[head]!r} and {disk.name!r} share their first 25 digits")
            prefixes[head] = disk.name
        if self.backing.type is BackingType.LOCAL and (self.placement.nodes is None or len(self.placement.nodes) != 1):
            problems.append("placement.nodes: local backing needs exactly one node in placement.nodes")
        if self.backing.type is BackingType.SHARED:
            for index, disk in enumerate(self.disks):
                if disk.source is None or (disk.source.path is None and not disk.source.node_paths):
                    problems.append(f"disks[{index}].source: shared backing needs source.path (or source.nodePaths)")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def disk(self, name: str) -> Disk:
        for disk in self.disks:
            if disk.name == name:
                return disk
        raise KeyError(name)
