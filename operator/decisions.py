"""The operator's decisions for one VolumeGroup, as a pure function (no I/O, no kopf, no clock).

:func:`decide` takes the parsed VolumeGroup (spec and the whole status: the operator's previous
assignments, the agents' ``targets`` entries, the CSI controller's ``attachments``), the health
of every node (from the agents' Leases), the timing policy and ``now``; it returns a
:class:`Decision`: the operator's part of the status (assignments, optimized node, conditions),
the events to emit and when to look again.

Roles of a serving node, and the ALUA state it is assigned:

- ``optimized`` -> active-optimized (at most one node, ever);
- ``member`` -> ``spec.failover.nonOptimizedState`` (active-non-optimized while the group has no
  optimized node, so initiators keep an active path);
- ``demoting`` -> active-non-optimized: the optimized node giving up its role in a planned
  handover (step 1);
- ``fenced`` -> unavailable: a node that went down (Lease expired) or whose agent reports a
  failure. It stays fenced until its Lease has been alive for the stabilization window and its
  agent reports the fence applied; only then does it become a member again.

Safety rule ("never two optimized"): a node is promoted to active-optimized only when no other
node with a live Lease reports active-optimized in its ``targets`` entry. A planned move (failback,
preferred node changed) is therefore two decisions: demote the old node, wait for its agent to
report it, promote the new one. A failover (old node down) promotes at once: the dead node is
fenced and, should it come back still serving, applies the fence before anything else.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from nearpath.core import identifiers as ids
from nearpath.core.api import (
    AluaState,
    BackingType,
    Condition,
    ConditionStatus,
    ConditionType,
    TargetAssignment,
    VolumeGroup,
)
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
    """When the Lease expired (renewTime + duration); None when alive or never seen."""
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
    """Set on FailedOver events: the metric label (LeaseExpired, TargetFailed, DevicesMissing)."""
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
class _Choice:
    optimized: str | None
    failed_over_from: str | None
    note: str = ""
    blocked: list[str] = field(default_factory=list)
    """Live nodes still reporting active-optimized, which hold back the promotion."""
    handover: bool = False
    """Step 1 of a planned handover: the optimized node is being demoted."""


@dataclass(frozen=True)
class _Loss:
    reason: str  # LeaseExpired, TargetFailed, DevicesMissing
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


def _seconds(delta: timedelta) -> float:
    return max(delta.total_seconds(), 0.0)


def _fmt_time(moment: datetime | None) -> str:
    return rfc3339(moment, "seconds") if moment else "unknown"


def _condition(
    type_: ConditionType,
    status: bool,
    reason: str,
    message: str,
    previous: Condition | None,
    now: datetime,
    generation: int,
) -> Condition:
    value = ConditionStatus.TRUE if status else ConditionStatus.FALSE
    since = previous.last_transition_time if previous is not None and previous.status == value else None
    return Condition(
        type=type_.value,
        status=value,
        reason=reason,
        message=message,
        last_transition_time=since or now,
        observed_generation=generation,
    )


class _Timer:
    """Collects the earliest future moment a time-based rule can change the decision."""

    def __init__(self, now: datetime) -> None:
        self.now = now
        self.at: datetime | None = None

    def at_(self, moment: datetime) -> None:
        if moment > self.now and (self.at is None or moment < self.at):
            self.at = moment

    def seconds(self) -> float | None:
        return None if self.at is None else _seconds(self.at - self.now) + 0.05


# -- the decision ----------------------------------------------------------------------------
def decide(vg: VolumeGroup, health: Mapping[str, NodeHealth], policy: Policy, now: datetime) -> Decision:
    """The operator's status part for ``vg``: which nodes serve, in which ALUA state, and why."""
    deleting = vg.metadata.deletion_timestamp is not None
    if deleting and not vg.status.attachments:
        return _decide_deletion(vg, health, now)
    return _Reconcile(vg, health, policy, now).run(deleting)


def _alive(health: Mapping[str, NodeHealth], node: str) -> bool:
    known = health.get(node)
    return known is not None and known.alive


def _decide_deletion(vg: VolumeGroup, health: Mapping[str, NodeHealth], now: datetime) -> Decision:
    status = vg.status
    generation = vg.metadata.generation
    serving = sorted(t.node for t in status.targets if _alive(health, t.node) and (t.ready or t.alua_state is not None))
    stale = sorted(t.node for t in status.targets if not _alive(health, t.node) and t.node not in serving)
    events: list[Event] = []
    if status.assignments:
        events.append(Event("RemovingTargets", "VolumeGroup deleted: every node removes its target", "Normal"))
    if serving:
        message = f"waiting for node(s) {', '.join(serving)} to remove their targets"
    else:
        message = "every target is removed; releasing the finalizer"
        if stale:
            message += f" (node(s) {', '.join(stale)} are down; their agents remove leftovers when they return)"
    prev = status.condition
    conditions = (
        _condition(
            ConditionType.READY, False, "Deleting", "the VolumeGroup is being deleted", prev("Ready"), now, generation
        ),
        _condition(
            ConditionType.DEGRADED,
            False,
            "Deleting",
            "the VolumeGroup is being deleted",
            prev("Degraded"),
            now,
            generation,
        ),
        _condition(
            ConditionType.PROGRESSING, bool(serving), "RemovingTargets", message, prev("Progressing"), now, generation
        ),
    )
    return _finish(
        vg,
        Decision(
            assignments=(),
            optimized_node=None,
            failed_over_from=None,
            conditions=conditions,
            events=tuple(events),
            requeue_after=None,
            release_finalizer=not serving,
            converged=not serving,
        ),
    )


def _finish(vg: VolumeGroup, decision: Decision) -> Decision:
    wire: dict[str, Any] = {
        "observedGeneration": vg.metadata.generation,
        "conditions": [c.to_wire() for c in decision.conditions],
        "disks": [d.to_wire() for d in vg.disk_identities()],
        "assignments": [a.to_wire() for a in decision.assignments],
    }
    if decision.optimized_node:
        wire["optimizedNode"] = decision.optimized_node
    if decision.failed_over_from:
        wire["failedOverFrom"] = decision.failed_over_from
    return Decision(
        assignments=decision.assignments,
        optimized_node=decision.optimized_node,
        failed_over_from=decision.failed_over_from,
        conditions=decision.conditions,
        events=decision.events,
        requeue_after=decision.requeue_after,
        release_finalizer=decision.release_finalizer,
        converged=decision.converged,
        status=wire,
    )


class _Reconcile:
    """One decision for a live (or held) VolumeGroup. Used once, by :func:`decide`."""

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
        self.timer = _Timer(now)
        self.events: list[Event] = []

    # -- facts -------------------------------------------------------------------------------
    def applied(self, node: str, assignment: TargetAssignment) -> bool:
        """``node``'s agent reports ``assignment`` applied for the current generation."""
        return self.status.target_applied(node, self.generation, assignment)

    def alive(self, node: str) -> bool:
        return _alive(self.health, node)

    def labels(self, node: str) -> Mapping[str, str]:
        known = self.health.get(node)
        return known.labels if known is not None else {}

    def loss(self, node: str) -> _Loss | None:
        """Why ``node`` cannot serve now, or None when it can."""
        known = self.health.get(node)
        if known is None or not known.alive:
            since = known.down_since if known is not None else None
            return _Loss("LeaseExpired", f"agent Lease expired at {_fmt_time(since)}", since)
        entry = self.entries.get(node)
        if entry is None:
            return None
        if not self.local and entry.devices_present is False:
            detail = "agent reports the disks' devices missing" + (f": {entry.message}" if entry.message else "")
            return _Loss("DevicesMissing", detail, entry.last_update_time)
        assignment = self.prev.get(node)
        if (
            assignment is not None
            and not entry.ready
            and entry.alua_state == assignment.alua_state
            and entry.observed_generation == self.generation
        ):
            detail = "agent reports its target not ready" + (f": {entry.message}" if entry.message else "")
            return _Loss("TargetFailed", detail, entry.last_update_time)
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

    # -- placement ---------------------------------------------------------------------------
    def serving_nodes(self) -> tuple[list[str], list[str]]:
        """(nodes that serve, in name order; nodes dropped because placement no longer allows them)."""
        if self.local:
            nodes = self.vg.spec.placement.nodes or []
            return sorted(nodes[:1]), sorted(n for n in self.prev if n not in nodes[:1])
        allowed = {n for n in set(self.prev) | set(self.entries) if self.vg.allows_node(n, self.labels(n))}
        keep = {n for n in self.prev if n in allowed}
        new = {
            t.node
            for t in self.status.targets
            if t.node in allowed and t.node not in self.prev and t.devices_present is True and self.alive(t.node)
        }
        dropped = sorted(n for n in self.prev if n not in allowed)
        return sorted(keep | new), dropped

    def wished(self, members: list[str]) -> tuple[str | None, str]:
        """The node that should be optimized among ``members``, and why (preferred, attachment, first)."""
        preferred = self.vg.spec.placement.preferred_node
        if preferred and preferred in members:
            return preferred, "preferred node"
        for attachment in sorted(self.status.attachments, key=lambda a: a.initiator):
            if attachment.node in members:
                return attachment.node, "node of the current attachment"
        return None, ""

    def first_ready(self, members: list[str]) -> str | None:
        def rank(node: str) -> tuple[bool, str]:
            assignment = self.prev.get(node)
            ready = assignment is not None and self.applied(node, assignment)
            return (not ready, node)

        return min(members, key=rank) if members else None

    def claims_optimized(self, exclude: str) -> list[str]:
        """Live nodes other than ``exclude`` whose agents still report active-optimized."""
        return sorted(
            t.node for t in self.status.targets if t.node != exclude and t.alua_state == AO and self.alive(t.node)
        )

    # -- the decision ------------------------------------------------------------------------
    def run(self, deleting: bool) -> Decision:
        serving, dropped = self.serving_nodes()
        roles, losses = self.classify(serving)
        members = [n for n in serving if roles[n] is Role.MEMBER and (self.local or self.alive(n))]
        failed_over_from = self.status.failed_over_from
        if failed_over_from is not None and failed_over_from not in serving:
            failed_over_from = None
        choice = self.choose(serving, members, roles, losses, failed_over_from)
        if deleting:
            self.deletion_blocked_event()
        assignments = self.assign(serving, roles, choice.optimized)
        conditions = self.conditions(assignments, roles, losses, choice, dropped, deleting)
        return _finish(
            self.vg,
            Decision(
                assignments=assignments,
                optimized_node=choice.optimized,
                failed_over_from=choice.failed_over_from,
                conditions=conditions,
                events=tuple(self.events),
                requeue_after=self.timer.seconds(),
                converged=all(self.applied(a.node, a) for a in assignments if self.alive(a.node)),
            ),
        )

    def classify(self, serving: list[str]) -> tuple[dict[str, Role], dict[str, _Loss]]:
        """Role of each serving node before the optimized one is chosen (member or fenced)."""
        roles: dict[str, Role] = {}
        losses: dict[str, _Loss] = {}
        for node in serving:
            loss = self.loss(node)
            if loss is not None:
                losses[node] = loss
            previous = self.prev.get(node)
            was_fenced = previous is not None and previous.alua_state == FENCE
            if self.local:
                roles[node] = Role.MEMBER
            elif loss is not None:
                roles[node] = Role.FENCED
                if not was_fenced:
                    self.events.append(Event("Fenced", f"node {node} fenced (unavailable): {loss.detail}", "Warning"))
            elif was_fenced and not self.fence_lifted(node):
                roles[node] = Role.FENCED
            else:
                roles[node] = Role.MEMBER
                if was_fenced:
                    self.events.append(
                        Event("FenceLifted", f"node {node} applied its fence and was stable; it serves again")
                    )
        return roles, losses

    def choose(
        self,
        serving: list[str],
        members: list[str],
        roles: dict[str, Role],
        losses: dict[str, _Loss],
        failed_over_from: str | None,
    ) -> _Choice:
        """The optimized node (None while a handover or a demotion is pending)."""
        if self.local:
            node = serving[0] if serving else None
            if node is not None and not self.prev:
                self.events.append(Event("TargetsAssigned", f"node {node} serves active/optimized (local backing)"))
            return _Choice(node, None)
        prev_optimized = sorted(n for n, a in self.prev.items() if a.alua_state == AO)
        current = next((n for n in prev_optimized if n in members), None)
        if current is not None:
            optimized, note = self.keep_or_hand_over(current, members, roles, failed_over_from)
            return _Choice(optimized, failed_over_from, note=note, handover=optimized is None)
        lost = [n for n in prev_optimized if n not in members]
        if lost and failed_over_from is None and roles.get(lost[0]) is Role.FENCED:
            failed_over_from = lost[0]
        wish, why = self.wished(members)
        pick = wish or self.first_ready(members)
        why = why or "first ready node"
        blocked = self.claims_optimized(pick) if pick is not None else []
        optimized = pick if not blocked else None
        for node in lost:
            self.failover_event(node, losses.get(node), optimized, why, pick)
        if optimized is not None and not lost and self.prev:
            if optimized == failed_over_from:
                self.events.append(Event("FailedBack", f"node {optimized} is active/optimized again ({why})"))
            else:
                self.events.append(Event("Promoted", f"node {optimized} is active/optimized ({why})"))
        elif optimized is not None and not self.prev:
            others = [n for n in serving if n != optimized]
            extra = f"; also serving: {', '.join(others)}" if others else ""
            self.events.append(Event("TargetsAssigned", f"node {optimized} serves active/optimized ({why}){extra}"))
        if optimized is not None and optimized == failed_over_from:
            failed_over_from = None
        return _Choice(optimized, failed_over_from, blocked=blocked)

    def deletion_blocked_event(self) -> None:
        previous = self.status.condition(ConditionType.PROGRESSING.value)
        if previous is None or previous.reason != "DeletionBlockedByAttachments":
            held = ", ".join(sorted(a.node for a in self.status.attachments))
            self.events.append(
                Event("DeletionBlocked", f"deletion waits until the group is detached (attached on {held})", "Warning")
            )

    def keep_or_hand_over(
        self, current: str, members: list[str], roles: dict[str, Role], failed_over_from: str | None
    ) -> tuple[str | None, str]:
        """Keep ``current`` optimized, or start a planned handover (demote it: step 1)."""
        wish, why = self.wished(members)
        if wish is None or wish == current:
            return current, ""
        target = self.prev.get(wish)
        if target is None or target.alua_state is FENCE or not self.applied(wish, target):
            return current, f"{wish} ({why}) takes over once it serves as non-optimized"
        if wish == failed_over_from:
            if not self.vg.spec.failover.auto_failback:
                return current, f"{wish} is healthy again; failback is off (spec.failover.autoFailback: false)"
            known = self.health.get(wish)
            since = known.alive_since if known is not None else None
            due = (since or self.now) + self.policy.failback_delay
            if self.now < due:
                self.timer.at_(due)
                return current, f"failback to {wish} at {_fmt_time(due)} (failback delay)"
            cause = f"failback to {wish} ({why})"
        else:
            cause = f"move to {wish} ({why})"
        roles[current] = Role.DEMOTING
        self.events.append(Event("HandoverStarted", f"{cause}: demoting {current} to active/non-optimized first"))
        return None, f"handover from {current} to {wish}: waiting for {current} to report active/non-optimized"

    def failover_event(self, node: str, loss: _Loss | None, optimized: str | None, why: str, pick: str | None) -> None:
        reason = loss.reason if loss is not None else "RemovedFromPlacement"
        detail = loss.detail if loss is not None else "no longer allowed by placement"
        took = _seconds(self.now - loss.since) if loss is not None and loss.since is not None else None
        timing = f"; decided {took:.2f}s after the loss" if took is not None else ""
        if optimized is not None:
            message = f"active/optimized moved from {node} to {optimized} ({why}): {node} {detail}{timing}"
        elif pick is not None:
            message = (
                f"active/optimized lost on {node} ({detail}); {pick} takes over once {node} stops reporting "
                f"active/optimized{timing}"
            )
        else:
            message = f"active/optimized lost on {node} ({detail}) and no healthy node can take over yet{timing}"
        if loss is None:
            self.events.append(Event("OptimizedNodeRemoved", message, "Normal"))
            return
        self.events.append(Event("FailedOver", message, "Warning", failover_reason=reason, decision_seconds=took))

    def assign(self, serving: list[str], roles: dict[str, Role], optimized: str | None) -> tuple[TargetAssignment, ...]:
        keep = {n: self.prev[n].port_group_id for n in serving if n in self.prev}
        port_groups = allocate_port_group_ids(keep, [n for n in serving if n not in keep])
        idle_state = self.vg.spec.failover.non_optimized_state if optimized is not None else ANO
        out = []
        for node in serving:
            role = roles[node]
            if role is Role.FENCED:
                state = FENCE
            elif node == optimized:
                state = AO
            elif role is Role.DEMOTING:
                state = ANO
            else:
                state = idle_state
            paths = {d.name: self.vg.device_path(d.name, node) for d in self.vg.spec.disks}
            out.append(
                TargetAssignment(node=node, alua_state=state, port_group_id=port_groups[node], device_paths=paths)
            )
        return tuple(out)

    # -- conditions --------------------------------------------------------------------------
    def conditions(
        self,
        assignments: tuple[TargetAssignment, ...],
        roles: dict[str, Role],
        losses: dict[str, _Loss],
        choice: _Choice,
        dropped: list[str],
        deleting: bool,
    ) -> tuple[Condition, ...]:
        prev = self.status.condition
        gen = self.generation
        ready = self.ready(assignments, roles, losses, choice)
        progressing = self.progressing(assignments, choice, dropped, deleting)
        progressing_cond = _condition(ConditionType.PROGRESSING, *progressing, prev("Progressing"), self.now, gen)
        stuck_since = progressing_cond.last_transition_time if progressing_cond.status == ConditionStatus.TRUE else None
        fenced = [n for n, r in roles.items() if r is Role.FENCED]
        if self.local and losses:
            degraded = (True, "NodeDown", self.loss_text(losses))
        elif fenced:
            parts = [
                f"{n}: {losses[n].detail}" if n in losses else f"{n}: fenced, waiting to be stable" for n in fenced
            ]
            degraded = (True, "NodeFenced", "fenced (unavailable): " + "; ".join(parts))
        elif stuck_since is not None and not deleting and self.now - stuck_since >= self.policy.converge_timeout:
            limit = _seconds(self.policy.converge_timeout)
            degraded = (True, "NotConverging", f"{progressing[2]} for over {limit:.0f}s")
        else:
            degraded = (False, "Healthy", "no serving node is fenced or down")
            if stuck_since is not None and not deleting:
                self.timer.at_(stuck_since + self.policy.converge_timeout)
        return (
            _condition(ConditionType.READY, *ready, prev("Ready"), self.now, gen),
            _condition(ConditionType.DEGRADED, *degraded, prev("Degraded"), self.now, gen),
            progressing_cond,
        )

    def ready(
        self,
        assignments: tuple[TargetAssignment, ...],
        roles: dict[str, Role],
        losses: dict[str, _Loss],
        choice: _Choice,
    ) -> tuple[bool, str, str]:
        optimized = choice.optimized
        if not assignments:
            return False, "NoNodeReachesData", self.no_node_message()
        if optimized is None and choice.blocked:
            return (
                False,
                "WaitingForDemotion",
                f"waiting for {', '.join(choice.blocked)} to stop reporting active/optimized",
            )
        if optimized is None and choice.handover:
            return False, "Handover", choice.note
        if optimized is None:
            return False, "NoHealthyNode", "no serving node is healthy: " + self.loss_text(losses)
        if optimized in losses:
            return False, "NodeDown", f"node {optimized}: {losses[optimized].detail}"
        assignment = next(a for a in assignments if a.node == optimized)
        entry = self.entries.get(optimized)
        if not self.applied(optimized, assignment):
            said = f" (agent: {entry.message})" if entry is not None and entry.message else ""
            return False, "WaitingForTarget", f"waiting for node {optimized} to serve active/optimized{said}"
        others = [a.node for a in assignments if a.node != optimized and roles[a.node] is not Role.FENCED]
        message = f"node {optimized} serves active/optimized"
        if others:
            message += f"; non-optimized paths: {', '.join(others)}"
        if choice.note:
            message += f"; {choice.note}"
        return True, "TargetsReady", message

    def progressing(
        self, assignments: tuple[TargetAssignment, ...], choice: _Choice, dropped: list[str], deleting: bool
    ) -> tuple[bool, str, str]:
        if deleting:
            held = ", ".join(f"{a.initiator} on {a.node}" for a in self.status.attachments)
            return (
                True,
                "DeletionBlockedByAttachments",
                f"deletion waits until the group is detached (attachments: {held}); "
                "delete the pods/VolumeAttachments using it first",
            )
        if choice.blocked or choice.handover:
            return (
                True,
                "Handover",
                choice.note or f"waiting for {', '.join(choice.blocked)} to give up active/optimized",
            )
        pending = [a.node for a in assignments if self.alive(a.node) and not self.applied(a.node, a)]
        parts = []
        if pending:
            parts.append(f"waiting for node(s) {', '.join(pending)} to apply their assignment")
        if dropped:
            parts.append(f"node(s) {', '.join(dropped)} left the placement")
        if parts:
            return True, "ApplyingAssignments", "; ".join(parts)
        return False, "Converged", "every live node applied its assignment"

    def loss_text(self, losses: Mapping[str, _Loss]) -> str:
        return "; ".join(f"{n}: {loss.detail}" for n, loss in sorted(losses.items())) or "no node is eligible yet"

    def no_node_message(self) -> str:
        if self.local:
            return "local backing needs one node in placement.nodes"
        reporting = sorted(self.entries)
        if not reporting:
            return "no target agent reported this group yet (allowed nodes need a running nearpath target agent)"
        parts = []
        for node in reporting:
            entry = self.entries[node]
            if not self.vg.allows_node(node, self.labels(node)):
                parts.append(f"{node}: not allowed by placement")
            elif not self.alive(node):
                parts.append(f"{node}: agent Lease expired")
            elif entry.devices_present is not True:
                parts.append(f"{node}: devices not present" + (f" ({entry.message})" if entry.message else ""))
        return "no allowed node reaches the disks: " + "; ".join(parts)
