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

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from nearpath.core.api import ConditionType, TargetAssignment, VolumeGroup
from nearpath.operator.conditions import conditions, deletion_conditions
from nearpath.operator.decision_types import (
    ANO,
    AO,
    FENCE,
    Choice,
    Decision,
    Event,
    Loss,
    NodeHealth,
    Policy,
    Role,
    allocate_port_group_ids,
    delta_seconds,
    fmt_time,
)
from nearpath.operator.group_facts import GroupFacts, node_alive

__all__ = ["Decision", "NodeHealth", "Policy", "allocate_port_group_ids", "decide"]


def decide(vg: VolumeGroup, health: Mapping[str, NodeHealth], policy: Policy, now: datetime) -> Decision:
    """The operator's status part for ``vg``: which nodes serve, in which ALUA state, and why."""
    deleting = vg.metadata.deletion_timestamp is not None
    if deleting and not vg.status.attachments:
        return _decide_deletion(vg, health, now)
    return _Reconcile(vg, health, policy, now).run(deleting)


def _decide_deletion(vg: VolumeGroup, health: Mapping[str, NodeHealth], now: datetime) -> Decision:
    status = vg.status
    alive = [t.node for t in status.targets if node_alive(health, t.node)]
    serving = sorted(t.node for t in status.targets if t.node in alive and (t.ready or t.alua_state is not None))
    stale = sorted(t.node for t in status.targets if t.node not in alive and t.node not in serving)
    events: list[Event] = []
    if status.assignments:
        events.append(Event("RemovingTargets", "VolumeGroup deleted: every node removes its target", "Normal"))
    if serving:
        message = f"waiting for node(s) {', '.join(serving)} to remove their targets"
    else:
        message = "every target is removed; releasing the finalizer"
        if stale:
            message += f" (node(s) {', '.join(stale)} are down; their agents remove leftovers when they return)"
    return _finish(
        vg,
        Decision(
            assignments=(),
            optimized_node=None,
            failed_over_from=None,
            conditions=deletion_conditions(vg, bool(serving), message, now),
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


class _Reconcile(GroupFacts):
    """One decision for a live (or held) VolumeGroup. Used once, by :func:`decide`."""

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
        conditions_ = conditions(self, assignments, roles, losses, choice, dropped, deleting)
        return _finish(
            self.vg,
            Decision(
                assignments=assignments,
                optimized_node=choice.optimized,
                failed_over_from=choice.failed_over_from,
                conditions=conditions_,
                events=tuple(self.events),
                requeue_after=self.timer.seconds(),
                converged=all(self.applied(a.node, a) for a in assignments if self.alive(a.node)),
            ),
        )

    def classify(self, serving: list[str]) -> tuple[dict[str, Role], dict[str, Loss]]:
        """Role of each serving node before the optimized one is chosen (member or fenced)."""
        roles: dict[str, Role] = {}
        losses: dict[str, Loss] = {}
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
        losses: dict[str, Loss],
        failed_over_from: str | None,
    ) -> Choice:
        """The optimized node (None while a handover or a demotion is pending)."""
        if self.local:
            node = serving[0] if serving else None
            if node is not None and not self.prev:
                self.events.append(Event("TargetsAssigned", f"node {node} serves active/optimized (local backing)"))
            return Choice(node, None)
        prev_optimized = sorted(n for n, a in self.prev.items() if a.alua_state == AO)
        current = next((n for n in prev_optimized if n in members), None)
        if current is not None:
            optimized, note = self.keep_or_hand_over(current, members, roles, failed_over_from)
            return Choice(optimized, failed_over_from, note=note, handover=optimized is None)
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
        return Choice(optimized, failed_over_from, blocked=blocked)

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
                return current, f"failback to {wish} at {fmt_time(due)} (failback delay)"
            cause = f"failback to {wish} ({why})"
        else:
            cause = f"move to {wish} ({why})"
        roles[current] = Role.DEMOTING
        self.events.append(Event("HandoverStarted", f"{cause}: demoting {current} to active/non-optimized first"))
        return None, f"handover from {current} to {wish}: waiting for {current} to report active/non-optimized"

    def failover_event(self, node: str, loss: Loss | None, optimized: str | None, why: str, pick: str | None) -> None:
        reason = loss.reason if loss is not None else "RemovedFromPlacement"
        detail = loss.detail if loss is not None else "no longer allowed by placement"
        took = delta_seconds(self.now - loss.since) if loss is not None and loss.since is not None else None
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
