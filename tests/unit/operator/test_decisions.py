"""Table-driven tests of every operator decision (placement, ALUA assignment, fencing, failback)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pytest

from nearpath.core.api import AluaState, VolumeGroup
from nearpath.core.clock import rfc3339
from nearpath.operator.decisions import Decision, NodeHealth, allocate_port_group_ids, decide
from tests.unit.operator.builders import (
    ANO,
    AO,
    NOW,
    POLICY,
    SB,
    UN,
    ago,
    assign,
    down,
    target,
    up,
    vg,
)

pytestmark = pytest.mark.unit


@dataclass
class Case:
    id: str
    vg: VolumeGroup
    health: Mapping[str, NodeHealth]
    states: dict[str, str]
    optimized: str | None
    ready: tuple[str, str]
    events: list[str] = field(default_factory=list)
    failed_over_from: str | None = None
    degraded: str | None = None
    requeue_about: float | None = None
    port_groups: dict[str, int] | None = None
    release_finalizer: bool = False
    message_has: str = ""


STEADY = [assign("a", AO, 2), assign("b", ANO, 3)]
STEADY_TARGETS = [target("a", AO, pg=2), target("b", ANO, pg=3)]

CASES = [
    # --- placement and first assignment ------------------------------------------------------
    Case(
        "initial-preferred-node-optimized",
        vg(preferred="b", targets=[target("a", ready=False), target("b", ready=False)]),
        {"a": up(), "b": up()},
        states={"a": ANO, "b": AO},
        optimized="b",
        ready=("False", "WaitingForTarget"),
        events=["TargetsAssigned"],
        port_groups={"a": 2, "b": 3},
    ),
    Case(
        "initial-attachment-node-optimized",
        vg(targets=[target("a", ready=False), target("b", ready=False)], attachments=[("b", "x")]),
        {"a": up(), "b": up()},
        states={"a": ANO, "b": AO},
        optimized="b",
        ready=("False", "WaitingForTarget"),
        events=["TargetsAssigned"],
    ),
    Case(
        "initial-first-ready-node-optimized",
        vg(targets=[target("b", ready=False), target("a", ready=False)]),
        {"a": up(), "b": up()},
        states={"a": AO, "b": ANO},
        optimized="a",
        ready=("False", "WaitingForTarget"),
        events=["TargetsAssigned"],
    ),
    Case(
        "node-without-devices-or-lease-not-assigned",
        vg(targets=[target("a", ready=False), target("b", devices=False, ready=False), target("c", ready=False)]),
        {"a": up(), "b": up(), "c": down()},
        states={"a": AO},
        optimized="a",
        ready=("False", "WaitingForTarget"),
        events=["TargetsAssigned"],
    ),
    Case(
        "node-selector-excludes-unlabelled-node",
        vg(selector={"storage": "yes"}, targets=[target("a", ready=False), target("b", ready=False)]),
        {"a": NodeHealth(True, ago(600), labels={"storage": "yes"}), "b": up()},
        states={"a": AO},
        optimized="a",
        ready=("False", "WaitingForTarget"),
        events=["TargetsAssigned"],
    ),
    Case(
        "no-agent-reported-yet",
        vg(),
        {},
        states={},
        optimized=None,
        ready=("False", "NoNodeReachesData"),
        message_has="no target agent reported",
    ),
    Case(
        "standby-mode-non-optimized-state",
        vg(non_optimized=SB, preferred="a", targets=[target("a", ready=False), target("b", ready=False)]),
        {"a": up(), "b": up()},
        states={"a": AO, "b": SB},
        optimized="a",
        ready=("False", "WaitingForTarget"),
        events=["TargetsAssigned"],
    ),
    Case(
        "steady-state-ready",
        vg(preferred="a", assignments=STEADY, targets=STEADY_TARGETS),
        {"a": up(), "b": up()},
        states={"a": AO, "b": ANO},
        optimized="a",
        ready=("True", "TargetsReady"),
        degraded="False",
    ),
    Case(
        "converging-agent-is-not-a-failure",
        vg(preferred="a", assignments=STEADY, targets=[target("a", AO, pg=2), target("b", ready=False)]),
        {"a": up(), "b": up()},
        states={"a": AO, "b": ANO},
        optimized="a",
        ready=("True", "TargetsReady"),
        degraded="False",
    ),
    Case(
        "new-node-joins-with-lowest-free-port-group",
        vg(
            preferred="a",
            assignments=[assign("a", AO, 3), assign("b", ANO, 5)],
            targets=[target("a", AO, pg=3), target("b", ANO, pg=5), target("c", ready=False)],
        ),
        {"a": up(), "b": up(), "c": up()},
        states={"a": AO, "b": ANO, "c": ANO},
        optimized="a",
        ready=("True", "TargetsReady"),
        port_groups={"a": 3, "b": 5, "c": 2},
    ),
    # --- failover --------------------------------------------------------------------------------
    Case(
        "optimized-node-down-fails-over",
        vg(preferred="a", assignments=STEADY, targets=STEADY_TARGETS),
        {"a": down(2.5), "b": up()},
        states={"a": UN, "b": AO},
        optimized="b",
        ready=("False", "WaitingForTarget"),
        events=["Fenced", "FailedOver"],
        failed_over_from="a",
        degraded="True",
        message_has="2.50s after the loss",
    ),
    Case(
        "optimized-target-failed-fails-over",
        vg(
            preferred="a",
            assignments=STEADY,
            targets=[target("a", AO, ready=False, message="backstore gone"), target("b", ANO, pg=3)],
        ),
        {"a": up(), "b": up()},
        states={"a": UN, "b": ANO},
        optimized=None,  # a is alive and still reports active-optimized: wait for the fence
        ready=("False", "WaitingForDemotion"),
        events=["Fenced", "FailedOver"],
        failed_over_from="a",
        degraded="True",
    ),
    Case(
        "optimized-devices-missing-fails-over",
        vg(
            preferred="a",
            assignments=STEADY,
            targets=[target("a", UN, devices=False, ready=False), target("b", ANO, pg=3)],
        ),
        {"a": up(), "b": up()},
        states={"a": UN, "b": AO},
        optimized="b",
        ready=("False", "WaitingForTarget"),
        events=["Fenced", "FailedOver"],
        failed_over_from="a",
        degraded="True",
    ),
    Case(
        "both-nodes-down",
        vg(preferred="a", assignments=STEADY, targets=STEADY_TARGETS),
        {"a": down(), "b": down()},
        states={"a": UN, "b": UN},
        optimized=None,
        ready=("False", "NoHealthyNode"),
        events=["Fenced", "Fenced", "FailedOver"],
        failed_over_from="a",
        degraded="True",
        message_has="no healthy node",
    ),
    Case(
        "non-optimized-node-down-is-fenced-only",
        vg(preferred="a", assignments=STEADY, targets=STEADY_TARGETS),
        {"a": up(), "b": down()},
        states={"a": AO, "b": UN},
        optimized="a",
        ready=("True", "TargetsReady"),
        events=["Fenced"],
        degraded="True",
    ),
    Case(
        "after-failover-no-repeated-events",
        vg(
            preferred="a",
            failed_over_from="a",
            assignments=[assign("a", UN, 2), assign("b", AO, 3)],
            targets=[target("a", AO, pg=2), target("b", AO, pg=3)],
        ),
        {"a": down(30), "b": up()},
        states={"a": UN, "b": AO},
        optimized="b",
        ready=("True", "TargetsReady"),
        failed_over_from="a",
        degraded="True",
    ),
    # --- return of a fenced node, flapping ------------------------------------------------------
    Case(
        "flapping-lease-stays-fenced-within-window",
        vg(
            preferred="a",
            failed_over_from="a",
            assignments=[assign("a", UN, 2), assign("b", AO, 3)],
            targets=[target("a", UN, pg=2), target("b", AO, pg=3)],
        ),
        {"a": up(since=3), "b": up()},
        states={"a": UN, "b": AO},
        optimized="b",
        ready=("True", "TargetsReady"),
        failed_over_from="a",
        degraded="True",
        requeue_about=7,
    ),
    Case(
        "returned-node-stays-fenced-until-agent-applies-fence",
        vg(
            preferred="a",
            failed_over_from="a",
            assignments=[assign("a", UN, 2), assign("b", AO, 3)],
            targets=[target("a", AO, pg=2), target("b", AO, pg=3)],
        ),
        {"a": up(since=60), "b": up()},
        states={"a": UN, "b": AO},
        optimized="b",
        ready=("True", "TargetsReady"),
        failed_over_from="a",
        degraded="True",
    ),
    Case(
        "fence-lifted-after-window-and-confirmation",
        vg(
            preferred="a",
            failed_over_from="a",
            assignments=[assign("a", UN, 2), assign("b", AO, 3)],
            targets=[target("a", UN, pg=2), target("b", AO, pg=3)],
        ),
        {"a": up(since=60), "b": up()},
        states={"a": ANO, "b": AO},
        optimized="b",
        ready=("True", "TargetsReady"),
        events=["FenceLifted"],
        failed_over_from="a",
        degraded="False",
    ),
    # --- failback --------------------------------------------------------------------------------
    Case(
        "failback-with-policy-demotes-first",
        vg(
            preferred="a",
            failed_over_from="a",
            assignments=[assign("a", ANO, 2), assign("b", AO, 3)],
            targets=[target("a", ANO, pg=2), target("b", AO, pg=3)],
        ),
        {"a": up(since=60), "b": up()},
        states={"a": ANO, "b": ANO},
        optimized=None,
        ready=("False", "Handover"),
        events=["HandoverStarted"],
        failed_over_from="a",
    ),
    Case(
        "failback-waits-for-failback-delay",
        vg(
            preferred="a",
            failed_over_from="a",
            assignments=[assign("a", ANO, 2), assign("b", AO, 3)],
            targets=[target("a", ANO, pg=2), target("b", AO, pg=3)],
        ),
        {"a": up(since=20), "b": up()},
        states={"a": ANO, "b": AO},
        optimized="b",
        ready=("True", "TargetsReady"),
        failed_over_from="a",
        requeue_about=10,
        message_has="failback delay",
    ),
    Case(
        "failback-without-policy-stays",
        vg(
            preferred="a",
            failed_over_from="a",
            auto_failback=False,
            assignments=[assign("a", ANO, 2), assign("b", AO, 3)],
            targets=[target("a", ANO, pg=2), target("b", AO, pg=3)],
        ),
        {"a": up(since=3600), "b": up()},
        states={"a": ANO, "b": AO},
        optimized="b",
        ready=("True", "TargetsReady"),
        failed_over_from="a",
        message_has="autoFailback: false",
    ),
    Case(
        "handover-step-2-waits-while-old-node-reports-optimized",
        vg(
            preferred="a",
            failed_over_from="a",
            assignments=[assign("a", ANO, 2), assign("b", ANO, 3)],
            targets=[target("a", ANO, pg=2), target("b", AO, pg=3)],
        ),
        {"a": up(since=60), "b": up()},
        states={"a": ANO, "b": ANO},
        optimized=None,
        ready=("False", "WaitingForDemotion"),
        failed_over_from="a",
    ),
    Case(
        "handover-step-2-promotes-after-demotion-reported",
        vg(
            preferred="a",
            failed_over_from="a",
            non_optimized=SB,
            assignments=[assign("a", ANO, 2), assign("b", ANO, 3)],
            targets=[target("a", ANO, pg=2), target("b", ANO, pg=3)],
        ),
        {"a": up(since=60), "b": up()},
        states={"a": AO, "b": SB},
        optimized="a",
        ready=("False", "WaitingForTarget"),
        events=["FailedBack"],
        failed_over_from=None,
    ),
    # --- placement and preference changes --------------------------------------------------------
    Case(
        "non-optimized-node-removed-from-placement",
        vg(nodes=["a"], preferred="a", assignments=STEADY, targets=STEADY_TARGETS),
        {"a": up(), "b": up()},
        states={"a": AO},
        optimized="a",
        ready=("True", "TargetsReady"),
    ),
    Case(
        "optimized-node-removed-from-placement-waits-for-its-removal",
        vg(nodes=["b"], assignments=STEADY, targets=STEADY_TARGETS),
        {"a": up(), "b": up()},
        states={"b": ANO},
        optimized=None,
        ready=("False", "WaitingForDemotion"),
        events=["OptimizedNodeRemoved"],
    ),
    Case(
        "optimized-node-removed-from-placement-then-promotes",
        vg(nodes=["b"], assignments=[assign("b", ANO, 3)], targets=[target("b", ANO, pg=3)]),
        {"a": up(), "b": up()},
        states={"b": AO},
        optimized="b",
        ready=("False", "WaitingForTarget"),
        events=["Promoted"],
    ),
    Case(
        "preferred-node-changed-while-attached-hands-over",
        vg(
            preferred="b",
            auto_failback=False,  # a planned move is not a failback: policy does not apply
            attachments=[("a", "x")],
            assignments=STEADY,
            targets=STEADY_TARGETS,
        ),
        {"a": up(), "b": up()},
        states={"a": ANO, "b": ANO},
        optimized=None,
        ready=("False", "Handover"),
        events=["HandoverStarted"],
    ),
    Case(
        "preferred-node-changed-step-2",
        vg(
            preferred="b",
            attachments=[("a", "x")],
            assignments=[assign("a", ANO, 2), assign("b", ANO, 3)],
            targets=[target("a", ANO, pg=2), target("b", ANO, pg=3)],
        ),
        {"a": up(), "b": up()},
        states={"a": ANO, "b": AO},
        optimized="b",
        ready=("False", "WaitingForTarget"),
        events=["Promoted"],
    ),
    Case(
        "preferred-node-changed-to-unready-node-waits",
        vg(
            preferred="b",
            assignments=STEADY,
            targets=[target("a", AO, pg=2), target("b", ready=False)],
        ),
        {"a": up(), "b": up()},
        states={"a": AO, "b": ANO},
        optimized="a",
        ready=("True", "TargetsReady"),
        message_has="takes over once it serves",
    ),
    # --- local backing ----------------------------------------------------------------------------
    Case(
        "local-single-node",
        vg(backing="local", nodes=["a"]),
        {"a": up()},
        states={"a": AO},
        optimized="a",
        ready=("False", "WaitingForTarget"),
        events=["TargetsAssigned"],
    ),
    Case(
        "local-node-down-is-not-fenced",
        vg(backing="local", nodes=["a"], assignments=[assign("a", AO, 2)], targets=[target("a", AO, pg=2)]),
        {"a": down()},
        states={"a": AO},
        optimized="a",
        ready=("False", "NodeDown"),
        degraded="True",
    ),
    # --- fences the agents apply on their own (issue 14, H4) ---------------------------------------
    Case(
        "self-fenced-optimized-node-fails-over-at-once",
        vg(
            preferred="a",
            assignments=STEADY,
            targets=[
                target("a", UN, pg=2, fenced=True, message="self-fenced: Lease not renewed"),
                target("b", ANO, pg=3),
            ],
        ),
        {"a": up(), "b": up()},
        states={"a": UN, "b": AO},
        optimized="b",
        ready=("False", "WaitingForTarget"),
        events=["Fenced", "FailedOver"],
        failed_over_from="a",
        message_has="agent fenced its node: self-fenced",
    ),
    Case(
        "self-fence-acknowledged-stays-fenced-until-stable",
        vg(
            preferred="a",
            assignments=[assign("a", UN, 2), assign("b", AO, 3)],
            targets=[target("a", UN, pg=2), target("b", AO, pg=3)],
            failed_over_from="a",
        ),
        {"a": up(since=3), "b": up()},
        states={"a": UN, "b": AO},
        optimized="b",
        ready=("True", "TargetsReady"),
        failed_over_from="a",
        requeue_about=7.05,
    ),
    Case(
        "disabled-optimized-node-is-fenced-and-blocks-promotion-until-it-applies-it",
        vg(preferred="a", assignments=STEADY, targets=STEADY_TARGETS),
        {"a": NodeHealth(alive=True, alive_since=ago(600), labels={"nearpath.io/target": "disabled"}), "b": up()},
        states={"a": UN, "b": ANO},
        optimized=None,
        ready=("False", "WaitingForDemotion"),
        events=["Fenced", "FailedOver"],
        failed_over_from="a",
        message_has="nearpath.io/target=disabled",
    ),
    # --- deletion ---------------------------------------------------------------------------------
    Case(
        "deleting-removes-every-assignment",
        vg(deleting=True, assignments=STEADY, targets=STEADY_TARGETS),
        {"a": up(), "b": up()},
        states={},
        optimized=None,
        ready=("False", "Deleting"),
        events=["RemovingTargets"],
    ),
    Case(
        "deleting-releases-finalizer-when-targets-gone",
        vg(deleting=True, targets=[target("a", ready=False), target("b", AO, pg=3)]),
        {"a": up(), "b": down()},
        states={},
        optimized=None,
        ready=("False", "Deleting"),
        release_finalizer=True,
    ),
    Case(
        "deleting-with-attachments-is-held",
        vg(deleting=True, preferred="a", attachments=[("a", "x")], assignments=STEADY, targets=STEADY_TARGETS),
        {"a": up(), "b": up()},
        states={"a": AO, "b": ANO},
        optimized="a",
        ready=("True", "TargetsReady"),
        events=["DeletionBlocked"],
    ),
]


def _states(decision: Decision) -> dict[str, str]:
    return {a.node: a.alua_state.value for a in decision.assignments}


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_decision(case: Case) -> None:
    decision = decide(case.vg, case.health, POLICY, NOW)
    assert _states(decision) == case.states
    assert decision.optimized_node == case.optimized
    ready = decision.condition("Ready")
    assert ready is not None
    assert (ready.status.value, ready.reason) == case.ready, ready.message
    assert sorted(e.reason for e in decision.events) == sorted(case.events), [e.message for e in decision.events]
    assert decision.failed_over_from == case.failed_over_from
    assert decision.release_finalizer == case.release_finalizer
    if case.degraded is not None:
        degraded = decision.condition("Degraded")
        assert degraded is not None and degraded.status.value == case.degraded, degraded
    if case.requeue_about is not None:
        assert decision.requeue_after == pytest.approx(case.requeue_about, abs=0.2)
    if case.port_groups is not None:
        assert {a.node: a.port_group_id for a in decision.assignments} == case.port_groups
    if case.message_has:
        texts = [c.message for c in decision.conditions] + [e.message for e in decision.events]
        assert any(case.message_has in t for t in texts), texts


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_never_two_optimized(case: Case) -> None:
    """At most one optimized assignment; a promotion only when no other live node claims optimized."""
    decision = decide(case.vg, case.health, POLICY, NOW)
    optimized = [a.node for a in decision.assignments if a.alua_state is AluaState.ACTIVE_OPTIMIZED]
    assert len(optimized) <= 1
    before = {a.node for a in case.vg.status.assignments if a.alua_state is AluaState.ACTIVE_OPTIMIZED}
    for node in set(optimized) - before:
        claimants = [
            t.node
            for t in case.vg.status.targets
            if t.node != node and t.alua_state is AluaState.ACTIVE_OPTIMIZED and case.health.get(t.node, down()).alive
        ]
        assert not claimants, f"promoted {node} while {claimants} still report active-optimized"


def test_status_wire_is_the_operators_whole_part() -> None:
    decision = decide(CASES[0].vg, CASES[0].health, POLICY, NOW)
    assert set(decision.status) == {"observedGeneration", "conditions", "disks", "assignments", "optimizedNode"}
    assert decision.status["assignments"][0]["devicePaths"] == {"data": "/dev/disk/by-id/shared0"}
    assert decision.status["disks"][0]["wwid"].startswith("36001405")


def test_condition_transition_time_kept_while_status_unchanged() -> None:
    first = decide(CASES[0].vg, CASES[0].health, POLICY, NOW)
    kept = [c.to_wire() for c in first.conditions]
    for c in kept:
        c["lastTransitionTime"] = rfc3339(ago(50))
    again = decide(
        vg(
            preferred="b", targets=CASES[0].vg.status.model_dump(by_alias=True, mode="json")["targets"], conditions=kept
        ),
        CASES[0].health,
        POLICY,
        NOW,
    )
    ready = again.condition("Ready")
    assert ready is not None and ready.last_transition_time == ago(50)


def test_not_converging_makes_degraded() -> None:
    progressing = {
        "type": "Progressing",
        "status": "True",
        "reason": "ApplyingAssignments",
        "message": "",
        "lastTransitionTime": rfc3339(ago(300)),
    }
    group = vg(
        preferred="a",
        assignments=STEADY,
        targets=[target("a", AO, pg=2), target("b", ready=False)],
        conditions=[progressing],
    )
    decision = decide(group, {"a": up(), "b": up()}, POLICY, NOW)
    degraded = decision.condition("Degraded")
    assert degraded is not None and (degraded.status.value, degraded.reason) == ("True", "NotConverging")


def test_failover_event_carries_reason_and_decision_time() -> None:
    decision = decide(
        vg(preferred="a", assignments=STEADY, targets=STEADY_TARGETS), {"a": down(3), "b": up()}, POLICY, NOW
    )
    failed = next(e for e in decision.events if e.reason == "FailedOver")
    assert failed.failover_reason == "LeaseExpired"
    assert failed.decision_seconds == pytest.approx(3.0)
    assert failed.type_ == "Warning"
    assert "from a to b" in failed.message


@pytest.mark.parametrize(
    ("keep", "new", "expected"),
    [
        ({}, ["a", "b"], {"a": 2, "b": 3}),
        ({"a": 2, "b": 4}, ["c", "d"], {"a": 2, "b": 4, "c": 3, "d": 5}),
        ({"x": 3}, ["y"], {"x": 3, "y": 2}),
    ],
)
def test_port_group_ids_stable_and_lowest_free(keep: dict[str, int], new: list[str], expected: dict[str, int]) -> None:
    assert allocate_port_group_ids(keep, new) == expected
