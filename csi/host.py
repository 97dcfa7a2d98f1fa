"""The node's file-system edge: everything the node plugin reads or writes on the host
besides running commands (initiator name, /sys, /proc/self/mountinfo, /dev, mount points,
its own state files). Unit tests and the sandbox replace it; :class:`LocalHost` is the real one.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
import time
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class FsStats:
    total_bytes: int
    available_bytes: int
    used_bytes: int
    total_inodes: int
    free_inodes: int
    used_inodes: int


class Host(Protocol):
    def read_file(self, path: str) -> str | None:
        """The file's text, or None when it does not exist."""
        ...

    def write_file(self, path: str, text: str, mode: int = 0o644) -> None:
        """Write ``text`` (atomically for regular files, with ``mode``; plainly for /sys attributes)."""
        ...

    def remove_file(self, path: str) -> None:
        """Remove a file; missing is fine."""
        ...

    def exists(self, path: str) -> bool: ...

    def is_dir(self, path: str) -> bool: ...

    def is_block_device(self, path: str) -> bool: ...

    def realpath(self, path: str) -> str: ...

    def list_dir(self, path: str) -> list[str]:
        """Entry names, [] when the directory does not exist."""
        ...

    def make_dir(self, path: str) -> None: ...

    def make_file(self, path: str) -> None:
        """Create an empty file (a bind-mount target for block volumes) and its parents."""
        ...

    def remove_dir(self, path: str) -> None:
        """Remove an empty directory; missing is fine."""
        ...

    def fs_stats(self, path: str) -> FsStats: ...

    def sleep(self, seconds: float) -> None: ...

    def monotonic(self) -> float: ...


class LocalHost:
    """The real host."""

    def read_file(self, path: str) -> str | None:
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                return f.read()
        except (FileNotFoundError, NotADirectoryError):
            return None

    def write_file(self, path: str, text: str, mode: int = 0o644) -> None:
        if path.startswith("/sys/"):
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
            return
        directory = os.path.dirname(path) or "."
        os.makedirs(directory, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".nearpath-")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
                f.flush()
                os.fsync(f.fileno())
            os.chmod(tmp, mode)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise

    def remove_file(self, path: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)

    def exists(self, path: str) -> bool:
        return os.path.lexists(path)

    def is_dir(self, path: str) -> bool:
        return os.path.isdir(path)

    def is_block_device(self, path: str) -> bool:
        try:
            return stat.S_ISBLK(os.stat(path).st_mode)
        except OSError:
            return False

    def realpath(self, path: str) -> str:
        return os.path.realpath(path)

    def list_dir(self, path: str) -> list[str]:
        try:
            return sorted(os.listdir(path))
        except (FileNotFoundError, NotADirectoryError):
            return []

    def make_dir(self, path: str) -> None:
        os.makedirs(path, exist_ok=True)

    def make_file(self, path: str) -> None:
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        with open(path, "a", encoding="utf-8"):
            pass

    def remove_dir(self, path: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.rmdir(path)

    def fs_stats(self, path: str) -> FsStats:
        st = os.statvfs(path)
        total = st.f_blocks * st.f_frsize
        free = st.f_bfree * st.f_frsize
        return FsStats(
            total_bytes=total,
            available_bytes=st.f_bavail * st.f_frsize,
            used_bytes=total - free,
            total_inodes=st.f_files,
            free_inodes=st.f_ffree,
            used_inodes=st.f_files - st.f_ffree,
        )

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)

    def monotonic(self) -> float:
        return time.monotonic()
