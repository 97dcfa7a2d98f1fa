"""VolumeGroup builders and a device table for the target agent's unit tests."""

from __future__ import annotations

from typing import Any

from nearpath.core.api import VolumeGroup, parse_volume_group
from nearpath.target.desired import DeviceFacts, Portal
from tests.support.manifests import assignment, shared_disk, volume_group

NODE = "node-a"
PEER = "node-b"
PORTALS = [Portal("192.168.100.1")]
INITIATOR = "iqn.2004-10.com.ubuntu:01:host1"
INITIATOR2 = "iqn.2004-10.com.ubuntu:01:host2"
SHARED_DEV = "/dev/disk/by-id/virtio-shared0"
SHARED_FILE = "/srv/nearpath/scratch.img"
SECRET = {
    "username": "user-one",
    "password": "secretpass0001",
    "mutualUsername": "tgt-one",
    "mutualPassword": "tgtsecret0001",
}
DEVICES = {
    SHARED_DEV: DeviceFacts(exists=True, is_block=True, size_bytes=2 << 30, discard=True),
    "/dev/nodiscard": DeviceFacts(exists=True, is_block=True, size_bytes=2 << 30, discard=False),
    SHARED_FILE: DeviceFacts(exists=True, is_block=False, size_bytes=0),
}


def vg_obj(
    name: str = "vm-disks",
    namespace: str = "default",
    *,
    state: str = "active-optimized",
    port_group_id: int = 2,
    assigned: bool = True,
    chap: bool = False,
    mutual: bool = False,
    discovery: bool = False,
    initiators: list[str] | None = None,
    disks: list[dict[str, Any]] | None = None,
    uid: str = "11111111-2222-3333-4444-555555555555",
    nodes: list[str] | None = None,
    alua_mode: str = "implicit",
) -> dict[str, Any]:
    status: dict[str, Any] = {}
    if assigned:
        status["assignments"] = [
            assignment(NODE, state, port_group_id),
            assignment(PEER, "active-non-optimized", port_group_id + 1),
        ]
    return volume_group(
        name,
        namespace,
        disks=disks
        if disks is not None
        else [shared_disk("root", "1Gi", SHARED_DEV), shared_disk("scratch", "512Mi", SHARED_FILE)],
        nodes=nodes or [NODE, PEER],
        initiators=initiators if initiators is not None else [INITIATOR],
        chap_secret=f"{name}-chap" if chap else None,
        mutual=mutual,
        discovery_auth=discovery if chap else None,
        failover={"aluaMode": alua_mode},
        metadata={"uid": uid, "generation": 3},
        status=status,
        validate=False,
    )


def vg(**kwargs: Any) -> VolumeGroup:
    return parse_volume_group(vg_obj(**kwargs))
