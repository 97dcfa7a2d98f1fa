"""Leader election with a coordination.k8s.io Lease (``nearpath-operator-leader``).

Several operator replicas may run; only the holder of the Lease reconciles. A replica takes the
Lease when it is free, its own, or expired -- and, as in client-go, "expired" is measured on the
replica's own monotonic clock: the holder's Lease (resourceVersion, holder, renewTime) has not
changed for leaseDurationSeconds since this replica first saw it that way. No clock is compared
across nodes. Writes are compare-and-swap (resourceVersion), so two replicas never both win.

The leader renews every duration/3. Its right to act lasts ``duration - duration/3`` from the
moment it *sent* its last confirmed renewal (:meth:`LeaderElector.holds`): a follower observes that
renewal no earlier than it was sent and waits a whole duration, so the old leader's right ends
before anyone else can take over. The reconciler checks it before every write (a former leader
cannot write status after losing its Lease); :meth:`LeaderElector.hold` returns (the process exits
and restarts as a follower) once it runs out. On a clean shutdown the leader releases the Lease
so a follower takes over at once.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from nearpath.core.clock import rfc3339, utc_now
from nearpath.core.contract import LEADER_LEASE_LABELS
from nearpath.core.errors import Conflict, NearpathError
from nearpath.core.kube import KubeApi

log = logging.getLogger("nearpath.operator.leader")


def default_identity() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


def lease_version(lease: Mapping[str, Any]) -> str:
    """What changes with every write of a Lease: any change is a renewal (or a takeover)."""
    spec = lease.get("spec") or {}
    meta = lease.get("metadata") or {}
    return f"{meta.get('resourceVersion', '')}/{spec.get('holderIdentity')}/{spec.get('renewTime')}"


def next_spec(spec: Mapping[str, Any] | None, identity: str, duration_s: int, now: datetime) -> dict[str, Any]:
    """The Lease spec after ``identity`` takes or renews it."""
    spec = spec or {}
    ours = spec.get("holderIdentity") == identity
    transitions = int(spec.get("leaseTransitions") or 0)
    return {
        "holderIdentity": identity,
        "leaseDurationSeconds": duration_s,
        "acquireTime": spec.get("acquireTime") if ours and spec.get("acquireTime") else rfc3339(now),
        "renewTime": rfc3339(now),
        "leaseTransitions": transitions if ours or not spec else transitions + 1,
    }


@dataclass
class LeaderElector:
    kube: KubeApi
    namespace: str
    name: str
    identity: str
    duration_s: int = 15
    clock: Callable[[], datetime] = utc_now
    monotonic: Callable[[], float] = time.monotonic
    _seen: tuple[str, float] | None = None
    """(version of the other holder's Lease, when this replica first saw that version)."""
    _confirmed: float | None = None
    """Monotonic time at which the last confirmed renewal was sent."""

    @property
    def renew_interval(self) -> float:
        return self.duration_s / 3

    def holds(self) -> bool:
        """This replica may act as the leader now (its last confirmed renewal is recent enough)."""
        if self._confirmed is None:
            return False
        return self.monotonic() - self._confirmed < self.duration_s - self.renew_interval

    def may_take(self, lease: Mapping[str, Any] | None, now: float) -> bool:
        """Free, own, or unchanged for a whole duration on this replica's clock."""
        spec = (lease or {}).get("spec") or {}
        holder = spec.get("holderIdentity")
        if lease is None or not holder or holder == self.identity:
            return True
        version = lease_version(lease)
        if self._seen is None or self._seen[0] != version:
            self._seen = (version, now)
            return False
        duration = int(spec.get("leaseDurationSeconds") or self.duration_s)
        return now - self._seen[1] > duration

    def try_acquire(self) -> bool:
        """One attempt to take or renew the Lease; True when this replica holds it afterwards."""
        sent = self.monotonic()
        lease = self.kube.get_lease(self.namespace, self.name)
        spec = (lease or {}).get("spec")
        if not self.may_take(lease, sent):
            return False
        version = None if lease is None else lease["metadata"].get("resourceVersion")
        try:
            self.kube.update_lease(
                self.namespace,
                self.name,
                next_spec(spec, self.identity, self.duration_s, self.clock()),
                version,
                labels=dict(LEADER_LEASE_LABELS),
            )
        except Conflict:
            return False
        self._confirmed = sent
        return True

    def release(self) -> None:
        """Give the Lease up (clean shutdown) so a follower takes over without waiting."""
        lease = self.kube.get_lease(self.namespace, self.name)
        if lease is None or lease["spec"].get("holderIdentity") != self.identity:
            return
        spec = dict(lease["spec"])
        spec["holderIdentity"] = None
        spec["renewTime"] = rfc3339(self.clock() - timedelta(seconds=self.duration_s + 1))
        try:
            self.kube.update_lease(self.namespace, self.name, spec, lease["metadata"].get("resourceVersion"))
        except NearpathError as exc:
            log.warning("could not release the leader Lease", extra={"error": str(exc)})

    async def acquire(self, retry_s: float | None = None) -> None:
        """Return once this replica is the leader."""
        waited = False
        while True:
            try:
                if await asyncio.to_thread(self.try_acquire):
                    log.info("became leader", extra={"identity": self.identity, "lease": self.name})
                    return
            except NearpathError as exc:
                log.warning("leader election attempt failed", extra={"error": str(exc)})
            if not waited:
                log.info("waiting for leadership", extra={"identity": self.identity, "lease": self.name})
                waited = True
            await asyncio.sleep(retry_s if retry_s is not None else self.renew_interval)

    async def hold(self) -> None:
        """Renew until leadership is lost (returns then); cancel to stop renewing."""
        while True:
            await asyncio.sleep(self.renew_interval)
            try:
                ok = await asyncio.to_thread(self.try_acquire)
            except NearpathError as exc:
                log.warning("leader Lease renewal failed", extra={"error": str(exc)})
                ok = None
            if ok is False or not self.holds():
                self._confirmed = None
                log.error("lost leadership", extra={"identity": self.identity, "lease": self.name})
                return
