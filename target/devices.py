"""What is at a disk's path on this node (the agent's only look at devices and files)."""

from __future__ import annotations

import mmap
import os
import stat
from collections.abc import Callable
from pathlib import Path

from nearpath.target.model import DeviceFacts, TargetConfigError

SYS_BLOCK = Path("/sys/class/block")


READ_CHECK_BYTES = 4096


def readable(path: str) -> bool:
    """One O_DIRECT read of the first 4 KiB reaches the device: False when the backend fails it (EIO
    from a lost SAN path, dm-error, a removed disk). LIO answers TEST UNIT READY and NOP-Out without
    its backend, so this is the agent's only look at the backend itself (H10)."""
    buffer = mmap.mmap(-1, READ_CHECK_BYTES)  # page aligned, as O_DIRECT wants
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECT", 0))
    except OSError:
        return False
    try:
        os.readv(fd, [buffer])
    except OSError:
        return False
    finally:
        os.close(fd)
        buffer.close()
    return True


def probe(path: str, sys_block: Path = SYS_BLOCK, read_check: Callable[[str], bool] = readable) -> DeviceFacts:
    """Existence, kind, size and discard support of ``path`` (symlinks followed). A block device
    whose first block cannot be read counts as absent."""
    try:
        st = os.stat(path)
    except OSError:
        return DeviceFacts(exists=False)
    if stat.S_ISREG(st.st_mode):
        return DeviceFacts(exists=True, is_block=False, size_bytes=st.st_size)
    if not stat.S_ISBLK(st.st_mode) or not read_check(path):
        return DeviceFacts(exists=False)
    name = Path(os.path.realpath(path)).name
    size = _read_int(sys_block / name / "size") * 512
    discard = _read_int(sys_block / name / "queue" / "discard_max_bytes") > 0
    if not (sys_block / name / "queue").exists():  # a partition: its queue is the disk's
        discard = _read_int(sys_block / name / ".." / "queue" / "discard_max_bytes") > 0
    return DeviceFacts(exists=True, is_block=True, size_bytes=size, discard=discard)


def inside_directory(path: str, directory: str) -> bool:
    """Whether ``path`` (normalised, no ``..`` escape) lies strictly below ``directory``."""
    if not os.path.isabs(path) or not os.path.isabs(directory):
        return False
    base = os.path.normpath(directory)
    return os.path.commonpath([os.path.normpath(path), base]) == base and os.path.normpath(path) != base


def ensure_sparse_file(path: str, size_bytes: int) -> bool:
    """Create ``path`` as a sparse file of ``size_bytes`` (for `local` disks without a source).

    Grows an existing smaller file; never shrinks or touches a larger one. True if it changed.
    """
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.exists():
            if not target.is_file():
                raise TargetConfigError(f"{path} exists and is not a regular file")
            if target.stat().st_size >= size_bytes:
                return False
        with open(target, "ab") as handle:
            handle.truncate(size_bytes)
    except OSError as exc:
        raise TargetConfigError(f"cannot create sparse file {path}: {exc.strerror}") from exc
    return True


def _read_int(path: Path) -> int:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 0
