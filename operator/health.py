"""Node health from the target agents' Leases (pure state tracking: the caller does the I/O).

Each agent renews its Lease (:func:`nearpath.core.contract.target_lease_name`, labelled with
:func:`~nearpath.core.contract.target_lease_labels`) every duration/3. A node is alive while
``renewTime + leaseDurationSeconds + grace > now``. The tracker remembers, per node, since when
it has been alive without interruption: the stabilization window of a fenced node counts from
there. An interruption is noticed even between two polls: a renewTime that jumps by more than
the duration (plus grace) since the last one seen means the Lease expired in between (a
flapping agent), so the alive period restarts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from nearpath.core.clock import parse_time
from nearpath.core.contract import LEASE_NODE_LABEL
from nearpath.operator.decisions import NodeHealth


@dataclass(frozen=True)
class LeaseFacts:
    node: str
    renew_time: datetime
    duration: timedelta


def lease_facts(lease: Mapping[str, Any]) -> LeaseFacts | None:
    """The node, renewTime and duration of an agent Lease, or None when it is not one / incomplete."""
    meta = lease.get("metadata") or {}
    spec = lease.get("spec") or {}
    node = (meta.get("labels") or {}).get(LEASE_NODE_LABEL) or spec.get("holderIdentity")
    renew = parse_time(spec.get("renewTime"))
    duration = spec.get("leaseDurationSeconds")
    if not node or renew is None or not isinstance(duration, int) or duration <= 0:
        return None
    return LeaseFacts(str(node), renew, timedelta(seconds=duration))


@dataclass
class _NodeState:
    renew_time: datetime
    duration: timedelta
    alive: bool
    alive_since: datetime | None


@dataclass
class LeaseTracker:
    """Alive/down state per node, updated from successive Lease listings."""

    grace: timedelta = timedelta(seconds=1)
    _nodes: dict[str, _NodeState] = field(default_factory=dict)
    _labels: dict[str, dict[str, str]] = field(default_factory=dict)

    def expiry(self, state: _NodeState) -> datetime:
        return state.renew_time + state.duration + self.grace

    def observe(self, leases: Iterable[Mapping[str, Any]], now: datetime) -> set[str]:
        """Take a full listing of the agent Leases; return the nodes whose alive state changed."""
        seen: dict[str, LeaseFacts] = {}
        for lease in leases:
            facts = lease_facts(lease)
            if facts is not None:
                seen[facts.node] = facts
        changed: set[str] = set()
        for node, facts in seen.items():
            old = self._nodes.get(node)
            alive = facts.renew_time + facts.duration + self.grace > now
            if old is None:
                since = facts.renew_time if alive else None
                self._nodes[node] = _NodeState(facts.renew_time, facts.duration, alive, since)
                changed.add(node)
                continue
            gap = facts.renew_time > old.renew_time + old.duration + self.grace
            if alive and (not old.alive or gap):
                old.alive_since = facts.renew_time
                changed.add(node)
            elif not alive and old.alive:
                old.alive_since = None
                changed.add(node)
            old.renew_time, old.duration, old.alive = facts.renew_time, facts.duration, alive
        for node in list(self._nodes):
            if node not in seen:
                del self._nodes[node]
                changed.add(node)
        return changed

    def tick(self, now: datetime) -> set[str]:
        """Re-evaluate expiry without a new listing; return nodes that just went down."""
        changed = set()
        for node, state in self._nodes.items():
            if state.alive and self.expiry(state) <= now:
                state.alive, state.alive_since = False, None
                changed.add(node)
        return changed

    def set_labels(self, nodes: Iterable[Mapping[str, Any]]) -> set[str]:
        """Take a Node listing (labels matter for placement.nodeSelector); return nodes whose labels changed."""
        labels = {
            str(n["metadata"]["name"]): dict(n["metadata"].get("labels") or {}) for n in nodes if n.get("metadata")
        }
        changed = {n for n in set(labels) | set(self._labels) if labels.get(n) != self._labels.get(n)}
        self._labels = labels
        return changed

    def next_expiry(self, now: datetime) -> datetime | None:
        """The earliest moment an alive node's Lease runs out."""
        times = [self.expiry(s) for s in self._nodes.values() if s.alive and self.expiry(s) > now]
        return min(times) if times else None

    def snapshot(self) -> dict[str, NodeHealth]:
        out: dict[str, NodeHealth] = {}
        for node in set(self._nodes) | set(self._labels):
            state = self._nodes.get(node)
            labels = self._labels.get(node, {})
            if state is None:
                out[node] = NodeHealth(alive=False, labels=labels)
            else:
                down = None if state.alive else state.renew_time + state.duration
                out[node] = NodeHealth(alive=state.alive, alive_since=state.alive_since, down_since=down, labels=labels)
        return out
