"""Node health from the target agents' Leases (pure state tracking: the caller does the I/O).

Each agent renews its Lease (:func:`nearpath.core.contract.target_lease_name`, labelled with
:func:`~nearpath.core.contract.target_lease_labels`) every duration/3. Expiry is measured the way
client-go's leader election measures it: on the operator's own monotonic clock, from the moment
the operator *observed* a renewal (the Lease's resourceVersion or renewTime changed since the last
listing). The agent's ``renewTime`` is never compared with the operator's clock, so a skewed node
clock neither fences a healthy node nor delays the detection of a dead one. A node is alive while

    now - last observed renewal < leaseDurationSeconds + grace

Two situations are not taken as node failures (the control plane is the suspect):

- **The operator was blind**: no successful listing for ``blind_after`` seconds (API server down,
  operator partitioned, operator just started). Renewals could not be observed meanwhile, so on the
  first successful listing every Lease counts as renewed *now* and no node goes down before
  ``regain_hold`` has passed either.
- **Mass expiry**: a Lease runs out while at least ``mass_fraction`` of the live nodes (and at
  least two) have missed renewals. One hold of ``mass_hold`` seconds per episode; nodes that renew
  meanwhile stay alive, the others go down when it ends.

The tracker also remembers, per node, since when it has been alive without interruption (the
stabilization window of a fenced node counts from there). A renewTime that jumps by more than the
duration (plus grace) between two listings means the Lease expired in between (a flapping agent;
the agent's clock compared with itself), so the alive period restarts.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from nearpath.core.clock import parse_time
from nearpath.core.contract import LEASE_NODE_LABEL
from nearpath.operator.decisions import NodeHealth

log = logging.getLogger("nearpath.operator.health")


@dataclass(frozen=True)
class LeaseFacts:
    node: str
    version: str
    """resourceVersion and renewTime: any change is a renewal the operator observed."""
    renew_time: datetime | None
    duration: float


def lease_facts(lease: Mapping[str, Any]) -> LeaseFacts | None:
    """The node, version, renewTime and duration of an agent Lease, or None when it is not one / incomplete."""
    meta = lease.get("metadata") or {}
    spec = lease.get("spec") or {}
    node = (meta.get("labels") or {}).get(LEASE_NODE_LABEL) or spec.get("holderIdentity")
    renew = spec.get("renewTime")
    duration = spec.get("leaseDurationSeconds")
    if not node or not renew or not isinstance(duration, int) or duration <= 0:
        return None
    version = f"{meta.get('resourceVersion', '')}/{renew}"
    return LeaseFacts(str(node), version, parse_time(renew), float(duration))


@dataclass
class _NodeState:
    version: str
    renew_time: datetime | None
    duration: float
    observed_at: float
    """Operator monotonic time of the last observed renewal."""
    alive: bool
    alive_since: float | None
    down_at: float | None = None


@dataclass(frozen=True)
class HealthTimers:
    """The operator's Lease timers (seconds)."""

    grace: float = 1.0
    blind_after: float = 3.0
    regain_hold: float = 5.0
    mass_fraction: float = 0.5
    mass_hold: float = 20.0


@dataclass
class LeaseTracker:
    """Alive/down state per node, updated from successive Lease listings (times: operator monotonic)."""

    timers: HealthTimers = field(default_factory=HealthTimers)
    _nodes: dict[str, _NodeState] = field(default_factory=dict)
    _labels: dict[str, dict[str, str]] = field(default_factory=dict)
    _last_listing: float | None = None
    _hold_until: float = 0.0
    hold_reason: str = ""
    _mass_episode: bool = False

    @property
    def has_listing(self) -> bool:
        """At least one listing succeeded (the operator decides nothing before)."""
        return self._last_listing is not None

    def expiry(self, state: _NodeState) -> float:
        return max(state.observed_at + state.duration + self.timers.grace, self._hold_until)

    def holding(self, now: float) -> bool:
        return now < self._hold_until

    def observe(self, leases: Iterable[Mapping[str, Any]], now: float) -> set[str]:
        """Take a full listing of the agent Leases; return the nodes whose alive state changed."""
        self._note_listing(now)
        seen: dict[str, LeaseFacts] = {}
        for lease in leases:
            facts = lease_facts(lease)
            if facts is not None:
                seen[facts.node] = facts
        changed: set[str] = set()
        for node, facts in seen.items():
            if self._renewal(node, facts, now):
                changed.add(node)
        for node in list(self._nodes):
            if node not in seen:
                del self._nodes[node]
                changed.add(node)
        return changed | self.tick(now)

    def _note_listing(self, now: float) -> None:
        blind = self._last_listing is None or now - self._last_listing > self.timers.blind_after
        if blind and self._last_listing is not None:
            gap = now - self._last_listing
            log.warning(
                "regained the API after a blind period: Lease expiry restarts now, no node goes down meanwhile",
                extra={"blind_seconds": round(gap, 1), "hold_seconds": self.timers.regain_hold},
            )
            self._hold(now + self.timers.regain_hold, f"regained the API after {gap:.1f}s without a listing")
        if blind:  # renewals were not observable: restart every expiry, forget renewTime baselines
            for state in self._nodes.values():
                state.observed_at = max(state.observed_at, now)
                state.renew_time = None
        self._last_listing = now

    def _hold(self, until: float, reason: str) -> None:
        if until > self._hold_until:
            self._hold_until = until
            self.hold_reason = reason

    def _renewal(self, node: str, facts: LeaseFacts, now: float) -> bool:
        old = self._nodes.get(node)
        if old is None:  # first sight counts as a renewal observed now (client-go does the same)
            self._nodes[node] = _NodeState(facts.version, facts.renew_time, facts.duration, now, True, now)
            return True
        old.duration = facts.duration
        if facts.version == old.version:
            return False
        gap = (
            facts.renew_time is not None
            and old.renew_time is not None
            and (facts.renew_time - old.renew_time).total_seconds() > old.duration + self.timers.grace
        )
        old.version, old.renew_time, old.observed_at = facts.version, facts.renew_time, now
        if not old.alive or gap:
            old.alive, old.alive_since, old.down_at = True, now, None
            return True
        return False

    def tick(self, now: float) -> set[str]:
        """Re-evaluate expiry without a new listing; return nodes that just went down."""
        due = [n for n, s in self._nodes.items() if s.alive and self.expiry(s) <= now]
        if not due:
            if self._mass_episode and all(
                now - s.observed_at <= s.duration / 2 for s in self._nodes.values() if s.alive
            ):
                self._mass_episode = False
            return set()
        alive = [s for s in self._nodes.values() if s.alive]
        missed = [s for s in alive if now - s.observed_at > s.duration / 2]
        if not self._mass_episode and len(missed) >= 2 and len(missed) >= self.timers.mass_fraction * len(alive):
            self._mass_episode = True
            reason = f"{len(missed)} of {len(alive)} live nodes missed their Lease renewals at once"
            log.warning(
                "mass Lease expiry: suspecting the control plane, holding decisions",
                extra={"nodes": sorted(due), "missed": len(missed), "hold_seconds": self.timers.mass_hold},
            )
            self._hold(now + self.timers.mass_hold, reason)
            return set()
        for node in due:
            state = self._nodes[node]
            state.alive, state.alive_since, state.down_at = False, None, self.expiry(state)
        return set(due)

    def set_labels(self, nodes: Iterable[Mapping[str, Any]]) -> set[str]:
        """Take a Node listing (labels matter for placement.nodeSelector); return nodes whose labels changed."""
        labels = {
            str(n["metadata"]["name"]): dict(n["metadata"].get("labels") or {}) for n in nodes if n.get("metadata")
        }
        changed = {n for n in set(labels) | set(self._labels) if labels.get(n) != self._labels.get(n)}
        self._labels = labels
        return changed

    def next_expiry(self, now: float) -> float | None:
        """The earliest moment (operator monotonic) an alive node's Lease runs out."""
        times = [self.expiry(s) for s in self._nodes.values() if s.alive and self.expiry(s) > now]
        return min(times) if times else None

    def snapshot(self, now: float, wall: datetime) -> dict[str, NodeHealth]:
        """Health per node; monotonic moments are given as ``wall``-clock datetimes of the operator."""

        def as_wall(moment: float | None) -> datetime | None:
            return None if moment is None else wall - timedelta(seconds=now - moment)

        out: dict[str, NodeHealth] = {}
        for node in set(self._nodes) | set(self._labels):
            state = self._nodes.get(node)
            labels = self._labels.get(node, {})
            if state is None:
                out[node] = NodeHealth(alive=False, labels=labels)
            else:
                out[node] = NodeHealth(
                    alive=state.alive,
                    alive_since=as_wall(state.alive_since),
                    down_since=as_wall(state.down_at),
                    labels=labels,
                )
        return out
