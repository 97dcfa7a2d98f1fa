"""The agent's self-fence (issue 14, H4): state machine on a fake clock, the agent on the fake LIO."""

from __future__ import annotations

import os
import stat
import subprocess
import threading
from typing import Any

import pytest
from prometheus_client import generate_latest

from nearpath.core.fake_kube import FakeKube
from nearpath.target.agent import TargetAgent
from nearpath.target.desired import DeviceFacts
from nearpath.target.devices import probe as device_probe
from nearpath.target.devices import readable as device_readable
from nearpath.target.fake_lio import FakeLio
from nearpath.target.fence import FENCE_CODE, FenceTimers, SelfFence, fence_lio
from nearpath.target.metrics import TargetMetrics
from nearpath.target.peers import parse_renewal_age, peer_hosts, portal_host, probe_peers
from nearpath.target.runtime import AgentRuntime
from nearpath.target.watchdog import read_deadline
from tests.unit.target.helpers import DEVICES, NODE, PEER, PORTALS, SHARED_DEV, vg_obj

pytestmark = pytest.mark.unit

TIMERS = FenceTimers(self_fence_seconds=8.0, renew_interval_seconds=10 / 3, progress_timeout_seconds=60.0)


class Mono:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def mono() -> Mono:
    return Mono()


@pytest.fixture
def fence(mono: Mono) -> SelfFence:
    return SelfFence(TIMERS, monotonic=mono)


# -- the state machine ------------------------------------------------------------------------
def test_no_fence_while_renewals_are_confirmed(fence: SelfFence, mono: Mono) -> None:
    for _ in range(20):
        sent = mono.now
        mono.now += 3.0
        fence.renewal_confirmed(sent)
        assert not fence.due()
        assert not fence.decide({PEER: None})
    assert not fence.fenced


def test_renewal_age_counts_from_the_send_time(fence: SelfFence, mono: Mono) -> None:
    fence.renewal_confirmed(mono.now)
    mono.now += 7.9
    assert not fence.due()
    mono.now += 0.2
    assert fence.due()


def test_a_renewing_peer_means_partition_so_fence(fence: SelfFence, mono: Mono) -> None:
    mono.now += 8.0
    assert fence.decide({PEER: 1.0})
    assert fence.fenced and "peers renewing: node-b" in fence.reason


def test_a_silent_peer_fences(fence: SelfFence, mono: Mono) -> None:
    mono.now += 8.0
    assert fence.decide({PEER: 40.0, "node-c": None})
    assert fence.fenced and "not answering: node-c" in fence.reason


def test_every_peer_failing_too_is_an_api_outage_so_hold(fence: SelfFence, mono: Mono) -> None:
    """Peers renewed last a little after us (renew phases differ by up to one interval): still an outage."""
    mono.now += 8.0
    assert not fence.decide({PEER: 8.0 - 10 / 3, "node-c": 9.0})
    assert fence.holding and not fence.fenced
    mono.now += 60.0  # the outage goes on: still held
    assert not fence.decide({PEER: 68.0 - 3.0, "node-c": 69.0})
    fence.renewal_confirmed(mono.now)  # the API is back
    assert not fence.holding and not fence.due()


def test_no_peer_at_all_holds(fence: SelfFence, mono: Mono) -> None:
    """Nobody serves this node's groups with it: nobody can be promoted in its place."""
    mono.now += 30.0
    assert not fence.decide({})
    assert not fence.fenced


def test_a_hung_main_loop_stops_renewals(fence: SelfFence, mono: Mono) -> None:
    assert fence.may_renew()
    mono.now += 59.0
    assert fence.may_renew()
    mono.now += 2.0
    assert not fence.may_renew()
    fence.progressed()
    assert fence.may_renew()


# -- peers ------------------------------------------------------------------------------------
def test_peer_hosts_are_the_nodes_serving_my_groups() -> None:
    mine = {
        "status": {
            "targets": [{"node": NODE, "portals": ["10.0.0.1:3260"]}, {"node": PEER, "portals": ["10.0.0.2:3260"]}]
        }
    }
    other = {"status": {"targets": [{"node": "node-c", "portals": ["10.0.0.3:3260"]}]}}
    v6 = {"status": {"targets": [{"node": NODE}, {"node": "node-d", "portals": ["[fd00::4]:3260"]}]}}
    assert peer_hosts([mine, other, v6], NODE) == {PEER: "10.0.0.2", "node-d": "fd00::4"}
    assert portal_host("10.0.0.9") == "10.0.0.9"


def test_renewal_age_is_read_from_the_real_metrics_text(mono: Mono) -> None:
    metrics = TargetMetrics()
    fence = SelfFence(TIMERS, monotonic=mono)
    metrics.watch_renewal_age(fence.renewal_age)
    mono.now += 4.5
    assert parse_renewal_age(generate_latest(metrics.registry).decode()) == pytest.approx(4.5)
    assert parse_renewal_age("nearpath_target_reconciles_total 3.0\n") is None


def test_probe_peers_without_endpoint_or_answer_is_none() -> None:
    answers = {"http://b/metrics": 2.0}
    got = probe_peers(
        {"b": "10.0.0.2", "c": "10.0.0.3", "d": "10.0.0.4"},
        lambda node, _host: None if node == "d" else f"http://{node}/metrics",
        fetch=answers.get,
    )
    assert got == {"b": 2.0, "c": None, "d": None}


# -- the agent on the fake LIO ----------------------------------------------------------------
@pytest.fixture
def lio() -> FakeLio:
    return FakeLio()


@pytest.fixture
def devices() -> dict[str, DeviceFacts]:
    return dict(DEVICES)


@pytest.fixture
def agent(lio: FakeLio, fence: SelfFence, devices: dict[str, DeviceFacts]) -> TargetAgent:
    return TargetAgent(lio, NODE, PORTALS, prober=lambda p: devices.get(p, DeviceFacts(False)), fence=fence)


@pytest.fixture
def kube() -> FakeKube:
    k = FakeKube()
    k.add_node(NODE)
    return k


def assign(kube: FakeKube, state: str, peer_state: str = "active-non-optimized") -> None:
    assignments = [
        {"node": NODE, "aluaState": state, "portGroupId": 2},
        {"node": PEER, "aluaState": peer_state, "portGroupId": 3},
    ]
    kube.apply_volume_group_status("default", "g1", {"assignments": assignments}, "nearpath-operator")


def serve(kube: FakeKube) -> None:
    obj = vg_obj("g1", disks=[{"name": "root", "size": "1Gi", "source": {"path": SHARED_DEV}}])
    obj.pop("status")
    kube.create_volume_group(obj)
    assign(kube, "active-optimized")


def states(lio: FakeLio) -> set[int]:
    return {g.state_code for b in lio.list_backstores() for g in b.alua_groups.values() if g.name.startswith("np_pg")}


def entry(kube: FakeKube) -> dict[str, Any]:
    obj = kube.get_volume_group("default", "g1")
    assert obj is not None
    return next(dict(t) for t in obj["status"]["targets"] if t["node"] == NODE)


def test_fenced_node_serves_unavailable_until_the_operator_assigns_it(
    kube: FakeKube, agent: TargetAgent, lio: FakeLio, fence: SelfFence, mono: Mono
) -> None:
    serve(kube)
    agent.reconcile_kube(kube)
    assert states(lio) == {0}  # active/optimized
    mono.now += 9.0
    assert fence.decide({PEER: 0.5})
    assert fence_lio(lio, agent.lock) == ["np_default_g1_root/np_pg2"]
    assert states(lio) == {FENCE_CODE}
    # the API comes back with the old assignment: the fence holds, and is reported
    fence.renewal_confirmed(mono.now)
    agent.reconcile_kube(kube)
    assert states(lio) == {FENCE_CODE} and fence.fenced
    reported = entry(kube)
    assert reported["aluaState"] == "unavailable" and reported["message"].startswith("self-fenced: Lease not renewed")
    # the operator fenced the node (it saw the entry): the self-fence ends, assignments rule again
    assign(kube, "unavailable", "active-optimized")
    agent.reconcile_kube(kube)
    assert not fence.fenced and states(lio) == {FENCE_CODE}
    assign(kube, "active-non-optimized", "active-optimized")
    agent.reconcile_kube(kube)
    assert states(lio) == {1}


def test_disabled_label_stops_serving(kube: FakeKube, agent: TargetAgent, lio: FakeLio) -> None:
    serve(kube)
    agent.reconcile_kube(kube)
    kube.add_node(NODE, {"nearpath.io/target": "disabled"})
    agent.reconcile_kube(kube)
    assert states(lio) == {FENCE_CODE}
    assert entry(kube)["message"].startswith("fenced: node labelled nearpath.io/target=disabled")


def test_fence_applies_even_when_the_target_cannot_be_computed(
    kube: FakeKube, agent: TargetAgent, lio: FakeLio, devices: dict[str, DeviceFacts]
) -> None:
    """The backing device is gone (H10): the operator fences the node; the agent must apply it."""
    serve(kube)
    agent.reconcile_kube(kube)
    del devices[SHARED_DEV]
    agent.reconcile_kube(kube)
    assert entry(kube)["devicesPresent"] is False
    assign(kube, "unavailable", "active-optimized")
    agent.reconcile_kube(kube)
    assert states(lio) == {FENCE_CODE}


def test_runtime_fences_lio_without_the_api(kube: FakeKube, agent: TargetAgent, lio: FakeLio, mono: Mono) -> None:
    serve(kube)
    agent.reconcile_kube(kube)
    assert agent.peers == {}  # no peer has reported yet
    agent.peers = {PEER: "192.168.100.2"}
    agent.peer_url = lambda _node, _host: None  # no witness endpoint: cannot prove an outage
    runtime = AgentRuntime(agent, kube, threading.Event(), 30, "nearpath-system", 10)
    mono.now += 5.0
    runtime.fence_once()
    assert states(lio) == {0}
    mono.now += 4.0
    runtime.fence_once()
    assert states(lio) == {FENCE_CODE}
    assert agent.metrics.registry.get_sample_value("nearpath_target_self_fences_total") == 1


def test_runtime_renews_only_while_the_main_loop_progresses(
    kube: FakeKube, agent: TargetAgent, fence: SelfFence, mono: Mono
) -> None:
    runtime = AgentRuntime(agent, kube, threading.Event(), 30, "nearpath-system", 10)
    assert runtime.renew_once()
    assert fence.renewal_age() == 0.0
    mono.now += 61.0  # the reconcile loop hangs
    assert not runtime.renew_once()
    assert fence.due()


# -- the backend (H10) ------------------------------------------------------------------------
def test_unreadable_block_device_counts_as_absent(tmp_path: Any) -> None:
    disk = tmp_path / "disk"
    if os.geteuid() != 0:
        pytest.skip("mknod needs root")
    os.mknod(disk, stat.S_IFBLK | 0o600, os.makedev(7, 0))
    assert device_probe(str(disk), read_check=lambda _p: False) == DeviceFacts(exists=False)
    assert device_probe(str(disk), read_check=lambda _p: True).exists


def test_readable_reads_a_real_block_device(tmp_path: Any) -> None:
    image = tmp_path / "image"
    image.write_bytes(b"\0" * (1 << 20))
    made = subprocess.run(["losetup", "--find", "--show", str(image)], capture_output=True, text=True, check=False)
    if made.returncode != 0:
        pytest.skip(f"no loop device here: {made.stderr.strip()}")
    loop = made.stdout.strip()
    try:
        assert device_readable(loop)
        assert device_probe(loop).exists
    finally:
        subprocess.run(["losetup", "-d", loop], check=False)
    assert not device_readable(str(tmp_path / "missing"))


def test_backend_change_wakes_the_main_loop(
    kube: FakeKube, agent: TargetAgent, devices: dict[str, DeviceFacts]
) -> None:
    serve(kube)
    agent.reconcile_kube(kube)
    assert SHARED_DEV in agent.backing_paths
    runtime = AgentRuntime(agent, kube, threading.Event(), 30, "nearpath-system", 10)
    known: dict[str, bool] = {}
    assert not runtime.check_backends(known)
    assert not runtime.check_backends(known)
    del devices[SHARED_DEV]  # the backend fails its reads
    assert runtime.check_backends(known)
    agent.reconcile_kube(kube)
    assert entry(kube)["devicesPresent"] is False


def test_runtime_hands_its_deadline_to_the_watchdog(
    kube: FakeKube, agent: TargetAgent, fence: SelfFence, mono: Mono, tmp_path: Any
) -> None:
    deadline = tmp_path / "deadline"
    runtime = AgentRuntime(agent, kube, threading.Event(), 30, "nearpath-system", 10, deadline_file=deadline)
    fence.renewal_confirmed(mono.now)
    runtime.fence_once()
    assert read_deadline(deadline) == pytest.approx(mono.now + 8.0 + 1.5)  # S + 2 ticks + peer timeout
    mono.now += 8.2  # renewals fail, and so do every peer's (none here): the agent holds
    agent.peers = {}
    runtime.fence_once()
    assert fence.holding and not fence.fenced
    mono.now += 30.0
    runtime.fence_once()  # holding pushes the deadline on, tick after tick
    assert read_deadline(deadline) == pytest.approx(mono.now + 9.5)
    fence.fenced = True
    mono.now += 5.0
    runtime.fence_once()  # fenced by the agent itself: it keeps LIO fenced, the watchdog stays out of its way
    assert read_deadline(deadline) == pytest.approx(mono.now + 9.5)
