"""Erase a released disk before anyone can claim it again (issue 15, C3).

A VolumeGroup carrying the finalizer ``nearpath.io/wipe`` (every group the CSI driver creates;
admins may add it to their own) is erased by a target agent once it is being deleted and no
node serves it any more; the agent then removes the finalizer, and only then does the object
go away and its device become claimable.

What "erase" means, per kind (the choice is logged with the time it took):

- block device: ``blkdiscard --zeroout`` over the whole device (BLKZEROOUT: every block reads
  back as zeros). Where the queue advertises WRITE ZEROES (``write_zeroes_max_bytes > 0``) the
  device does it itself, usually at UNMAP speed on thin or SSD-backed LUNs; elsewhere the
  kernel writes zero pages, at the device's write speed;
- a block device without WRITE ZEROES larger than ``full_zero_limit`` (setting
  ``NEARPATH_FULL_ZERO_LIMIT_BYTES``, default 64 GiB, where writing zeros would take hours):
  ``wipefs --all`` (every file-system, RAID and partition-table signature), then zeros over the
  first and the last MiB (``dd``, flushed), after a discard (``blkdiscard``) where supported.
  The middle of such a device is not zeroed: a raw-block consumer of the next volume could read
  old blocks there. NodeStage never mounts a file system it did not create for its volume
  (file-system UUID), so file-system consumers never see them;
- a `local` sparse file the agent created: unlinked, and the group's directory removed.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

from nearpath.core.errors import CommandError
from nearpath.core.runner import Runner
from nearpath.target.confinement import HostView

log = logging.getLogger("nearpath.target.wipe")

MIB = 1 << 20
FULL_ZERO_LIMIT = 64 << 30
WIPE_TIMEOUT_SECONDS = 3600.0
SHORT_TIMEOUT_SECONDS = 120.0


@dataclass(frozen=True)
class WipeResult:
    path: str
    method: str
    seconds: float


def wipe_device(
    runner: Runner, path: str, size_bytes: int, host: HostView, full_zero_limit: int = FULL_ZERO_LIMIT
) -> WipeResult:
    """Erase block device ``path`` (``size_bytes`` long) as the module says; raises CommandError."""
    started = time.monotonic()
    name = Path(os.path.realpath(path)).name
    queue = _queue(host.sys_block, name)
    offloaded = _read_int(queue / "write_zeroes_max_bytes") > 0
    if offloaded or size_bytes <= full_zero_limit:
        runner.run(["blkdiscard", "--zeroout", path], timeout=WIPE_TIMEOUT_SECONDS)
        method = "blkdiscard --zeroout" + ("" if offloaded else " (zero pages)")
    else:
        method = "wipefs + zero first/last MiB"
        if _read_int(queue / "discard_max_bytes") > 0:
            try:
                runner.run(["blkdiscard", path], timeout=WIPE_TIMEOUT_SECONDS)
                method = "blkdiscard + wipefs + zero first/last MiB"
            except CommandError as exc:
                log.warning("discard failed; zeroing the ends only", extra={"device": path, "error": exc.message})
        runner.run(["wipefs", "--all", "--force", path], timeout=SHORT_TIMEOUT_SECONDS)
        _zero_ends(runner, path, size_bytes)
    result = WipeResult(path, method, time.monotonic() - started)
    log.info("device erased", extra={"device": path, "method": method, "seconds": round(result.seconds, 3)})
    return result


def _zero_ends(runner: Runner, path: str, size_bytes: int) -> None:
    block = 4096 if size_bytes % 4096 == 0 else 512
    dd = ["dd", "if=/dev/zero", f"of={path}", f"bs={block}", f"count={MIB // block}", "conv=notrunc,fsync"]
    runner.run(dd, timeout=SHORT_TIMEOUT_SECONDS)
    if size_bytes > MIB:
        runner.run([*dd, f"seek={(size_bytes - MIB) // block}"], timeout=SHORT_TIMEOUT_SECONDS)


def remove_local_file(path: str) -> WipeResult:
    """Unlink a `local` disk's sparse file and its (then empty) group directory."""
    started = time.monotonic()
    file = Path(path)
    try:
        file.unlink(missing_ok=True)
        file.parent.rmdir()
    except FileNotFoundError:
        pass
    except OSError as exc:
        if exc.errno != 39:  # ENOTEMPTY: another disk of the group is still there
            raise
    return WipeResult(path, "unlink", time.monotonic() - started)


def _queue(sys_block: Path, name: str) -> Path:
    queue = sys_block / name / "queue"
    if queue.exists():
        return queue
    return Path(os.path.realpath(sys_block / name)).parent / "queue"  # a partition: its disk's queue


def _read_int(path: Path) -> int:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 0
