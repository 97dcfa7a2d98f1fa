"""The fake target agents behave like the real agent: one scenario table, run against both.

The operator, CSI and benchmark tests trust :class:`tests.support.agents.FakeAgents` to write
what the real :class:`~nearpath.target.agent.TargetAgent` writes. Each case sets the operator's
part of a VolumeGroup (assignments, attachments, a deletion request, placement), lets every
node's agent run once, and checks the ``targets`` entries both write, field by field; for the
real agent (over :class:`~nearpath.target.fake_lio.FakeLio`, itself checked against the
kernel's LIO in ``tests/vm/test_lio_contract.py``) also that LIO serves exactly when the entry
says ready. A fake that disagrees fails here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import pytest

from nearpath.core.contract import FINALIZER, OPERATOR_FIELD_MANAGER, target_iqn
from nearpath.core.fake_kube import FakeKube
from nearpath.target.agent import TargetAgent
from nearpath.target.confinement import PathPolicy
from nearpath.target.desired import DeviceFacts, Portal
from nearpath.target.fake_lio import FakeLio
from tests.support.agents import FakeAgents
from tests.support.manifests import SHARED_DEVICE, assignment, attachment, volume_group

pytestmark = pytest.mark.unit

NODES = ("node-a", "node-b", "node-c")
PORTALS = {n: f"10.0.0.{i + 1}:3260" for i, n in enumerate(NODES)}
LABELS = {"node-a": {"zone": "a"}, "node-b": {"zone": "b"}, "node-c": {"zone": "a"}}
COMPARED = ("node", "iqn", "portals", "aluaState", "portGroupId", "devicesPresent", "ready", "observedGeneration")
NS, NAME = "default", "vg1"


class Agents(Protocol):
    kube: FakeKube

    def sync(self) -> None: ...

    def serves(self, node: str) -> bool | None:
        """Whether node's LIO serves the group (None: the implementation has no LIO)."""


@dataclass
class RealAgents:
    kube: FakeKube
    lios: dict[str, FakeLio] = field(default_factory=dict)
    agents: dict[str, TargetAgent] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for node in NODES:
            self.lios[node] = FakeLio()
            self.agents[node] = TargetAgent(
                self.lios[node],
                node,
                [Portal.parse(PORTALS[node])],
                prober=lambda _path: DeviceFacts(exists=True, is_block=True, size_bytes=2 << 30),
                path_policy=PathPolicy(allowed_prefixes=("/",)),
            )

    def sync(self) -> None:
        for agent in self.agents.values():
            agent.reconcile_kube(self.kube)

    def serves(self, node: str) -> bool | None:
        return target_iqn(NS, NAME, node) in self.lios[node].targets


@dataclass
class FakeAgentsUnderTest:
    kube: FakeKube
    fake: FakeAgents | None = None

    def __post_init__(self) -> None:
        self.fake = FakeAgents(self.kube, NODES, labels=LABELS, portals=PORTALS)

    def sync(self) -> None:
        assert self.fake is not None
        self.fake.sync()

    def serves(self, node: str) -> bool | None:
        return None


IMPLEMENTATIONS: dict[str, Callable[[FakeKube], Agents]] = {"real": RealAgents, "fake": FakeAgentsUnderTest}


@pytest.fixture(params=sorted(IMPLEMENTATIONS))
def agents(request: pytest.FixtureRequest) -> Agents:
    kube = FakeKube()
    for node in NODES:
        kube.add_node(node, LABELS[node])
    return IMPLEMENTATIONS[request.param](kube)


def create(kube: FakeKube, **kwargs: Any) -> None:
    kube.create_volume_group(
        volume_group(NAME, NS, disks=[{"name": "root", "size": "1Gi", "source": {"path": SHARED_DEVICE}}], **kwargs)
    )


def operator_writes(kube: FakeKube, **status: Any) -> None:
    kube.apply_volume_group_status(NS, NAME, status, OPERATOR_FIELD_MANAGER)


def entries(kube: FakeKube) -> dict[str, dict[str, Any]]:
    obj = kube.get_volume_group(NS, NAME)
    assert obj is not None
    return {e["node"]: {k: e.get(k) for k in COMPARED} for e in (obj.get("status") or {}).get("targets") or []}


def expect_entry(node: str, generation: int, *, state: str | None = None, group: int | None = None) -> dict[str, Any]:
    return {
        "node": node,
        "iqn": target_iqn(NS, NAME, node),
        "portals": [PORTALS[node]],
        "aluaState": state,
        "portGroupId": group,
        "devicesPresent": True,
        "ready": state is not None,
        "observedGeneration": generation,
    }


def check(agents: Agents, expected: dict[str, dict[str, Any]]) -> None:
    agents.sync()
    assert entries(agents.kube) == expected
    for node in NODES:
        served = agents.serves(node)
        if served is not None:
            assert served == bool(expected.get(node, {}).get("ready")), f"{node}: LIO disagrees with its entry"


def test_allowed_nodes_report_devices_before_they_are_assigned(agents: Agents) -> None:
    create(agents.kube, nodes=["node-a", "node-b"])
    check(agents, {"node-a": expect_entry("node-a", 1), "node-b": expect_entry("node-b", 1)})


def test_assigned_nodes_serve_their_alua_state_and_port_group(agents: Agents) -> None:
    create(agents.kube, nodes=["node-a", "node-b"])
    operator_writes(
        agents.kube,
        assignments=[assignment("node-a", "active-optimized", 2), assignment("node-b", "active-non-optimized", 3)],
    )
    check(
        agents,
        {
            "node-a": expect_entry("node-a", 1, state="active-optimized", group=2),
            "node-b": expect_entry("node-b", 1, state="active-non-optimized", group=3),
        },
    )


def test_a_spec_change_is_reported_at_the_new_generation(agents: Agents) -> None:
    create(agents.kube, nodes=["node-a"])
    operator_writes(agents.kube, assignments=[assignment("node-a")])
    agents.sync()
    agents.kube.patch_volume_group(NS, NAME, {"spec": {"access": {"initiators": ["iqn.2004-10.com.ubuntu:01:h9"]}}})
    check(agents, {"node-a": expect_entry("node-a", 2, state="active-optimized", group=2)})


def test_a_deleted_group_keeps_serving_while_the_operator_keeps_its_assignments(agents: Agents) -> None:
    """H2: ``kubectl delete`` of an attached group must not pull the disk; the operator keeps the
    finalizer and the assignments until the consumers detach, then withdraws them."""
    create(agents.kube, nodes=["node-a", "node-b"], metadata={"finalizers": [FINALIZER]})
    operator_writes(
        agents.kube,
        assignments=[assignment("node-a"), assignment("node-b", "active-non-optimized", 3)],
        attachments=[attachment("node-a")],
    )
    agents.sync()
    assert agents.kube.delete_volume_group(NS, NAME)
    serving = {
        "node-a": expect_entry("node-a", 1, state="active-optimized", group=2),
        "node-b": expect_entry("node-b", 1, state="active-non-optimized", group=3),
    }
    check(agents, serving)
    operator_writes(agents.kube, assignments=[], attachments=[])
    check(agents, {})


def test_a_deleted_unassigned_group_gets_no_entries(agents: Agents) -> None:
    create(agents.kube, nodes=["node-a"], metadata={"finalizers": [FINALIZER]})
    agents.sync()
    agents.kube.delete_volume_group(NS, NAME)
    check(agents, {})


def test_placement_edits_do_not_pull_an_assigned_node(agents: Agents) -> None:
    """The operator withdraws an assignment (with a planned handover); the agent never does."""
    create(agents.kube, nodes=["node-a", "node-b"])
    operator_writes(agents.kube, assignments=[assignment("node-a")])
    agents.sync()
    agents.kube.patch_volume_group(NS, NAME, {"spec": {"placement": {"nodes": ["node-b"]}}})
    check(
        agents,
        {
            "node-a": expect_entry("node-a", 2, state="active-optimized", group=2),
            "node-b": expect_entry("node-b", 2),
        },
    )
    operator_writes(agents.kube, assignments=[assignment("node-b")])
    check(agents, {"node-b": expect_entry("node-b", 2, state="active-optimized", group=2)})


def test_node_selector_placement_uses_the_nodes_labels(agents: Agents) -> None:
    create(agents.kube, nodes=None, node_selector={"zone": "a"})
    check(agents, {"node-a": expect_entry("node-a", 1), "node-c": expect_entry("node-c", 1)})
