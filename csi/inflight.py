"""Per-volume in-flight guard: a second operation on a busy volume gets ABORTED (CSI's rule)."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

from nearpath.core.errors import Aborted


class InFlight:
    def __init__(self) -> None:
        self._busy: set[str] = set()
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def guard(self, *keys: str) -> Iterator[None]:
        """Hold ``keys`` (volume ids or names) for the block; raise Aborted if one is held."""
        wanted = [k for k in keys if k]
        with self._lock:
            busy = [k for k in wanted if k in self._busy]
            if busy:
                raise Aborted(f"an operation on {busy[0]!r} is already in progress; retry later")
            self._busy.update(wanted)
        try:
            yield
        finally:
            with self._lock:
                self._busy.difference_update(wanted)

    def busy(self, key: str) -> bool:
        with self._lock:
            return key in self._busy
