"""The asyncio side: a de-duplicating work queue of VolumeGroup keys, workers, health polling.

- Watch events (from kopf) and Lease changes put keys on the queue; a key is never queued twice
  nor reconciled by two workers at once (a change during a reconcile queues it again after).
- ``workers`` coroutines run :meth:`Reconciler.reconcile` in threads (the Kubernetes client is
  synchronous); a failure is retried with exponential backoff, a decision's ``requeue_after``
  schedules the key again (one timer per key, the earliest wins).
- The health loop lists the agents' Leases every ``health_interval_seconds`` and re-evaluates
  the VolumeGroups that involve a node whose state changed: this, not a timer per object, is
  what detects a lost node, so 1000 VolumeGroups cost one List per interval.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from nearpath.core.contract import TARGET_LEASE_SELECTOR
from nearpath.core.errors import NearpathError
from nearpath.core.kube import KubeApi, Obj
from nearpath.operator.reconciler import Reconciler
from nearpath.operator.settings import OperatorSettings

log = logging.getLogger("nearpath.operator")

MAX_BACKOFF_S = 60.0


class Controller:
    def __init__(self, reconciler: Reconciler, kube: KubeApi, settings: OperatorSettings) -> None:
        self.reconciler = reconciler
        self.kube = kube
        self.settings = settings
        self._queue: asyncio.Queue[str] = asyncio.Queue()
        self._queued: set[str] = set()
        self._running: set[str] = set()
        self._dirty: set[str] = set()
        self._timers: dict[str, tuple[float, asyncio.TimerHandle]] = {}
        self._failures: dict[str, int] = {}

    # -- queue -----------------------------------------------------------------------------
    def observe(self, event_type: str | None, obj: Obj) -> None:
        """A VolumeGroup watch event: remember the object, reconcile it."""
        self.enqueue(self.reconciler.observe(event_type, obj))

    def enqueue(self, key: str) -> None:
        if key in self._running:
            self._dirty.add(key)
        elif key not in self._queued:
            self._queued.add(key)
            self._queue.put_nowait(key)

    def enqueue_after(self, key: str, delay: float) -> None:
        loop = asyncio.get_running_loop()
        due = loop.time() + delay
        existing = self._timers.get(key)
        if existing is not None:
            if existing[0] <= due:
                return
            existing[1].cancel()
        handle = loop.call_later(delay, self._fire, key)
        self._timers[key] = (due, handle)

    def _fire(self, key: str) -> None:
        self._timers.pop(key, None)
        self.enqueue(key)

    def pending(self) -> int:
        return len(self._queued) + len(self._running)

    # -- loops -----------------------------------------------------------------------------
    async def worker(self) -> None:
        while True:
            key = await self._queue.get()
            self._queued.discard(key)
            self._running.add(key)
            try:
                requeue = await asyncio.to_thread(self.reconciler.reconcile, key)
                self._failures.pop(key, None)
                if requeue is not None:
                    self.enqueue_after(key, requeue)
            except NearpathError as exc:
                self._retry(key, exc)
            except Exception as exc:  # a bug must not kill the worker: log, count, retry
                log.exception("reconcile crashed", extra={"vg": key})
                self._retry(key, exc)
            finally:
                self._running.discard(key)
                if key in self._dirty:
                    self._dirty.discard(key)
                    self.enqueue(key)

    def _retry(self, key: str, exc: Exception) -> None:
        count = self._failures.get(key, 0) + 1
        self._failures[key] = count
        delay = min(0.5 * 2 ** (count - 1), MAX_BACKOFF_S)
        kind = getattr(getattr(exc, "kind", None), "value", type(exc).__name__)
        self.reconciler.metrics.reconcile_errors.labels(kind).inc()
        log.warning("reconcile failed, retrying", extra={"vg": key, "error": str(exc), "retry_in": delay})
        self.enqueue_after(key, delay)

    async def poll_health_once(self, with_nodes: bool) -> None:
        changed: set[str] = set()
        if with_nodes:
            nodes = await asyncio.to_thread(self.kube.list_nodes)
            changed |= self.reconciler.observe_nodes(nodes)
        leases = await asyncio.to_thread(self.kube.list_leases, self.settings.lease_namespace, TARGET_LEASE_SELECTOR)
        changed |= self.reconciler.observe_leases(leases)
        if changed:
            keys = self.reconciler.keys_for_nodes(changed)
            log.info("node health changed", extra={"nodes": sorted(changed), "volumegroups": len(keys)})
            for key in keys:
                self.enqueue(key)

    async def health_loop(self) -> None:
        next_nodes = 0.0
        while True:
            started = time.monotonic()
            try:
                with_nodes = started >= next_nodes
                await self.poll_health_once(with_nodes)
                if with_nodes:
                    next_nodes = started + self.settings.node_refresh_seconds
            except NearpathError as exc:
                log.warning("could not read node health", extra={"error": str(exc)})
            await asyncio.sleep(max(self.settings.health_interval_seconds - (time.monotonic() - started), 0.05))

    async def resync_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.resync_interval_seconds)
            for key in self.reconciler.object_keys():
                self.enqueue(key)

    async def first_health_poll(self) -> None:
        """Return after the first successful listing of Nodes and Leases. Deciding before it would
        see every node down and every label missing: fence everything, drop nodeSelector placements."""
        waiting = False
        while True:
            try:
                await self.poll_health_once(with_nodes=True)
                return
            except NearpathError as exc:
                if not waiting:
                    log.warning("no node health yet; no VolumeGroup is reconciled before it", extra={"error": str(exc)})
                    waiting = True
            await asyncio.sleep(self.settings.health_interval_seconds)

    async def run(self) -> None:
        """Run until cancelled. No worker starts before the first successful health poll."""
        await self.first_health_poll()
        tasks = [asyncio.create_task(self.worker()) for _ in range(self.settings.workers)]
        tasks.append(asyncio.create_task(self.health_loop()))
        tasks.append(asyncio.create_task(self.resync_loop()))
        try:
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            for _, handle in self._timers.values():
                handle.cancel()
            self._timers.clear()
