"""What the operator knows of one VolumeGroup at one moment: its status, its nodes' health, the clock.

:class:`GroupFacts` answers the questions the decision and its conditions ask ("did node N apply its
assignment?", "why can node N not serve?", "may a fenced node serve again?"). Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from nearpath.core.api import AluaState, BackingType, TargetAssignment, VolumeGroup
from nearpath.core.contract import TARGET_DISABLED_LABEL, TARGET_DISABLED_VALUE, target_disabled
from nearpath.operator.decision_types import Event, Loss, NodeHealth, Policy, Timer, fmt_time


def node_alive(health: Mapping[str, NodeHealth], node: str) -> bool:
    known = health.get(node)
    return known is not None and known.alive


class GroupFacts:
    """One VolumeGroup, the health of every node, the policy and ``now``; collects events and wake-ups."""

    def __init__(self, vg: VolumeGroup, health: Mapping[str, NodeHealth], policy: Policy, now: datetime) -> None:
        self.vg = vg
        self.health = health
        self.policy = policy
        self.now = now
        self.generation = vg.metadata.generation
        self.status = vg.status
        self.local = vg.spec.backing.type is BackingType.LOCAL
        self.prev = {a.node: a for a in self.status.assignments}
        self.entries = {t.node: t for t in self.status.targets}
        self.timer = Timer(now)
        self.events: list[Event] = []

    def applied(self, node: str, assignment: TargetAssignment) -> bool:
        """``node``'s agent reports ``assignment`` applied for the current generation."""
        return self.status.target_applied(node, self.generation, assignment)

    def alive(self, node: str) -> bool:
        return node_alive(self.health, node)

    def labels(self, node: str) -> Mapping[str, str]:
        known = self.health.get(node)
        return known.labels if known is not None else {}

    def loss(self, node: str) -> Loss | None:
        """Why ``node`` cannot serve now, or None when it can."""
        known = self.health.get(node)
        if known is None or not known.alive:
            since = known.down_since if known is not None else None
            return Loss("LeaseExpired", f"agent Lease expired at {fmt_time(since)}", since)
        if target_disabled(self.labels(node)):
            return Loss("TargetDisabled", f"node labelled {TARGET_DISABLED_LABEL}={TARGET_DISABLED_VALUE}", None)
        entry = self.entries.get(node)
        if entry is None:
            return None
        prev = self.prev.get(node)
        if entry.fenced and prev is not None and prev.alua_state is not AluaState.UNAVAILABLE:
            detail = "agent fenced its node" + (f": {entry.message}" if entry.message else "")
            return Loss("SelfFenced", detail, entry.last_update_time)
        if not self.local and entry.devices_present is False:
            detail = "agent reports the disks' devices missing" + (f": {entry.message}" if entry.message else "")
            return Loss("DevicesMissing", detail, entry.last_update_time)
        assignment = self.prev.get(node)
        if (
            assignment is not None
            and not entry.ready
            and entry.alua_state == assignment.alua_state
            and entry.observed_generation == self.generation
        ):
            detail = "agent reports its target not ready" + (f": {entry.message}" if entry.message else "")
            return Loss("TargetFailed", detail, entry.last_update_time)
        return None

    def fence_lifted(self, node: str) -> bool:
        """A fenced node may serve again: alive for the window, and its agent applied the fence."""
        known = self.health.get(node)
        if known is None or not known.alive or known.alive_since is None:
            return False
        stable_at = known.alive_since + self.policy.stabilization_window
        if self.now < stable_at:
            self.timer.at_(stable_at)
            return False
        return self.applied(node, self.prev[node])
