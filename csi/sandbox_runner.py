"""The sandbox's storage commands: ``iscsiadm``, ``multipath(d)``, ``mount``, ``blkid``, ``mkfs``...

:class:`SimulatedRunner` is a :class:`~nearpath.core.runner.Runner` that answers the node's
commands the way a Linux host would, keeping sessions, SCSI disks, multipath maps, file systems
and mounts between calls (in a :class:`~nearpath.csi.sandbox_host.MemoryHost`). Recording,
masking and the accepted-code check are :class:`~nearpath.core.fake_runner.FakeRunner`'s. Test
double, see :mod:`nearpath.csi.sandbox`.
"""

from __future__ import annotations

import itertools
import posixpath
import shlex
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from nearpath.core.fake_runner import FakeRunner
from nearpath.core.runner import CommandResult
from nearpath.csi.iscsi import by_path_link
from nearpath.csi.mount import MountEntry
from nearpath.csi.sandbox_fabric import Fabric, Lun
from nearpath.csi.sandbox_host import MemoryHost

RECORD_DB = "/etc/iscsi"


@dataclass
class ScsiDisk:
    name: str
    iqn: str
    portal: str
    lun: int
    wwid: str
    size: int


class SimulatedRunner:
    """A :class:`~nearpath.core.runner.Runner` simulating the node's storage commands."""

    def __init__(self, host: MemoryHost, fabric: Fabric, initiator: str) -> None:
        self.host = host
        self.fabric = fabric
        self.initiator = initiator
        # Recording, masking and the accepted-code check are FakeRunner's; this class only
        # simulates what the commands do.
        self._runner = FakeRunner().on(respond=self._dispatch)
        self.records: dict[tuple[str, str], dict[str, str]] = {}
        self.discovery_db: dict[str, dict[str, str]] = {}
        self.sessions: dict[tuple[str, str], int] = {}
        self.disks: dict[str, ScsiDisk] = {}
        self.maps: dict[str, str] = {}  # wwid -> dm-N
        self.wwids: set[str] = set()
        self.filesystems: dict[str, str] = {}  # wwid -> "<fs type> <uuid>"
        self._sid = itertools.count(1)
        self._dm = itertools.count(0)
        self._sd = itertools.count(0)
        host.write_hooks["/device/delete"] = self._sys_delete
        host.write_hooks["/device/rescan"] = self._sys_rescan

    # Runner protocol
    def run(
        self,
        argv: Sequence[str],
        *,
        timeout: float,
        ok_codes: Iterable[int] = (0,),
        secrets: Iterable[str] = (),
        input: str | None = None,
        env: Mapping[str, str] | None = None,
    ) -> CommandResult:
        return self._runner.run(argv, timeout=timeout, ok_codes=ok_codes, secrets=secrets, input=input, env=env)

    def _dispatch(self, a: list[str]) -> tuple[int, str, str]:
        handlers: dict[str, Callable[[list[str]], tuple[int, str, str]]] = {
            "iscsiadm": self._iscsiadm,
            "multipath": self._multipath,
            "multipathd": self._multipathd,
            "mount": self._mount,
            "umount": self._umount,
            "blkid": self._blkid,
            "mkfs.ext4": self._mkfs,
            "mkfs.xfs": self._mkfs,
            "blockdev": self._blockdev,
            "resize2fs": lambda _a: (0, "", ""),
            "xfs_growfs": lambda _a: (0, "", ""),
        }
        handler = handlers.get(a[0])
        if handler is None:
            return 127, "", f"{a[0]}: command not found (sandbox)"
        return handler(a)

    # iscsiadm
    @staticmethod
    def _opt(a: list[str], flag: str) -> str:
        return a[a.index(flag) + 1] if flag in a and a.index(flag) + 1 < len(a) else ""

    def _iscsiadm(self, a: list[str]) -> tuple[int, str, str]:
        mode = self._opt(a, "-m")
        if mode == "session":
            if not self.sessions:
                return 21, "", "iscsiadm: No active sessions."
            lines = [
                f"tcp: [{sid}] {portal},1 {iqn} (non-flash)" for (iqn, portal), sid in sorted(self.sessions.items())
            ]
            return 0, "\n".join(lines) + "\n", ""
        if mode in ("discovery", "discoverydb"):
            return self._iscsiadm_discovery(a)
        if mode != "node":
            return 7, "", f"iscsiadm: unsupported mode {mode}"
        key = (self._opt(a, "-T"), self._opt(a, "-p"))
        if "--login" in a:
            return self._iscsiadm_login(key)
        if "--logout" in a:
            if key not in self.sessions:
                return 21, "", "iscsiadm: No matching sessions found"
            del self.sessions[key]
            for disk in [d for d in self.disks.values() if (d.iqn, d.portal) == key]:
                self._remove_disk(disk.name)
            return 0, "Logout successful.\n", ""
        return self._iscsiadm_record(a, key)

    def _iscsiadm_discovery(self, a: list[str]) -> tuple[int, str, str]:
        portal = self._opt(a, "-p")
        if "-o" in a and self._opt(a, "-o") in ("new", "update") and "--discover" not in a:
            self.discovery_db.setdefault(portal, {})
            if self._opt(a, "-o") == "update":
                self.discovery_db[portal][self._opt(a, "-n")] = self._opt(a, "-v")
            host, _, port = portal.rpartition(":")
            self._write_record(f"{RECORD_DB}/send_targets/{host},{port}/st_config", self.discovery_db[portal])
            return 0, "", ""
        iqns = self.fabric.offered(portal, self.initiator)
        return 0, "".join(f"{portal},1 {iqn}\n" for iqn in iqns), ""

    def _iscsiadm_login(self, key: tuple[str, str]) -> tuple[int, str, str]:
        if key not in self.records:
            return 21, "", "iscsiadm: No records found"
        if key in self.sessions:
            return 15, "", "iscsiadm: session exists"
        record = self._read_record(self._record_path(key))
        if record.get("node.session.auth.authmethod") == "CHAP" and not record.get("node.session.auth.password"):
            return 24, "", "iscsiadm: initiator failed authentication (CHAP without credentials)"
        luns = self.fabric.luns(key[0], self.initiator)
        if not luns:
            return 24, "", "iscsiadm: initiator failed authorization"
        self.sessions[key] = next(self._sid)
        for lun in luns:
            self._add_disk(key[0], key[1], lun)
        return 0, "Login successful.\n", ""

    def _iscsiadm_record(self, a: list[str], key: tuple[str, str]) -> tuple[int, str, str]:
        op = self._opt(a, "-o")
        path = self._record_path(key)
        if op == "new":
            self.records.setdefault(key, {"node.name": key[0]})
            self._write_record(path, self.records[key])
            return 0, "New iSCSI node added\n", ""
        if key not in self.records:
            return 21, "", "iscsiadm: No records found"
        if op == "update":
            self.records[key] = {**self._read_record(path), self._opt(a, "-n"): self._opt(a, "-v")}
            self._write_record(path, self.records[key])
            return 0, "", ""
        if op == "delete":
            if key in self.sessions:
                return 6, "", "iscsiadm: session is using the record"
            del self.records[key]
            self.host.remove_file(path)
            return 0, "", ""
        shown = {
            k: "********" if k.endswith(("password", "password_in")) else v for k, v in self._read_record(path).items()
        }
        return 0, "".join(f"{k} = {v}\n" for k, v in shown.items()), ""

    # open-iscsi's record files (idbm layout), which nearpath writes CHAP into
    @staticmethod
    def _record_path(key: tuple[str, str]) -> str:
        host, _, port = key[1].rpartition(":")
        return f"{RECORD_DB}/nodes/{key[0]}/{host},{port}"  # ``-o new`` without a tpgt: one file

    def _write_record(self, path: str, values: Mapping[str, str]) -> None:
        lines = ["# BEGIN RECORD 2.1.8", *(f"{k} = {v}" for k, v in values.items()), "# END RECORD"]
        self.host.write_file(path, "\n".join(lines) + "\n", mode=0o600)

    def _read_record(self, path: str) -> dict[str, str]:
        out: dict[str, str] = {}
        for line in (self.host.read_file(path) or "").splitlines():
            key, sep, value = line.partition("=")
            if sep and not line.startswith("#"):
                out[key.strip()] = value.strip()
        return out

    def _add_disk(self, iqn: str, portal: str, lun: Lun) -> None:
        index = next(self._sd)
        name = "sd" + (chr(ord("a") + index) if index < 26 else f"a{chr(ord('a') + index % 26)}{index}")
        disk = ScsiDisk(name, iqn, portal, lun.lun, lun.wwid, lun.size_bytes)
        self.disks[name] = disk
        self.host.add_block_device(f"/dev/{name}", lun.size_bytes)
        self.host.make_dir(f"/sys/block/{name}/device")
        self.host.add_link(by_path_link(portal, iqn, lun.lun), f"../../{name}")

    def _remove_disk(self, name: str) -> None:
        disk = self.disks.pop(name, None)
        if disk is None:
            return
        self.host.block_devices.pop(f"/dev/{name}", None)
        for path in [d for d in self.host.dirs if d == f"/sys/block/{name}" or d.startswith(f"/sys/block/{name}/")]:
            self.host.dirs.discard(path)
        self.host.links.pop(by_path_link(disk.portal, disk.iqn, disk.lun), None)
        for dm in self.maps.values():
            self.host.files.pop(f"/sys/block/{dm}/slaves/{name}", None)

    def _sys_delete(self, path: str, text: str) -> None:
        name = path.split("/")[3]
        if name not in self.disks:
            raise FileNotFoundError(path)
        self._remove_disk(name)

    def _sys_rescan(self, path: str, text: str) -> None:
        disk = self.disks.get(path.split("/")[3])
        if disk is None:
            raise FileNotFoundError(path)
        for lun in self.fabric.luns(disk.iqn, self.initiator):
            if lun.lun == disk.lun:
                disk.size = lun.size_bytes
                self.host.block_devices[f"/dev/{disk.name}"] = lun.size_bytes

    # multipath
    def _paths_of(self, wwid: str) -> list[ScsiDisk]:
        return [d for d in self.disks.values() if d.wwid == wwid]

    def _ensure_map(self, wwid: str) -> bool:
        paths = self._paths_of(wwid)
        if wwid not in self.wwids or not paths:
            return False
        dm = self.maps.get(wwid)
        if dm is None:
            dm = f"dm-{next(self._dm)}"
            self.maps[wwid] = dm
            self.host.add_link(f"/dev/mapper/{wwid}", f"../{dm}")
        self.host.add_block_device(f"/dev/{dm}", min(d.size for d in paths))
        for disk in paths:
            self.host.files[f"/sys/block/{dm}/slaves/{disk.name}"] = ""
        self.host.dirs.add(f"/sys/block/{dm}/slaves")
        return True

    def _map_in_use(self, wwid: str) -> bool:
        dm = self.maps.get(wwid, "")
        sources = {f"/dev/mapper/{wwid}", f"/dev/{dm}"}
        return any(m.source in sources for m in self.host.mounts)

    def _multipath(self, a: list[str]) -> tuple[int, str, str]:
        if a[1:2] == ["-a"]:
            self.wwids.add(a[2])
            return 0, f"wwid '{a[2]}' added\n", ""
        if a[1:2] == ["-w"]:
            self.wwids.discard(a[2])
            return 0, "", ""
        if a[1:2] == ["-f"]:
            wwid = a[2]
            if wwid not in self.maps:
                return 1, "", f"{wwid}: map does not exist"
            if self._map_in_use(wwid):
                return 1, "", f"{wwid}: map in use"
            dm = self.maps.pop(wwid)
            self.host.links.pop(f"/dev/mapper/{wwid}", None)
            self.host.block_devices.pop(f"/dev/{dm}", None)
            for path in [f for f in self.host.files if f.startswith(f"/sys/block/{dm}/")]:
                del self.host.files[path]
            self.host.dirs.discard(f"/sys/block/{dm}/slaves")
            return 0, "", ""
        if len(a) == 2:
            return (0, "", "") if self._ensure_map(a[1]) else (1, "", "no paths")
        return 1, "", f"multipath: unsupported {shlex.join(a)}"

    def _multipathd(self, a: list[str]) -> tuple[int, str, str]:
        words = a[1:]
        if words == ["reconfigure"]:
            return 0, "ok\n", ""
        if words[:2] == ["add", "path"]:
            disk = self.disks.get(posixpath.basename(words[2]))
            if disk is None:
                return 1, "fail\n", ""
            self._ensure_map(disk.wwid)
            return 0, "ok\n", ""
        if words[:2] == ["resize", "map"]:
            return (0, "ok\n", "") if self._ensure_map(words[2]) else (1, "fail\n", "")
        if words[:3] == ["show", "paths", "raw"]:
            lines = [f"{d.wwid}|{d.name}|active|ready" for d in self.disks.values() if d.wwid in self.maps]
            return 0, "\n".join(lines) + ("\n" if lines else ""), ""
        return 1, "", f"multipathd: unsupported {shlex.join(a)}"

    # mounts and file systems
    def _device_wwid(self, device: str) -> str | None:
        real = self.host.realpath(device)
        for wwid, dm in self.maps.items():
            if real == f"/dev/{dm}":
                return wwid
        name = posixpath.basename(real)
        return self.disks[name].wwid if name in self.disks else None

    def _blkid(self, a: list[str]) -> tuple[int, str, str]:
        wwid = self._device_wwid(a[-1])
        if wwid is None:
            return 2, "", ""
        fs = self.filesystems.get(wwid)
        if not fs:
            return 2, "", ""
        fs_type, _, fs_uuid = fs.partition(" ")
        return 0, f"DEVNAME={a[-1]}\nUUID={fs_uuid}\nTYPE={fs_type}\n", ""

    def _mkfs(self, a: list[str]) -> tuple[int, str, str]:
        wwid = self._device_wwid(a[-1])
        if wwid is None or not self.host.is_block_device(a[-1]):
            return 1, "", f"{a[-1]}: no such device"
        fs_uuid = a[a.index("-U") + 1] if "-U" in a else ""
        for option in (a[i + 1] for i, arg in enumerate(a[:-1]) if arg == "-m"):
            fs_uuid = option.removeprefix("uuid=") if option.startswith("uuid=") else fs_uuid
        self.filesystems[wwid] = f"{a[0].removeprefix('mkfs.')} {fs_uuid}".strip()
        return 0, "", ""

    def _blockdev(self, a: list[str]) -> tuple[int, str, str]:
        device = self.host.realpath(a[-1])
        if device not in self.host.block_devices:
            return 1, "", f"blockdev: cannot open {a[-1]}"
        if a[1] == "--getsize64":
            return 0, f"{self.host.block_devices[device]}\n", ""
        return 0, "", ""

    def _target_exists(self, target: str) -> bool:
        return self.host.exists(target)

    def _mount(self, a: list[str]) -> tuple[int, str, str]:
        target = a[-1]
        if a[1:3] == ["-o", "remount,bind,ro"]:
            for i in range(len(self.host.mounts) - 1, -1, -1):
                m = self.host.mounts[i]
                if m.target == target:
                    self.host.mounts[i] = MountEntry(m.source, m.target, m.fstype, ("ro", "relatime"), m.root)
                    return 0, "", ""
            return 32, "", f"mount: {target}: not mounted"
        if not self._target_exists(target):
            return 32, "", f"mount: {target}: mount point does not exist"
        source = a[-2]
        if a[1] == "--bind":
            if self.host.is_block_device(source):
                self.host.mounts.append(MountEntry(source, target, "devtmpfs", ("rw", "relatime"), "/"))
                return 0, "", ""
            under = next((m for m in reversed(self.host.mounts) if m.target == source), None)
            if under is None:
                return 32, "", f"mount: {source}: not a simulated mount"
            self.host.mounts.append(MountEntry(under.source, target, under.fstype, ("rw", "relatime"), "/"))
            return 0, "", ""
        fstype = self._opt(a, "-t")
        wwid = self._device_wwid(source)
        if wwid is None or self.filesystems.get(wwid, "").split(" ")[0] != fstype:
            return 32, "", f"mount: {target}: wrong fs type, bad option, bad superblock on {source}"
        opts = self._opt(a, "-o")
        ro = "ro" in opts.split(",")
        self.host.mounts.append(MountEntry(source, target, fstype, ("ro" if ro else "rw", "relatime"), "/"))
        return 0, "", ""

    def _umount(self, a: list[str]) -> tuple[int, str, str]:
        for i in range(len(self.host.mounts) - 1, -1, -1):
            if self.host.mounts[i].target == a[-1]:
                del self.host.mounts[i]
                return 0, "", ""
        return 32, "", f"umount: {a[-1]}: not mounted"

    def commands(self, *prefix: str) -> list[list[str]]:
        return self._runner.commands(*prefix)

    # leak checks
    def leftovers(self) -> dict[str, object]:
        return {
            "sessions": sorted(self.sessions),
            "records": sorted(self.records),
            "disks": sorted(self.disks),
            "maps": sorted(self.maps),
            "mounts": [m.target for m in self.host.mounts],
            "wwids": sorted(self.wwids),
        }
