"""May this node hand a disk path to LIO? The agent's apply-time check (issue 15, C1).

The models and the API server check a path's text (``nearpath.core.paths``); only the node
sees what it names. Before a path reaches LIO (or a sparse file is created) the agent:

1. re-checks the text and the admin's prefix allow-list on the path as written;
2. resolves symlinks and checks the result again: a block device must be a device node
   under ``/dev/``; anything else (a regular file, or a file still to be created) must lie,
   resolved, inside an allowed prefix and inside the group's own directory
   ``<prefix>/<namespace>/<name>/`` (so no group reaches another group's file), and never on
   ``/dev`` (devtmpfs is RAM);
3. refuses a block device that is mounted, is swap, is held by device-mapper/md/LVM, has a
   partition in use, or backs the node's root filesystem.

A refusal is a :class:`PathRefused` whose message starts with the spec field it came from.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from nearpath.core import paths
from nearpath.core.api import BackingType, VolumeGroup
from nearpath.target.model import TargetConfigError

DEV = "/dev/"


class PathRefused(TargetConfigError):
    """A disk path this node will not serve; the message names the field and the reason."""


@dataclass(frozen=True)
class HostView:
    """Where the agent reads the host's mounts, swaps and block-device tree."""

    proc: Path = Path("/proc")
    """The host's /proc (``<proc>/1/mountinfo`` is the host's mount table when mounted from the host)."""
    sys_block: Path = Path("/sys/class/block")
    extra_mountinfo: tuple[Path, ...] = (Path("/proc/self/mountinfo"),)
    dev: str = DEV
    """Where device nodes live; a block device resolving elsewhere is refused."""


@dataclass(frozen=True)
class PathPolicy:
    allowed_prefixes: tuple[str, ...] = paths.DEFAULT_ALLOWED_PREFIXES
    host: HostView = field(default_factory=HostView)


def disk_path_field(vg: VolumeGroup, disk_name: str, node: str) -> str:
    """The spec field a disk's path on ``node`` comes from (for messages)."""
    index = next(i for i, d in enumerate(vg.spec.disks) if d.name == disk_name)
    source = vg.spec.disks[index].source
    if source is not None:
        for j, entry in enumerate(source.node_paths or []):
            if entry.node == node:
                return f"spec.disks[{index}].source.nodePaths[{j}].path"
        if source.path:
            return f"spec.disks[{index}].source.path"
    if vg.spec.backing.type is BackingType.LOCAL:
        return "spec.backing.local.directory"
    return f"spec.disks[{index}].source"


def check_disk_path(
    vg: VolumeGroup, disk_name: str, node: str, path: str, policy: PathPolicy, *, creates: bool = False
) -> None:
    """Raise :class:`PathRefused` unless ``path`` may back ``disk_name`` of ``vg`` on this node.

    ``creates``: the agent is about to create ``path`` (a `local` disk's sparse file).
    """
    where = disk_path_field(vg, disk_name, node)
    try:
        _check(path, vg.metadata.namespace, vg.metadata.name, policy, creates)
    except PathRefused as exc:
        raise PathRefused(f"{where}: {exc.message}") from None


def _check(path: str, namespace: str, name: str, policy: PathPolicy, creates: bool) -> None:
    problem = paths.path_problem(path)
    if problem:
        raise PathRefused(problem)
    allowed = policy.allowed_prefixes
    if not paths.under_prefixes(path, allowed):
        raise PathRefused(f"{path} is outside the allowed prefixes ({paths.prefixes_text(allowed)})")
    resolved = os.path.realpath(path)
    try:
        st: os.stat_result | None = os.stat(resolved)
    except OSError:
        st = None
    if st is None and not creates:
        return  # nothing there yet: the probe reports it missing; checked again when it appears
    if st is not None and stat.S_ISBLK(st.st_mode):
        if not resolved.startswith(policy.host.dev):
            raise PathRefused(f"{path} resolves to {resolved}, a block device node outside {policy.host.dev}")
        _check_device_free(path, st.st_rdev, policy.host)
        return
    if st is not None and not stat.S_ISREG(st.st_mode):
        raise PathRefused(f"{path} resolves to {resolved}, neither a block device nor a regular file")
    _check_file(path, resolved, namespace, name, policy)


def _check_file(path: str, resolved: str, namespace: str, name: str, policy: PathPolicy) -> None:
    allowed = policy.allowed_prefixes
    if paths.under_prefixes(resolved, [policy.host.dev]):
        raise PathRefused(f"{path} resolves to {resolved}: files on /dev (devtmpfs, RAM) are refused")
    if not paths.under_prefixes(resolved, allowed):
        raise PathRefused(f"{path} resolves to {resolved}, outside the allowed prefixes")
    parent = Path(resolved).parent
    if parent.parts[-2:] != (namespace, name) or not paths.under_prefixes(str(parent.parent.parent), allowed):
        raise PathRefused(
            f"{path} resolves to {resolved}: a file must lie in this group's own directory "
            f"<allowed prefix>/{namespace}/{name}/"
        )


def _check_device_free(path: str, rdev: int, host: HostView) -> None:
    name = _block_name(host.sys_block, rdev)
    if name is None:
        raise PathRefused(f"{path}: block device {os.major(rdev)}:{os.minor(rdev)} is not in {host.sys_block}")
    in_use = devices_in_use(host)
    if name in in_use:
        raise PathRefused(f"{path} ({name}) is in use: {in_use[name]}")
    holders = _entries(host.sys_block / name / "holders")
    if holders:
        raise PathRefused(f"{path} ({name}) is held by {', '.join(holders)} (device-mapper, md or LVM)")
    for part in _partitions(host.sys_block, name):
        if part in in_use or _entries(host.sys_block / part / "holders"):
            raise PathRefused(f"{path} ({name}) has partition {part} in use")


def devices_in_use(host: HostView) -> dict[str, str]:
    """Block device name -> why it is in use: mounted or swap, with what it stacks on."""
    found: dict[str, str] = {}
    for devno, mountpoint in _mounted(host):
        name = _block_name(host.sys_block, devno)
        if name is None:
            continue
        reason = "backs the node's root filesystem" if mountpoint == "/" else f"mounted at {mountpoint}"
        _mark(host.sys_block, name, reason, found)
    for name in _swaps(host.proc / "swaps"):
        _mark(host.sys_block, name, "used as swap", found)
    return found


def _mark(sys_block: Path, name: str, reason: str, found: dict[str, str]) -> None:
    """Mark ``name``, the disk it is a partition of, and everything it stacks on (slaves)."""
    stack, seen = [name], set()
    while stack:
        current = stack.pop()
        if current in seen:
            continue
        seen.add(current)
        if current not in found or reason.startswith("backs the node's root"):
            found[current] = reason
        stack += _entries(sys_block / current / "slaves")
        if (sys_block / current / "partition").exists():
            parent = Path(os.path.realpath(sys_block / current)).parent.name
            stack.append(parent)


def _mounted(host: HostView) -> list[tuple[int, str]]:
    out: list[tuple[int, str]] = []
    for source in (host.proc / "1" / "mountinfo", *host.extra_mountinfo):
        try:
            text = source.read_text()
        except OSError:
            continue
        out += _parse_mountinfo(text)
    return out


def _parse_mountinfo(text: str) -> Iterable[tuple[int, str]]:
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 5 or ":" not in fields[2]:
            continue
        major, _, minor = fields[2].partition(":")
        if not (major.isdigit() and minor.isdigit()) or int(major) == 0:
            continue  # anonymous devices: tmpfs, overlay, proc, btrfs subvolumes...
        yield os.makedev(int(major), int(minor)), fields[4].replace("\\040", " ")


def _swaps(path: Path) -> list[str]:
    try:
        lines = path.read_text().splitlines()[1:]
    except OSError:
        return []
    return [Path(os.path.realpath(line.split()[0])).name for line in lines if line.split()]


def _block_name(sys_block: Path, devno: int) -> str | None:
    """The kernel name (sda, dm-3, vdb1) of block device ``devno``, from sysfs."""
    wanted = f"{os.major(devno)}:{os.minor(devno)}"
    for entry in _entries(sys_block):
        try:
            if (sys_block / entry / "dev").read_text().strip() == wanted:
                return entry
        except OSError:
            continue
    return None


def _partitions(sys_block: Path, disk: str) -> list[str]:
    return [e for e in _entries(sys_block / disk) if (sys_block / disk / e / "partition").exists()]


def _entries(directory: Path) -> list[str]:
    try:
        return sorted(os.listdir(directory))
    except OSError:
        return []
