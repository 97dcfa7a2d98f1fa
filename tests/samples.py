"""VolumeGroup samples shared by every tier.

Each invalid sample names the field its rejection must name: the pydantic models, the
generated CRD evaluated offline (schema + CEL) and the real API server must all reject it
and say that field.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tests.support.manifests import wire

Manifest = dict[str, Any]


@dataclass(frozen=True)
class Sample:
    id: str
    manifest: Manifest
    field: str
    """A substring of the field path the rejection must name (empty for valid samples)."""


def _vg(name: str, spec: dict[str, Any], namespace: str = "default") -> Manifest:
    return wire(name, namespace, spec)


LOCAL = _vg(
    "pg-data",
    {
        "disks": [{"name": "data", "size": "10Gi"}, {"name": "wal", "size": "2Gi"}],
        "backing": {"type": "local"},
        "placement": {"nodes": ["node-a"], "preferredNode": "node-a"},
        "access": {"initiators": ["iqn.2004-10.com.ubuntu:01:a1b2c3d4e5"]},
    },
)

SHARED = _vg(
    "vm-disks",
    {
        "disks": [
            {
                "name": "root",
                "size": "20Gi",
                "serial": "a1b2c3d4e5f60718293a4b5c6d7e8f90",
                "source": {
                    "path": "/dev/disk/by-id/virtio-shared0",
                    "nodePaths": [{"node": "node-c", "path": "/dev/sdb"}],
                },
            },
            {"name": "scratch", "size": "512Mi", "source": {"path": "/srv/nearpath/scratch.img"}},
        ],
        "backing": {"type": "shared"},
        "placement": {"nodes": ["node-a", "node-b", "node-c"], "preferredNode": "node-b"},
        "access": {
            "initiators": ["iqn.1994-05.com.redhat:kubevirt-host1", "eui.02004567A425678D"],
            "chap": {"secretRef": {"name": "vm-disks-chap"}, "mutual": True},
            "discoveryAuth": True,
        },
        "failover": {"aluaMode": "implicit", "autoFailback": False, "nonOptimizedState": "standby"},
        "capacity": {"warningThresholdPercent": 90},
    },
)

EXTERNAL = _vg(
    "esxi-datastore",
    {
        "disks": [{"name": "lun0", "size": "1Mi", "source": {"path": "/dev/mapper/san-lun0"}}],
        "backing": {"type": "shared"},
        "placement": {"nodeSelector": {"nearpath.io/san": "true"}},
        "access": {"initiators": ["naa.60014055f2b9e8a1c3d4e5f60718293a"]},
    },
)

VALID_SAMPLES: list[Sample] = [
    Sample("local", LOCAL, ""),
    Sample("shared-chap-mutual", SHARED, ""),
    Sample("external-initiator-selector", EXTERNAL, ""),
]


def _mutate(base: Manifest, change: Callable[[Manifest], None]) -> Manifest:
    manifest = copy.deepcopy(base)
    change(manifest)
    return manifest


def _set(path: str, value: Any) -> Callable[[Manifest], None]:
    """Set a dotted path (``spec.disks.0.size``), creating dicts on the way."""

    def change(manifest: Manifest) -> None:
        node: Any = manifest
        parts = path.split(".")
        for part in parts[:-1]:
            node = node[int(part)] if isinstance(node, list) else node.setdefault(part, {})
        last = parts[-1]
        if isinstance(node, list):
            node[int(last)] = value
        elif value is _DELETE:
            node.pop(last, None)
        else:
            node[last] = value

    return change


_DELETE = object()


INVALID_SAMPLES: list[Sample] = [
    Sample("bad-iqn", _mutate(LOCAL, _set("spec.access.initiators", ["iqn.bad"])), "spec.access.initiators[0]"),
    Sample(
        "bad-eui-length",
        _mutate(LOCAL, _set("spec.access.initiators", ["eui.1234"])),
        "spec.access.initiators[0]",
    ),
    Sample(
        "duplicate-disk-name",
        _mutate(LOCAL, _set("spec.disks.1.name", "data")),
        "spec.disks[1]",
    ),
    Sample("size-zero", _mutate(LOCAL, _set("spec.disks.0.size", "0")), "spec.disks[0].size"),
    Sample("size-below-1Mi", _mutate(LOCAL, _set("spec.disks.0.size", "1023Ki")), "spec.disks[0].size"),
    Sample("size-negative", _mutate(LOCAL, _set("spec.disks.0.size", "-5Gi")), "spec.disks[0].size"),
    Sample("size-integer-not-string", _mutate(LOCAL, _set("spec.disks.0.size", 1073741824)), "spec.disks[0].size"),
    Sample("size-not-quantity", _mutate(LOCAL, _set("spec.disks.0.size", "10XB")), "spec.disks[0].size"),
    Sample("unknown-backing", _mutate(LOCAL, _set("spec.backing.type", "nfs")), "spec.backing.type"),
    Sample("replicated-reserved", _mutate(LOCAL, _set("spec.backing.type", "replicated")), "spec.backing.type"),
    Sample("missing-backing", _mutate(LOCAL, _set("spec.backing", _DELETE)), "spec.backing"),
    Sample(
        "preferred-node-outside-placement",
        _mutate(LOCAL, _set("spec.placement.preferredNode", "node-z")),
        "spec.placement.preferredNode",
    ),
    Sample(
        "chap-secret-missing-name",
        _mutate(SHARED, _set("spec.access.chap", {"secretRef": {}})),
        "spec.access.chap.secretRef.name",
    ),
    Sample(
        "local-two-nodes",
        _mutate(LOCAL, _set("spec.placement.nodes", ["node-a", "node-b"])),
        "spec.placement",
    ),
    Sample(
        "local-no-nodes",
        _mutate(LOCAL, _set("spec.placement", {"nodeSelector": {"disk": "ssd"}})),
        "spec.placement",
    ),
    Sample("shared-without-source", _mutate(SHARED, _set("spec.disks.1.source", _DELETE)), "spec.disks"),
    Sample("no-disks", _mutate(LOCAL, _set("spec.disks", [])), "spec.disks"),
    Sample("disk-name-not-dns-label", _mutate(LOCAL, _set("spec.disks.0.name", "Data_1")), "spec.disks[0].name"),
    Sample(
        "discovery-auth-without-chap",
        _mutate(LOCAL, _set("spec.access.discoveryAuth", True)),
        "spec.access.discoveryAuth",
    ),
    Sample(
        "capacity-threshold-over-100",
        _mutate(LOCAL, _set("spec.capacity.warningThresholdPercent", 150)),
        "spec.capacity.warningThresholdPercent",
    ),
    Sample("serial-not-hex", _mutate(SHARED, _set("spec.disks.0.serial", "not-a-serial")), "spec.disks[0].serial"),
    Sample(
        "unknown-alua-mode",
        _mutate(LOCAL, _set("spec.failover.aluaMode", "sometimes")),
        "spec.failover.aluaMode",
    ),
    Sample(
        "non-optimized-state-optimized",
        _mutate(LOCAL, _set("spec.failover.nonOptimizedState", "active-optimized")),
        "spec.failover.nonOptimizedState",
    ),
    Sample(
        "relative-source-path",
        _mutate(SHARED, _set("spec.disks.1.source.path", "srv/x.img")),
        "spec.disks[1].source.path",
    ),
    Sample("name-too-long", _mutate(LOCAL, _set("metadata.name", "v" * 64)), "metadata.name"),
    # Disk paths reach LIO's control string and name things on the nodes (nearpath.core.paths).
    Sample(
        "path-comma-injects-lio-option",
        _mutate(SHARED, _set("spec.disks.1.source.path", "/dev/sda,fd_buffered_io=1")),
        "spec.disks[1].source.path",
    ),
    Sample(
        "path-newline",
        _mutate(SHARED, _set("spec.disks.1.source.path", "/srv/x.img\nfd_dev_name=/dev/sda")),
        "spec.disks[1].source.path",
    ),
    Sample(
        "path-control-character",
        _mutate(SHARED, _set("spec.disks.0.source.nodePaths.0.path", "/dev/disk/by-id/\x1bx")),
        "spec.disks[0].source.nodePaths[0].path",
    ),
    Sample(
        "path-dot-dot",
        _mutate(SHARED, _set("spec.disks.0.source.path", "/dev/disk/by-id/../../sda")),
        "spec.disks[0].source.path",
    ),
    Sample(
        "local-directory-dot-dot",
        _mutate(LOCAL, _set("spec.backing.local", {"directory": "/var/lib/nearpath/volumes/../../../dev"})),
        "spec.backing.local.directory",
    ),
    Sample(
        "local-directory-comma",
        _mutate(LOCAL, _set("spec.backing.local", {"directory": "/dev/sda,"})),
        "spec.backing.local.directory",
    ),
    Sample(
        "path-too-long",
        _mutate(SHARED, _set("spec.disks.0.source.path", "/dev/disk/by-id/" + "x" * 600)),
        "spec.disks[0].source.path",
    ),
]
