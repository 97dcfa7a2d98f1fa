"""Mounts, file systems and block-device queries via the core runner (mountinfo via the host edge)."""

from __future__ import annotations

from dataclasses import dataclass

from nearpath.core.errors import InvalidArgument
from nearpath.core.runner import Runner
from nearpath.csi.host import Host

SUPPORTED_FS = ("ext4", "xfs")
BLKID_NOTHING_FOUND = 2


@dataclass(frozen=True)
class MountEntry:
    source: str
    target: str
    fstype: str
    options: tuple[str, ...]
    root: str

    @property
    def read_only(self) -> bool:
        return "ro" in self.options


def _unescape(field: str) -> str:
    return field.replace("\\040", " ").replace("\\011", "\t").replace("\\012", "\n").replace("\\134", "\\")


def parse_mountinfo(text: str) -> list[MountEntry]:
    out = []
    for line in text.splitlines():
        left, sep, right = line.partition(" - ")
        if not sep:
            continue
        lfields = left.split()
        rfields = right.split()
        if len(lfields) < 6 or len(rfields) < 2:
            continue
        out.append(
            MountEntry(
                source=_unescape(rfields[1]),
                target=_unescape(lfields[4]),
                fstype=rfields[0],
                options=tuple(lfields[5].split(",")),
                root=_unescape(lfields[3]),
            )
        )
    return out


class Mounter:
    def __init__(self, runner: Runner, host: Host, timeout: float, mkfs_timeout: float) -> None:
        self.runner = runner
        self.host = host
        self.timeout = timeout
        self.mkfs_timeout = mkfs_timeout

    def mounts(self) -> list[MountEntry]:
        return parse_mountinfo(self.host.read_file("/proc/self/mountinfo") or "")

    def mount_at(self, target: str) -> MountEntry | None:
        """The top-most mount on ``target``."""
        found = [m for m in self.mounts() if m.target == target.rstrip("/") or m.target == target]
        return found[-1] if found else None

    def signature(self, device: str) -> tuple[str, str]:
        """The signature on ``device`` and its UUID (("", "") when it is empty)."""
        res = self.runner.run(
            ["blkid", "-p", "-s", "TYPE", "-s", "PTTYPE", "-s", "UUID", "-o", "export", device],
            timeout=self.timeout,
            ok_codes=(0, BLKID_NOTHING_FOUND),
        )
        if res.returncode == BLKID_NOTHING_FOUND:
            return "", ""
        values = dict(line.split("=", 1) for line in res.stdout.splitlines() if "=" in line)
        if "TYPE" in values:
            return values["TYPE"], values.get("UUID", "")
        if "PTTYPE" in values:
            return f"partition table {values['PTTYPE']}", ""
        return "unknown", ""

    def mkfs(self, device: str, fstype: str, fs_uuid: str) -> None:
        """Make a ``fstype`` file system with UUID ``fs_uuid`` (the volume's mark, see volume_ids)."""
        if fstype == "ext4":
            argv = ["mkfs.ext4", "-q", "-m", "0", "-U", fs_uuid, "-E", "nodiscard,lazy_itable_init=1", device]
        elif fstype == "xfs":
            argv = ["mkfs.xfs", "-q", "-K", "-m", f"uuid={fs_uuid}", device]
        else:
            raise InvalidArgument(f"fsType {fstype!r} is not supported (use one of {', '.join(SUPPORTED_FS)})")
        self.runner.run(argv, timeout=self.mkfs_timeout)

    def mount(self, device: str, target: str, fstype: str, options: list[str]) -> None:
        argv = ["mount", "-t", fstype]
        if options:
            argv += ["-o", ",".join(options)]
        self.runner.run([*argv, device, target], timeout=self.timeout)

    def bind(self, source: str, target: str, read_only: bool) -> None:
        self.runner.run(["mount", "--bind", source, target], timeout=self.timeout)
        if read_only:
            self.runner.run(["mount", "-o", "remount,bind,ro", target], timeout=self.timeout)

    def unmount(self, target: str) -> None:
        self.runner.run(["umount", target], timeout=self.timeout)

    def device_size(self, device: str) -> int:
        res = self.runner.run(["blockdev", "--getsize64", device], timeout=self.timeout)
        return int(res.stdout.strip())

    def flush_buffers(self, device: str) -> None:
        self.runner.run(["blockdev", "--flushbufs", device], timeout=self.timeout)

    def grow_fs(self, device: str, mount_path: str, fstype: str) -> None:
        if fstype == "xfs":
            self.runner.run(["xfs_growfs", mount_path], timeout=self.mkfs_timeout)
        else:
            self.runner.run(["resize2fs", device], timeout=self.mkfs_timeout)
