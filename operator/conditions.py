"""The status conditions that explain a decision: Ready, Degraded, Progressing.

Each condition keeps its ``lastTransitionTime`` while its status stays the same. Degraded turns
True when a serving node is fenced or down, or when the assignments have not converged within
``Policy.converge_timeout`` (the timer then wakes the operator at that moment). Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from nearpath.core.api import Condition, ConditionStatus, ConditionType, TargetAssignment, VolumeGroup
from nearpath.operator.decision_types import Choice, Loss, Role, delta_seconds
from nearpath.operator.group_facts import GroupFacts


def condition(
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


def deletion_conditions(vg: VolumeGroup, serving: bool, message: str, now: datetime) -> tuple[Condition, ...]:
    """Conditions of a group being deleted: not Ready, not Degraded, Progressing while targets remain."""
    prev = vg.status.condition
    generation = vg.metadata.generation
    deleting = "the VolumeGroup is being deleted"
    return (
        condition(ConditionType.READY, False, "Deleting", deleting, prev("Ready"), now, generation),
        condition(ConditionType.DEGRADED, False, "Deleting", deleting, prev("Degraded"), now, generation),
        condition(ConditionType.PROGRESSING, serving, "RemovingTargets", message, prev("Progressing"), now, generation),
    )


def conditions(
    facts: GroupFacts,
    assignments: tuple[TargetAssignment, ...],
    roles: dict[str, Role],
    losses: dict[str, Loss],
    choice: Choice,
    dropped: list[str],
    deleting: bool,
) -> tuple[Condition, ...]:
    prev = facts.status.condition
    gen = facts.generation
    ready = _ready(facts, assignments, roles, losses, choice)
    progressing = _progressing(facts, assignments, choice, dropped, deleting)
    progressing_cond = condition(ConditionType.PROGRESSING, *progressing, prev("Progressing"), facts.now, gen)
    stuck_since = progressing_cond.last_transition_time if progressing_cond.status == ConditionStatus.TRUE else None
    fenced = [n for n, r in roles.items() if r is Role.FENCED]
    if facts.local and losses:
        degraded = (True, "NodeDown", loss_text(losses))
    elif fenced:
        parts = [f"{n}: {losses[n].detail}" if n in losses else f"{n}: fenced, waiting to be stable" for n in fenced]
        degraded = (True, "NodeFenced", "fenced (unavailable): " + "; ".join(parts))
    elif stuck_since is not None and not deleting and facts.now - stuck_since >= facts.policy.converge_timeout:
        limit = delta_seconds(facts.policy.converge_timeout)
        degraded = (True, "NotConverging", f"{progressing[2]} for over {limit:.0f}s")
    else:
        degraded = (False, "Healthy", "no serving node is fenced or down")
        if stuck_since is not None and not deleting:
            facts.timer.at_(stuck_since + facts.policy.converge_timeout)
    return (
        condition(ConditionType.READY, *ready, prev("Ready"), facts.now, gen),
        condition(ConditionType.DEGRADED, *degraded, prev("Degraded"), facts.now, gen),
        progressing_cond,
    )


def _ready(
    facts: GroupFacts,
    assignments: tuple[TargetAssignment, ...],
    roles: dict[str, Role],
    losses: dict[str, Loss],
    choice: Choice,
) -> tuple[bool, str, str]:
    optimized = choice.optimized
    if not assignments:
        return False, "NoNodeReachesData", _no_node_message(facts)
    if optimized is None and choice.blocked:
        return (
            False,
            "WaitingForDemotion",
            f"waiting for {', '.join(choice.blocked)} to stop reporting active/optimized",
        )
    if optimized is None and choice.handover:
        return False, "Handover", choice.note
    if optimized is None:
        return False, "NoHealthyNode", "no serving node is healthy: " + loss_text(losses)
    if optimized in losses:
        return False, "NodeDown", f"node {optimized}: {losses[optimized].detail}"
    assignment = next(a for a in assignments if a.node == optimized)
    entry = facts.entries.get(optimized)
    if not facts.applied(optimized, assignment):
        said = f" (agent: {entry.message})" if entry is not None and entry.message else ""
        return False, "WaitingForTarget", f"waiting for node {optimized} to serve active/optimized{said}"
    others = [a.node for a in assignments if a.node != optimized and roles[a.node] is not Role.FENCED]
    message = f"node {optimized} serves active/optimized"
    if others:
        message += f"; non-optimized paths: {', '.join(others)}"
    if choice.note:
        message += f"; {choice.note}"
    return True, "TargetsReady", message


def _progressing(
    facts: GroupFacts, assignments: tuple[TargetAssignment, ...], choice: Choice, dropped: list[str], deleting: bool
) -> tuple[bool, str, str]:
    if deleting:
        held = ", ".join(f"{a.initiator} on {a.node}" for a in facts.status.attachments)
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
    pending = [a.node for a in assignments if facts.alive(a.node) and not facts.applied(a.node, a)]
    parts = []
    if pending:
        parts.append(f"waiting for node(s) {', '.join(pending)} to apply their assignment")
    if dropped:
        parts.append(f"node(s) {', '.join(dropped)} left the placement")
    if parts:
        return True, "ApplyingAssignments", "; ".join(parts)
    return False, "Converged", "every live node applied its assignment"


def loss_text(losses: Mapping[str, Loss]) -> str:
    return "; ".join(f"{n}: {loss.detail}" for n, loss in sorted(losses.items())) or "no node is eligible yet"


def _no_node_message(facts: GroupFacts) -> str:
    if facts.local:
        return "local backing needs one node in placement.nodes"
    reporting = sorted(facts.entries)
    if not reporting:
        return "no target agent reported this group yet (allowed nodes need a running nearpath target agent)"
    parts = []
    for node in reporting:
        entry = facts.entries[node]
        if not facts.vg.allows_node(node, facts.labels(node)):
            parts.append(f"{node}: not allowed by placement")
        elif not facts.alive(node):
            parts.append(f"{node}: agent Lease expired")
        elif entry.devices_present is not True:
            parts.append(f"{node}: devices not present" + (f" ({entry.message})" if entry.message else ""))
    return "no allowed node reaches the disks: " + "; ".join(parts)
