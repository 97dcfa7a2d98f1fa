"""Identifiers the driver hands to Kubernetes: volume ids and node ids.

- volume id: ``<namespace>/<volumegroup name>``. The VolumeGroup name is the CSI volume
  name when that is a DNS label (the external-provisioner's ``pvc-<uid>``), otherwise
  ``vol-`` plus 24 hex digits of its SHA-256. One volume = one VolumeGroup with one disk
  named ``data``.
- file-system UUID: a UUID derived from the disk's WWID (which derives from the VolumeGroup's
  UID), written by mkfs; NodeStage mounts only a file system carrying its volume's UUID, so a
  file system left on a reused device by another tenant is never mounted.
- node id: ``<node name>|<initiator name>``. ControllerPublish receives only the node id,
  and the controller needs the node's initiator name (read from the host by NodeGetInfo) to
  put it on the group's access list, so the node id carries both.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass

from nearpath.core import identifiers as core_ids
from nearpath.core.errors import InvalidArgument, NotFound

DISK_NAME = "data"
NODE_ID_SEPARATOR = "|"
MAX_NODE_ID_BYTES = 256


FS_UUID_NAMESPACE = uuid.UUID("5d6f3c1e-8a43-4b7e-9a57-6e1d0c2b9f10")


def filesystem_uuid(wwid: str) -> str:
    """The UUID nearpath gives the file system of the volume whose disk has ``wwid``."""
    return str(uuid.uuid5(FS_UUID_NAMESPACE, wwid))


def volume_group_name(csi_name: str) -> str:
    if core_ids.is_dns_label(csi_name) and len(csi_name) <= 63:
        return csi_name
    return "vol-" + hashlib.sha256(csi_name.encode()).hexdigest()[:24]


def volume_id(namespace: str, name: str) -> str:
    return f"{namespace}/{name}"


@dataclass(frozen=True)
class VolumeRef:
    namespace: str
    name: str

    @property
    def id(self) -> str:
        return volume_id(self.namespace, self.name)


def parse_volume_id(value: str) -> VolumeRef:
    """A volume id that is not ours cannot name an existing volume: NotFound."""
    if not value:
        raise InvalidArgument("volume id is required")
    namespace, sep, name = value.partition("/")
    if not sep or not core_ids.is_dns_label(namespace) or not core_ids.is_dns_label(name):
        raise NotFound(f"volume {value!r} does not exist (not a nearpath volume id)")
    return VolumeRef(namespace, name)


@dataclass(frozen=True)
class NodeRef:
    name: str
    initiator: str

    @property
    def id(self) -> str:
        return f"{self.name}{NODE_ID_SEPARATOR}{self.initiator}"


def node_id(node: str, initiator: str) -> str:
    value = NodeRef(node, initiator).id
    if len(value.encode()) > MAX_NODE_ID_BYTES:
        raise InvalidArgument(f"node id {value!r} exceeds the CSI limit of {MAX_NODE_ID_BYTES} bytes")
    return value


def parse_node_id(value: str) -> NodeRef:
    """A node id that is not ours cannot name an existing node: NotFound."""
    if not value:
        raise InvalidArgument("node id is required")
    node, sep, initiator = value.partition(NODE_ID_SEPARATOR)
    if not sep or not core_ids.is_dns_subdomain(node) or not core_ids.is_initiator_name(initiator):
        raise NotFound(f"node {value!r} does not exist (expected <node name>|<initiator name>)")
    return NodeRef(node, initiator)
