"""The sandbox's node host: files, /dev, /sys and the mount table in memory.

:class:`MemoryHost` is a :class:`~nearpath.csi.host.Host`; paths outside ``memory_prefixes`` go to
the real file system (csi-sanity's target directories are real). Test double, see
:mod:`nearpath.csi.sandbox`.
"""

from __future__ import annotations

import itertools
import posixpath
from collections.abc import Callable, Sequence

from nearpath.csi.host import FsStats, LocalHost
from nearpath.csi.mount import MountEntry


class MemoryHost:
    """:class:`~nearpath.csi.host.Host` with system paths in memory."""

    def __init__(self, memory_prefixes: Sequence[str] = ("/",)) -> None:
        self.memory_prefixes = tuple(memory_prefixes)
        self.modes: dict[str, int] = {}
        """Mode each in-memory file was last written with."""
        self.real = LocalHost()
        self.files: dict[str, str] = {}
        self.dirs: set[str] = {"/"}
        self.links: dict[str, str] = {}
        self.block_devices: dict[str, int] = {}  # path -> size
        self.mounts: list[MountEntry] = []
        self.write_hooks: dict[str, Callable[[str, str], None]] = {}  # path suffix -> hook(path, text)
        self.sleeps: list[float] = []
        self.now = 0.0

    def _mem(self, path: str) -> bool:
        return any(path == p.rstrip("/") or path.startswith(p) for p in self.memory_prefixes)

    def _resolve(self, path: str) -> str:
        for _ in range(32):
            if path in self.links:
                target = self.links[path]
                path = (
                    target
                    if target.startswith("/")
                    else posixpath.normpath(posixpath.join(posixpath.dirname(path), target))
                )
            else:
                return path
        return path

    def _add_parents(self, path: str) -> None:
        parent = posixpath.dirname(path)
        while parent not in self.dirs:
            self.dirs.add(parent)
            parent = posixpath.dirname(parent)

    # Host protocol
    def read_file(self, path: str) -> str | None:
        if path == "/proc/self/mountinfo":
            return self.render_mountinfo()
        if not self._mem(path):
            return self.real.read_file(path)
        return self.files.get(self._resolve(path))

    def write_file(self, path: str, text: str, mode: int = 0o644) -> None:
        if not self._mem(path):
            self.real.write_file(path, text, mode)
            return
        self.modes[path] = mode
        for suffix, hook in self.write_hooks.items():
            if path.endswith(suffix):
                hook(path, text)
                return
        if path.startswith("/sys/"):
            raise FileNotFoundError(path)
        self._add_parents(path)
        self.files[path] = text

    def remove_file(self, path: str) -> None:
        if not self._mem(path):
            self.real.remove_file(path)
            return
        self.files.pop(path, None)
        self.links.pop(path, None)

    def exists(self, path: str) -> bool:
        if not self._mem(path):
            return self.real.exists(path)
        return path in self.files or path in self.dirs or path in self.links or path in self.block_devices

    def is_dir(self, path: str) -> bool:
        return self.real.is_dir(path) if not self._mem(path) else path in self.dirs

    def is_block_device(self, path: str) -> bool:
        return self._resolve(path) in self.block_devices if self._mem(path) else self.real.is_block_device(path)

    def realpath(self, path: str) -> str:
        return self._resolve(path) if self._mem(path) else self.real.realpath(path)

    def list_dir(self, path: str) -> list[str]:
        if not self._mem(path):
            return self.real.list_dir(path)
        prefix = path.rstrip("/") + "/"
        names = set()
        for entry in itertools.chain(self.files, self.dirs, self.links, self.block_devices):
            if entry.startswith(prefix):
                names.add(entry[len(prefix) :].split("/", 1)[0])
        return sorted(names)

    def make_dir(self, path: str) -> None:
        if not self._mem(path):
            self.real.make_dir(path)
            return
        self._add_parents(path)
        self.dirs.add(path)

    def make_file(self, path: str) -> None:
        if not self._mem(path):
            self.real.make_file(path)
            return
        self._add_parents(path)
        self.files.setdefault(path, "")

    def remove_dir(self, path: str) -> None:
        if not self._mem(path):
            self.real.remove_dir(path)
            return
        self.dirs.discard(path)

    def fs_stats(self, path: str) -> FsStats:
        mount = next((m for m in reversed(self.mounts) if m.target == path), None)
        if mount is not None and self._resolve(mount.source) in self.block_devices:
            total = self.block_devices[self._resolve(mount.source)]
            used = min(total, 64 << 20)
            return FsStats(total, total - used, used, total // 16384, total // 16384 - 11, 11)
        return self.real.fs_stats(path)

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def monotonic(self) -> float:
        return self.now

    # helpers
    def add_link(self, path: str, target: str) -> None:
        self._add_parents(path)
        self.links[path] = target

    def add_block_device(self, path: str, size: int) -> None:
        self._add_parents(path)
        self.block_devices[path] = size

    def render_mountinfo(self) -> str:
        lines = []
        for i, m in enumerate(self.mounts, start=100):
            target = m.target.replace(" ", "\\040")
            lines.append(f"{i} 1 0:{i} {m.root} {target} {','.join(m.options)} shared:1 - {m.fstype} {m.source} rw")
        return "\n".join(lines) + ("\n" if lines else "")
