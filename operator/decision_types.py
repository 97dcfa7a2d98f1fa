"""The vocabulary of the operator's decisions: node health, timing policy, roles, events, the decision.

Pure data and small helpers (no I/O, no kopf, no clock); :mod:`nearpath.operator.decisions` decides,
:mod:`nearpath.operator.group_facts` reads a group's status, :mod:`nearpath.operator.conditions`
explains the decision in the status conditions.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from nearpath.core import identifiers as ids
from nearpath.core.api import AluaState, Condition, TargetAssignment
from nearpath.core.clock import rfc3339

AO = AluaState.ACTIVE_OPTIMIZED
ANO = AluaState.ACTIVE_NON_OPTIMIZED
FENCE = AluaState.UNAVAILABLE


@dataclass(frozen=True)
class NodeHealth:
    """What the operator knows of a node, from its agent's Lease and its Node object."""

    alive: bool
    """The Lease was renewed within its duration (plus the operator's grace)."""
    alive_since: datetime | None = None
    """Start of the current continuous alive period (None when down)."""
    down_since: datetime | None = None
    """When the Lease expired (last observed renewal + duration + grace, on the operator's clock); None when
    alive or never seen."""
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Policy:
    """Timing policy (from the operator settings)."""

    stabilization_window: timedelta = timedelta(seconds=10)
    """A fenced node must be alive this long, continuously, before it serves again."""
    failback_delay: timedelta = timedelta(seconds=30)
    """After a failover, the preferred node must be alive this long before optimization moves back."""
    converge_timeout: timedelta = timedelta(seconds=120)
    """Assignments not applied by the agents after this long make the group Degraded."""


class Role(enum.Enum):
    OPTIMIZED = "optimized"
    MEMBER = "member"
    DEMOTING = "demoting"
    FENCED = "fenced"


@dataclass(frozen=True)
class Event:
    reason: str
    message: str
    type_: str = "Normal"
    failover_reason: str | None = None
    """Set on FailedOver events: the metric label (LeaseExpired, TargetFailed, DevicesMissing, SelfFenced,
    TargetDisabled)."""
    decision_seconds: float | None = None
    """For failovers: time from the loss (Lease expiry, failure report) to this decision."""


@dataclass(frozen=True)
class Decision:
    assignments: tuple[TargetAssignment, ...]
    optimized_node: str | None
    failed_over_from: str | None
    conditions: tuple[Condition, ...]
    events: tuple[Event, ...] = ()
    requeue_after: float | None = None
    """Seconds until a time-based rule may change the decision (None: only on change)."""
    release_finalizer: bool = False
    converged: bool = False
    """Every live assigned node reports its assignment applied."""
    status: dict[str, Any] = field(default_factory=dict)
    """The operator's whole part of the status, in wire form (what it applies)."""

    def condition(self, type_: str) -> Condition | None:
        return next((c for c in self.conditions if c.type == type_), None)


@dataclass(frozen=True)
class Choice:
    optimized: str | None
    failed_over_from: str | None
    note: str = ""
    blocked: list[str] = field(default_factory=list)
    """Live nodes still reporting active-optimized, which hold back the promotion."""
    handover: bool = False
    """Step 1 of a planned handover: the optimized node is being demoted."""


@dataclass(frozen=True)
class Loss:
    reason: str  # LeaseExpired, TargetFailed, DevicesMissing, SelfFenced, TargetDisabled
    detail: str
    since: datetime | None


# -- helpers ---------------------------------------------------------------------------------
def allocate_port_group_ids(keep: Mapping[str, int], new_nodes: Iterable[str]) -> dict[str, int]:
    """Stable ids: kept nodes keep theirs, each new node gets the lowest free id >= 2."""
    out = dict(keep)
    used = set(keep.values())
    candidate = ids.MIN_PORT_GROUP_ID
    for node in new_nodes:
        while candidate in used:
            candidate += 1
        if candidate > ids.MAX_PORT_GROUP_ID:
            raise ValueError("no free ALUA port group id")
        out[node] = candidate
        used.add(candidate)
    return out


def delta_seconds(delta: timedelta) -> float:
    return max(delta.total_seconds(), 0.0)


def fmt_time(moment: datetime | None) -> str:
    return rfc3339(moment, "seconds") if moment else "unknown"


class Timer:
    """Collects the earliest future moment a time-based rule can change the decision."""

    def __init__(self, now: datetime) -> None:
        self.now = now
        self.at: datetime | None = None

    def at_(self, moment: datetime) -> None:
        if moment > self.now and (self.at is None or moment < self.at):
            self.at = moment

    def seconds(self) -> float | None:
        return None if self.at is None else delta_seconds(self.at - self.now) + 0.05
