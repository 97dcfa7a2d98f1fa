"""The VolumeGroup resource: metadata, spec, status, and parsing with field-named errors."""

from __future__ import annotations

import re
from collections.abc import Mapping
from enum import Enum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from nearpath.core import identifiers as ids
from nearpath.core.api.fields import ApiModel, cel
from nearpath.core.api.spec import API_VERSION, KIND, LocalBacking, VolumeGroupSpec
from nearpath.core.api.status import DiskStatus, VolumeGroupStatus
from nearpath.core.errors import InvalidSpec

MAX_NAME_LENGTH = 63


class ObjectMeta(BaseModel):
    """The parts of Kubernetes object metadata nearpath reads; everything else is kept as is."""

    model_config = ConfigDict(populate_by_name=True, extra="allow", frozen=True)

    name: str = ""
    namespace: str = ""
    uid: str = ""
    generation: int = 0
    resource_version: str = Field("", alias="resourceVersion")
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    finalizers: list[str] = Field(default_factory=list)
    deletion_timestamp: str | None = Field(None, alias="deletionTimestamp")


class AgentDuty(Enum):
    """What a node's target agent owes one VolumeGroup (:meth:`VolumeGroup.agent_duty`)."""

    SERVE = "serve"
    """The operator assigned the node: serve in the assigned ALUA state and report it."""
    REPORT = "report"
    """Placement allows the node but it is not assigned: serve nothing, report its devices."""
    NOTHING = "nothing"
    """Not the node's business (any more): serve nothing, keep no status entry."""


class VolumeGroup(ApiModel):
    """A group of disks served over iSCSI by one or more nodes, one of them ALUA optimized."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                cel(
                    "size(self.metadata.name) <= 63",
                    "metadata.name must be at most 63 characters (it is part of target IQNs and LIO names)",
                ),
            ]
        }
    )

    api_version: str = Field(API_VERSION, alias="apiVersion")
    kind: str = Field(KIND)
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: VolumeGroupSpec
    status: VolumeGroupStatus = Field(default_factory=VolumeGroupStatus)

    @property
    def key(self) -> str:
        return f"{self.metadata.namespace}/{self.metadata.name}"

    def target_iqn(self, node: str) -> str:
        return ids.target_iqn(self.metadata.namespace, self.metadata.name, node)

    def backstore_name(self, disk: str) -> str:
        return ids.backstore_name(self.metadata.namespace, self.metadata.name, disk)

    def device_path(self, disk_name: str, node: str) -> str:
        """Where ``disk_name``'s data lives on ``node``.

        ``shared``: the disk's ``source.nodePaths`` entry for the node, else ``source.path``.
        ``local``: ``source.path`` if set, else the sparse file
        ``<backing.local.directory>/<namespace>/<name>/<disk>.img`` the agent creates.
        """
        disk = self.spec.disk(disk_name)
        source = disk.source
        if source is not None:
            for entry in source.node_paths or []:
                if entry.node == node:
                    return entry.path
            if source.path:
                return source.path
        local = self.spec.backing.local or LocalBacking()
        return f"{local.directory.rstrip('/')}/{self.metadata.namespace}/{self.metadata.name}/{disk.name}.img"

    def allows_node(self, node: str, labels: Mapping[str, str]) -> bool:
        """Whether placement lets ``node`` (with ``labels``) serve the group."""
        placement = self.spec.placement
        if placement.nodes is not None and node not in placement.nodes:
            return False
        selector = placement.node_selector or {}
        return all(labels.get(key) == value for key, value in selector.items())

    def agent_duty(self, node: str, labels: Mapping[str, str]) -> AgentDuty:
        """What ``node``'s target agent (real or fake) owes this group: assignments decide.

        An assigned node serves whatever else changed: a deletion request or a placement edit
        does not pull the disk. The operator keeps assignments while consumers are attached
        (the finalizer holds the object) and withdraws them itself, with a planned handover or
        once the group is detached; then the node drops the group.
        """
        if self.status.assignment(node) is not None:
            return AgentDuty.SERVE
        if self.metadata.deletion_timestamp is None and self.allows_node(node, labels):
            return AgentDuty.REPORT
        return AgentDuty.NOTHING

    def disk_identities(self) -> list[DiskStatus]:
        """Serial, WWID and LUN of every disk, in LUN order: the same on every node."""
        out: list[DiskStatus] = []
        for lun, disk in enumerate(self.spec.disks):
            serial = disk.serial or ids.default_serial(self.metadata.uid, disk.name)
            out.append(
                DiskStatus(
                    name=disk.name,
                    serial=serial,
                    wwid=ids.wwid_for_serial(serial),
                    lun=lun,
                    size_bytes=disk.size_bytes,
                )
            )
        return out


_PATH_PREFIX = re.compile(r"^([A-Za-z][A-Za-z0-9]*(\[[0-9]*\])?(\.[A-Za-z][A-Za-z0-9]*(\[[0-9]*\])?)*): (.*)$", re.S)


def render_loc(loc: tuple[int | str, ...]) -> str:
    """``('spec', 'disks', 0, 'size')`` -> ``spec.disks[0].size`` (the API server's form)."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part.startswith(("function-", "json-or-python", "lax-or-strict")) or part in {"str", "int"}:
            continue
        else:
            out += f".{part}" if out else part
    return out


def field_errors(error: ValidationError) -> list[tuple[str, str]]:
    """Field path and message for each problem; validators name a path relative to their model."""
    out: list[tuple[str, str]] = []
    for item in error.errors():
        base = render_loc(tuple(item["loc"]))
        message = str(item["msg"]).removeprefix("Value error, ")
        for part in message.split("; "):
            match = _PATH_PREFIX.match(part)
            if match and item["type"] == "value_error":
                rel, text = match.group(1), match.group(5)
                path = f"{base}.{rel}" if base and not rel.startswith(("spec.", "metadata.")) else rel
                out.append((path, text))
            else:
                out.append((base or "(root)", part))
    return out


def parse_volume_group(obj: Mapping[str, Any]) -> VolumeGroup:
    """Validate a VolumeGroup manifest; errors name the offending fields."""
    try:
        vg = VolumeGroup.model_validate(dict(obj))
    except ValidationError as exc:
        raise InvalidSpec(field_errors(exc)) from exc
    if len(vg.metadata.name) > MAX_NAME_LENGTH:
        raise InvalidSpec(
            [("metadata.name", "must be at most 63 characters (it is part of target IQNs and LIO names)")]
        )
    return vg
