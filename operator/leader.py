"""Leader election with a coordination.k8s.io Lease (``nearpath-operator-leader``).

Several operator replicas may run; only the holder of the Lease reconciles. A replica takes the
Lease when it is free, expired (renewTime + leaseDurationSeconds < now) or already its own, with
a compare-and-swap write (resourceVersion), so two replicas never both win. The leader renews
every duration/3; if a renewal cannot be confirmed before the Lease would expire, it stops
(the process exits and is restarted as a follower), so at most one replica acts at a time as
long as clocks agree within the duration. On a clean shutdown it releases the Lease so a
follower takes over at once.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from nearpath.core.clock import parse_time, rfc3339, utc_now
from nearpath.core.contract import LEADER_LEASE_LABELS
from nearpath.core.errors import Conflict, NearpathError
from nearpath.core.kube import KubeApi

log = logging.getLogger("nearpath.operator.leader")


def default_identity() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


def may_take(spec: Mapping[str, Any] | None, identity: str, now: datetime) -> bool:
    """Whether ``identity`` may write the Lease with this spec: free, expired or its own."""
    if not spec:
        return True
    holder = spec.get("holderIdentity")
    if not holder or holder == identity:
        return True
    renew = parse_time(spec.get("renewTime")) or parse_time(spec.get("acquireTime"))
    duration = spec.get("leaseDurationSeconds") or 0
    return renew is None or renew + timedelta(seconds=int(duration)) < now


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

    @property
    def renew_interval(self) -> float:
        return self.duration_s / 3

    def try_acquire(self) -> bool:
        """One attempt to take or renew the Lease; True when this replica holds it afterwards."""
        lease = self.kube.get_lease(self.namespace, self.name)
        now = self.clock()
        spec = (lease or {}).get("spec")
        if not may_take(spec, self.identity, now):
            return False
        version = None if lease is None else lease["metadata"].get("resourceVersion")
        try:
            self.kube.update_lease(
                self.namespace,
                self.name,
                next_spec(spec, self.identity, self.duration_s, now),
                version,
                labels=dict(LEADER_LEASE_LABELS),
            )
        except Conflict:
            return False
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
        loop = asyncio.get_running_loop()
        confirmed = loop.time()
        while True:
            await asyncio.sleep(self.renew_interval)
            try:
                ok = await asyncio.to_thread(self.try_acquire)
            except NearpathError as exc:
                log.warning("leader Lease renewal failed", extra={"error": str(exc)})
                ok = None
            if ok:
                confirmed = loop.time()
            elif ok is False or loop.time() - confirmed > self.duration_s - self.renew_interval:
                log.error("lost leadership", extra={"identity": self.identity, "lease": self.name})
                return
