"""The reconcile loop against FakeKube: finalizer, status through SSA only, events, metrics, controller."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import time
from datetime import timedelta
from typing import Any

import pytest

from nearpath.core.contract import FINALIZER
from nearpath.core.contract import OPERATOR_FIELD_MANAGER as FIELD_MANAGER
from nearpath.core.errors import Conflict, Unavailable
from nearpath.core.fake_kube import FakeKube
from nearpath.operator.controller import Controller
from nearpath.operator.decisions import Policy
from nearpath.operator.health import LeaseTracker
from nearpath.operator.metrics import OperatorMetrics
from nearpath.operator.reconciler import Reconciler
from nearpath.operator.settings import OperatorSettings
from tests.support.agents import FakeAgents
from tests.support.manifests import shared_disk, volume_group

pytestmark = pytest.mark.unit

POLICY = Policy(stabilization_window=timedelta(0), failback_delay=timedelta(0))


def manifest(name: str = "vg1", preferred: str | None = "a", nodes: list[str] | None = None) -> dict[str, Any]:
    disk = shared_disk("data", "1Gi", "/dev/shared0")
    return volume_group(
        name, "ns", disks=[disk], nodes=nodes or ["a", "b"], preferred=preferred or None, initiators=None
    )


class Rig:
    def __init__(self) -> None:
        self.kube = FakeKube()
        self.metrics = OperatorMetrics()
        self.mono = 0.0
        self.reconciler = Reconciler(self.kube, POLICY, self.metrics, monotonic=lambda: self.mono)
        self.agents = FakeAgents(self.kube, ["a", "b"])
        self.agents.heartbeat()
        self.reconciler.observe_leases(self.kube.list_leases("nearpath-system"))

    def poll_health(self, seconds: int) -> set[str]:
        """The live agents renew and the operator lists the Leases once a second, for ``seconds``."""
        changed: set[str] = set()
        for _ in range(seconds):
            self.mono += 1.0
            self.agents.heartbeat()
            changed |= self.reconciler.observe_leases(self.kube.list_leases("nearpath-system"))
        return changed

    def lose(self, node: str) -> set[str]:
        """``node`` dies; the operator notices once its Lease ran out on the operator's clock."""
        self.agents.kill(node)
        return self.poll_health(12)  # Lease 10 s + grace 1 s

    def feed(self) -> None:
        for obj in self.kube.list_volume_groups():
            self.reconciler.observe("MODIFIED", obj)

    def settle(self, key: str = "ns/vg1", rounds: int = 6) -> dict[str, Any]:
        for _ in range(rounds):
            self.feed()
            self.reconciler.reconcile(key)
            self.agents.sync()
        self.feed()
        self.reconciler.reconcile(key)
        obj = self.kube.get_volume_group(*key.split("/"))
        assert obj is not None
        return obj


def condition(obj: dict[str, Any], type_: str) -> dict[str, Any]:
    return next(c for c in obj["status"]["conditions"] if c["type"] == type_)


def test_reaches_ready_with_finalizer_and_status_through_apply_only() -> None:
    rig = Rig()
    rig.kube.create_volume_group(manifest())
    obj = rig.settle()
    assert FINALIZER in obj["metadata"]["finalizers"]
    assert condition(obj, "Ready")["status"] == "True"
    assert obj["status"]["optimizedNode"] == "a"
    assert {a["node"]: a["aluaState"] for a in obj["status"]["assignments"]} == {
        "a": "active-optimized",
        "b": "active-non-optimized",
    }
    managers = rig.kube.managers("ns", "vg1")
    assert ("assignments", "a") in managers[FIELD_MANAGER]
    assert ("targets", "a") in managers["nearpath-target/a"]
    assert {m for _, m in rig.kube.status_writes} == {FIELD_MANAGER, "nearpath-target/a", "nearpath-target/b"}
    assert [e["reason"] for e in rig.kube.events] == ["TargetsAssigned"]
    sample = rig.metrics.registry.get_sample_value
    assert sample("nearpath_operator_volumegroups", {"condition": "Ready", "status": "True"}) == 1
    assert sample("nearpath_operator_converge_duration_seconds_count") == 1


def test_no_status_write_when_nothing_changed() -> None:
    rig = Rig()
    rig.kube.create_volume_group(manifest())
    rig.settle()
    writes = len(rig.kube.status_writes)
    rig.feed()
    rig.reconciler.reconcile("ns/vg1")
    assert len(rig.kube.status_writes) == writes


def test_lease_loss_fails_over_with_event_and_metric() -> None:
    rig = Rig()
    rig.kube.create_volume_group(manifest())
    rig.settle()
    assert rig.lose("a") == {"a"}
    assert rig.reconciler.keys_for_nodes({"a"}) == ["ns/vg1"]
    obj = rig.settle()
    assert obj["status"]["optimizedNode"] == "b"
    assert obj["status"]["failedOverFrom"] == "a"
    states = {a["node"]: a["aluaState"] for a in obj["status"]["assignments"]}
    assert states == {"a": "unavailable", "b": "active-optimized"}
    reasons = [e["reason"] for e in rig.kube.events]
    assert "FailedOver" in reasons and "Fenced" in reasons
    assert rig.metrics.registry.get_sample_value("nearpath_operator_failovers_total", {"reason": "LeaseExpired"}) == 1
    assert condition(obj, "Degraded")["reason"] == "NodeFenced"


def test_returning_node_is_fenced_then_fails_back() -> None:
    rig = Rig()
    rig.kube.create_volume_group(manifest())
    rig.settle()
    rig.lose("a")
    rig.settle()
    rig.agents.revive("a")
    rig.poll_health(1)
    seen_optimized: list[list[str]] = []
    for _ in range(10):
        rig.feed()
        rig.reconciler.reconcile("ns/vg1")
        obj = rig.kube.get_volume_group("ns", "vg1")
        assert obj is not None
        seen_optimized.append(
            sorted(t["node"] for t in obj["status"]["targets"] if t.get("aluaState") == "active-optimized")
        )
        rig.agents.sync()
    assert obj["status"]["optimizedNode"] == "a"
    assert "failedOverFrom" not in obj["status"]
    assert all(len(s) <= 1 for s in seen_optimized[1:]), seen_optimized  # never two optimized after the fence
    reasons = [e["reason"] for e in rig.kube.events]
    assert reasons.index("FenceLifted") < reasons.index("HandoverStarted") < reasons.index("FailedBack")


def test_delete_runs_the_finalizer() -> None:
    rig = Rig()
    rig.kube.create_volume_group(manifest())
    rig.settle()
    rig.kube.delete_volume_group("ns", "vg1")
    for _ in range(5):
        rig.feed()
        if rig.kube.get_volume_group("ns", "vg1") is None:
            break
        rig.reconciler.reconcile("ns/vg1")
        rig.agents.sync()
    assert rig.kube.get_volume_group("ns", "vg1") is None
    assert "RemovingTargets" in [e["reason"] for e in rig.kube.events]


def test_attached_group_is_held_on_delete() -> None:
    rig = Rig()
    rig.kube.create_volume_group(manifest())
    rig.settle()
    rig.kube.apply_volume_group_status(
        "ns", "vg1", {"attachments": [{"initiator": "iqn.2025-01.io.example:a", "node": "a"}]}, "nearpath-csi"
    )
    rig.kube.delete_volume_group("ns", "vg1")
    obj = rig.settle()
    assert FINALIZER in obj["metadata"]["finalizers"]
    assert condition(obj, "Progressing")["reason"] == "DeletionBlockedByAttachments"
    assert len(obj["status"]["assignments"]) == 2
    rig.kube.apply_volume_group_status("ns", "vg1", {"attachments": []}, "nearpath-csi")
    for _ in range(5):
        rig.feed()
        if rig.kube.get_volume_group("ns", "vg1") is None:
            break
        rig.reconciler.reconcile("ns/vg1")
        rig.agents.sync()
    assert rig.kube.get_volume_group("ns", "vg1") is None


def test_finalizer_patch_retries_on_conflict() -> None:
    rig = Rig()
    rig.kube.create_volume_group(manifest())
    rig.feed()
    rig.kube.fail_next("patch_volume_group", Conflict("changed"))
    rig.reconciler.reconcile("ns/vg1")
    obj = rig.kube.get_volume_group("ns", "vg1")
    assert obj is not None and obj["metadata"]["finalizers"] == [FINALIZER]


def test_invalid_object_gets_a_condition() -> None:
    rig = Rig()
    bad = copy.deepcopy(manifest())
    bad["spec"]["disks"][0]["size"] = "1Ki"  # the CRD would reject it; the operator must not crash
    rig.kube.create_volume_group(bad)
    rig.feed()
    rig.reconciler.reconcile("ns/vg1")
    obj = rig.kube.get_volume_group("ns", "vg1")
    assert obj is not None
    ready = condition(obj, "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "InvalidSpec")
    assert "spec.disks[0]" in ready["message"]


def test_controller_queue_and_health_loop_end_to_end() -> None:
    """Controller workers + health polling (what kopf feeds in production is fed by a watch thread here)."""
    kube = FakeKube()
    agents = FakeAgents(kube, ["a", "b"], lease_seconds=1)
    settings = OperatorSettings(
        health_interval_seconds=0.05, lease_grace_seconds=0.2, workers=2, stabilization_window_seconds=0
    )
    reconciler = Reconciler(kube, settings.policy(), OperatorMetrics(), LeaseTracker(settings.health_timers()))

    async def scenario() -> None:
        controller = Controller(reconciler, kube, settings)
        run = asyncio.create_task(controller.run())
        for i in range(5):
            kube.create_volume_group(manifest(f"vg{i}", preferred=None))

        async def pump(until: float) -> None:
            while time.monotonic() < until:
                agents.heartbeat()
                await asyncio.to_thread(agents.sync)
                for obj in kube.list_volume_groups():
                    controller.observe("MODIFIED", obj)
                await asyncio.sleep(0.02)

        def all_ready(optimized: str) -> bool:
            objs = kube.list_volume_groups()
            return len(objs) == 5 and all(
                (o.get("status") or {}).get("optimizedNode") == optimized
                and any(c["type"] == "Ready" and c["status"] == "True" for c in o["status"].get("conditions", []))
                for o in objs
            )

        deadline = time.monotonic() + 10
        while not all_ready("a") and time.monotonic() < deadline:
            await pump(time.monotonic() + 0.1)
        assert all_ready("a")
        agents.kill("a")  # its Lease runs out 1.2 s after the operator last saw it renewed
        deadline = time.monotonic() + 10
        while not all_ready("b") and time.monotonic() < deadline:
            await pump(time.monotonic() + 0.1)
        assert all_ready("b")
        run.cancel()
        with pytest.raises(asyncio.CancelledError):
            await run

    asyncio.run(asyncio.wait_for(scenario(), timeout=60))
    assert sum(1 for e in kube.events if e["reason"] == "FailedOver") == 5


def test_no_decision_before_the_first_successful_health_poll() -> None:
    """While the Lease listing fails (API down at start), nothing is reconciled: deciding with no
    health would fence every node."""
    kube = FakeKube()
    agents = FakeAgents(kube, ["a", "b"])
    agents.heartbeat()
    kube.create_volume_group(manifest())
    for _ in range(5):
        kube.fail_next("list_leases", Unavailable("API server down"))
    settings = OperatorSettings(health_interval_seconds=0.05, workers=1)
    reconciler = Reconciler(kube, settings.policy(), OperatorMetrics(), LeaseTracker(settings.health_timers()))

    async def scenario() -> None:
        controller = Controller(reconciler, kube, settings)
        for obj in kube.list_volume_groups():
            controller.observe(None, obj)
        run = asyncio.create_task(controller.run())
        await asyncio.sleep(0.15)  # three failed polls
        assert kube.status_writes == []
        deadline = time.monotonic() + 10
        while not kube.status_writes and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        run.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await run

    asyncio.run(scenario())
    obj = kube.get_volume_group("ns", "vg1")
    assert obj is not None
    assert {a["aluaState"] for a in obj["status"]["assignments"]} <= {"active-non-optimized", "active-optimized"}
