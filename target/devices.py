"""What is at a disk's path on this node (the agent's only look at devices and files)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from nearpath.target.model import DeviceFacts, TargetConfigError

SYS_BLOCK = Path("/sys/class/block")


def probe(path: str, sys_block: Path = SYS_BLOCK) -> DeviceFacts:
    """Existence, kind, size and discard support of ``path`` (symlinks followed)."""
    try:
        st = os.stat(path)
    except OSError:
        return DeviceFacts(exists=False)
    if stat.S_ISREG(st.st_mode):
        return DeviceFacts(exists=True, is_block=False, size_bytes=st.st_size)
    if not stat.S_ISBLK(st.st_mode):
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
