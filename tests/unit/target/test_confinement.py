"""Hostile disk paths the node must refuse (issue 15, C1): the agent against a real directory tree.

A node is built in ``tmp_path``: real device nodes (``mknod``) under ``dev/``, ``by-id``
symlinks, a sysfs tree with partitions, holders and slaves as the kernel lays them out, and a
mountinfo naming the root filesystem. The agent (real confinement, real prober, fake LIO)
must refuse every attack with a status message naming the spec field and the reason, and
nothing of the group may reach LIO. A control group on a free device is served.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from nearpath.target import devices
from nearpath.target.agent import TargetAgent
from nearpath.target.confinement import HostView, PathPolicy, devices_in_use
from nearpath.target.desired import DeviceFacts
from nearpath.target.fake_lio import FakeLio
from tests.unit.target.helpers import NODE, PORTALS, vg_obj

pytestmark = pytest.mark.unit

# name -> (major, minor, parent disk or None, slaves)
BLOCK: dict[str, tuple[int, int, str | None, tuple[str, ...]]] = {
    "vda": (254, 0, None, ()),  # root disk
    "vda1": (254, 1, "vda", ()),  # mounted at /
    "vdb": (254, 16, None, ()),  # free: may be served
    "vdc": (254, 32, None, ()),  # an LVM PV: held by dm-0
    "dm-0": (253, 0, None, ("vdc",)),
    "vdd": (254, 48, None, ()),  # its partition vdd1 is mounted at /data
    "vdd1": (254, 49, "vdd", ()),
    "vde": (254, 64, None, ()),  # swap
    "vdf": (254, 80, None, ()),  # mounted whole at /srv
}


@dataclass
class Node:
    root: Path
    policy: PathPolicy

    @property
    def dev(self) -> Path:
        return self.root / "dev"

    @property
    def volumes(self) -> Path:
        return self.root / "volumes"

    def by_id(self, name: str) -> str:
        return str(self.dev / "disk" / "by-id" / name)


def _sysfs(root: Path) -> Path:
    devices_dir, klass = root / "sys" / "devices", root / "sys" / "class" / "block"
    klass.mkdir(parents=True)
    for name, (major, minor, parent, slaves) in BLOCK.items():
        where = devices_dir / parent / name if parent else devices_dir / name
        (where / "holders").mkdir(parents=True)
        (where / "slaves").mkdir()
        (where / "dev").write_text(f"{major}:{minor}\n")
        if parent:
            (where / "partition").write_text("1\n")
        for slave in slaves:
            (where / "slaves" / slave).symlink_to(klass / slave)
            (devices_dir / slave / "holders" / name).symlink_to(klass / name)
        (klass / name).symlink_to(where)
    return klass


@pytest.fixture
def node(tmp_path: Path) -> Node:
    if os.geteuid() != 0:
        pytest.fail("confinement tests create device nodes (mknod): run as root", pytrace=False)
    klass = _sysfs(tmp_path)
    dev = tmp_path / "dev"
    (dev / "disk" / "by-id").mkdir(parents=True)
    for name, (major, minor, _parent, _slaves) in BLOCK.items():
        os.mknod(dev / name, stat.S_IFBLK | 0o600, os.makedev(major, minor))
    for name in BLOCK:
        (dev / "disk" / "by-id" / f"virtio-{name}").symlink_to(f"../../{name}")
    proc = tmp_path / "proc"
    (proc / "1").mkdir(parents=True)
    (proc / "1" / "mountinfo").write_text(
        "22 1 254:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw\n"
        "23 22 0:5 / /dev rw,nosuid shared:2 - devtmpfs udev rw\n"
        "24 22 254:49 / /data rw,relatime shared:3 - xfs /dev/vdd1 rw\n"
        "25 22 254:80 / /srv rw,relatime shared:4 - ext4 /dev/vdf rw\n"
    )
    (proc / "swaps").write_text(f"Filename Type Size Used Priority\n{dev / 'vde'} partition 1048572 0 -2\n")
    (tmp_path / "volumes").mkdir()
    host = HostView(proc=proc, sys_block=klass, extra_mountinfo=(), dev=str(dev) + "/")
    prefixes = (str(dev / "disk" / "by-id") + "/", str(tmp_path / "volumes") + "/")
    return Node(tmp_path, PathPolicy(prefixes, host))


def _agent(lio: FakeLio, node: Node) -> TargetAgent:
    def probe(path: str) -> DeviceFacts:  # the mknod'ed nodes have no driver behind them: no read check
        return devices.probe(path, read_check=lambda _path: True)

    return TargetAgent(lio, NODE, PORTALS, prober=probe, path_policy=node.policy, local_directory=str(node.volumes))


def _shared(path: str, namespace: str = "tenant", name: str = "evil") -> dict[str, Any]:
    return vg_obj(name, namespace, disks=[{"name": "d", "size": "1Mi", "source": {"path": path}}])


def _local(directory: str, name: str = "evil") -> dict[str, Any]:
    obj = vg_obj(name, "tenant", disks=[{"name": "d", "size": "1Mi"}], nodes=[NODE])
    obj["spec"]["backing"] = {"type": "local", "local": {"directory": directory}}
    obj["status"]["assignments"] = obj["status"]["assignments"][:1]
    return obj


def _attacks(node: Node) -> list[tuple[str, dict[str, Any], str, str]]:
    """(id, VolumeGroup, field the refusal names, reason substring)."""
    victim = node.volumes / "victim" / "pvc-1"
    victim.mkdir(parents=True)
    (victim / "d.img").write_bytes(b"victim data")
    own = node.volumes / "tenant" / "evil"
    own.mkdir(parents=True)
    (own / "d.img").symlink_to(victim / "d.img")
    (node.volumes / "devlink").symlink_to(node.dev)
    os.mknod(node.volumes / "tenant" / "evil" / "node0", stat.S_IFBLK | 0o600, os.makedev(254, 16))
    (node.dev / "disk" / "by-id" / "escape").symlink_to(victim / "d.img")
    src, loc = "spec.disks[0].source.path", "spec.backing.local.directory"
    return [
        ("root-disk-via-by-id-symlink", _shared(node.by_id("virtio-vda")), src, "root filesystem"),
        ("root-partition", _shared(node.by_id("virtio-vda1")), src, "root filesystem"),
        ("disk-with-mounted-partition", _shared(node.by_id("virtio-vdd")), src, "/data"),
        ("mounted-whole-disk", _shared(node.by_id("virtio-vdf")), src, "mounted at /srv"),
        ("lvm-physical-volume", _shared(node.by_id("virtio-vdc")), src, "held by dm-0"),
        ("swap-device", _shared(node.by_id("virtio-vde")), src, "swap"),
        ("raw-dev-name-outside-prefixes", _shared(str(node.dev / "vdb")), src, "outside the allowed prefixes"),
        ("another-groups-file", _shared(str(victim / "d.img")), src, "own directory"),
        ("own-dir-symlink-to-another-groups-file", _shared(str(own / "d.img")), src, "own directory"),
        ("by-id-symlink-escaping-to-a-file", _shared(node.by_id("escape")), src, "own directory"),
        ("device-node-outside-dev", _shared(str(own / "node0")), src, "outside"),
        ("local-directory-symlink-into-devtmpfs", _local(str(node.volumes / "devlink")), loc, "/dev"),
        ("local-directory-outside-prefixes", _local(str(node.root / "elsewhere")), loc, "outside"),
    ]  # fmt: skip


def test_every_attack_is_refused_named_and_kept_out_of_lio(node: Node) -> None:
    attacks = _attacks(node)
    assert len(attacks) >= 13
    for attack_id, obj, field, reason in attacks:
        lio = FakeLio()
        reports = _agent(lio, node).reconcile([obj], {}, lambda _ns, _name: None)
        entry = reports[0].entry
        assert entry is not None, attack_id
        assert entry.ready is False, (attack_id, entry)
        assert entry.message.startswith(f"PathRefused: {field}: "), (attack_id, entry.message)
        assert reason in entry.message, (attack_id, entry.message)
        assert lio.backstores == {} and lio.targets == {}, (attack_id, lio.mutations)
    assert not (node.root / "dev" / "tenant").exists(), "a sparse file was created on devtmpfs"
    assert not (node.root / "elsewhere").exists(), "a directory was created outside the prefixes"


def test_free_device_and_own_file_are_served(node: Node) -> None:
    """The control: the same agent serves a free device and a file in the group's own directory."""
    own = node.volumes / "tenant" / "good"
    own.mkdir(parents=True)
    (own / "f.img").write_bytes(b"\0" * (1 << 20))
    obj = vg_obj(
        "good",
        "tenant",
        disks=[
            {"name": "d", "size": "1Mi", "source": {"path": node.by_id("virtio-vdb")}},
            {"name": "f", "size": "1Mi", "source": {"path": str(own / "f.img")}},
        ],
    )
    lio = FakeLio()
    entry = _agent(lio, node).reconcile([obj], {}, lambda _ns, _name: None)[0].entry
    assert entry is not None and entry.ready, entry
    assert {b.path for b in lio.backstores.values()} == {node.by_id("virtio-vdb"), str(own / "f.img")}
    local = _local(str(node.volumes), name="good-local")
    entry = _agent(lio, node).reconcile([local], {}, lambda _ns, _name: None)[0].entry
    assert entry is not None and entry.ready, entry
    assert (node.volumes / "tenant" / "good-local" / "d.img").is_file()


def test_a_group_changed_to_a_hostile_path_leaves_lio(node: Node) -> None:
    own = node.volumes / "tenant" / "evil"
    lio = FakeLio()
    agent = _agent(lio, node)
    assert agent.reconcile([_shared(node.by_id("virtio-vdb"))], {}, lambda _ns, _name: None)[0].entry.ready  # type: ignore[union-attr]
    assert lio.targets
    own.mkdir(parents=True)
    agent.reconcile([_shared(node.by_id("virtio-vda"))], {}, lambda _ns, _name: None)
    assert lio.backstores == {} and lio.targets == {}


def test_devices_in_use_follows_partitions_and_slaves(node: Node) -> None:
    in_use = devices_in_use(node.policy.host)
    assert in_use["vda"] == in_use["vda1"] == "backs the node's root filesystem"
    assert in_use["vdd"] == "mounted at /data" and in_use["vde"] == "used as swap"
    assert "vdb" not in in_use and "vdc" not in in_use  # vdc is caught by its holders instead
