"""A control-plane outage is not a node failure (issue 14, H3/M5), on the real API server.

The operator runs as its own process with the chart's RBAC, supervised like kubelet would (restarted
when it exits: it exits when it cannot renew its leader Lease). The target agents are the real
:class:`~nearpath.target.agent.TargetAgent` code (heartbeat thread, reconcile loop, status writes)
driving the in-memory LIO, one per node, each with its own API client and clock.

Faults, injected on the real parts: the kube-apiserver process is stopped for
``NEARPATH_API_OUTAGE_SECONDS`` (default 60) and started again on the same port; an agent's clock is
skewed by +-30 s. Expected: no node fenced, no ALUA state or target changed in any LIO, no failover;
a skewed clock neither fences a healthy node nor delays the detection of a dead one.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest

from nearpath.core.kube import ClusterKube
from tests.controlplane.cluster import ControlPlane
from tests.controlplane.nodes import AGENT_LEASE_S, DEVICE, LEASE_NS, AgentNode, SupervisedOperator
from tests.fixtures.controlplane import Kubectl
from tests.support.polling import WaitTimeout, wait_for

pytestmark = pytest.mark.controlplane

OUTAGE_S = float(os.environ.get("NEARPATH_API_OUTAGE_SECONDS", "60"))


def vg_manifest(namespace: str, name: str, nodes: list[str], preferred: str) -> dict[str, Any]:
    return {
        "apiVersion": "nearpath.io/v1alpha1",
        "kind": "VolumeGroup",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "disks": [{"name": "data", "size": "1Gi", "source": {"path": DEVICE}}],
            "backing": {"type": "shared"},
            "placement": {"nodes": nodes, "preferredNode": preferred},
            "access": {"initiators": ["iqn.2025-01.io.example:consumer"]},
        },
    }


def ready(kube: ClusterKube, namespace: str, name: str) -> dict[str, Any] | None:
    """The group when Ready on its preferred node, with every assignment applied by its agent."""
    obj = kube.get_volume_group(namespace, name)
    status = (obj or {}).get("status") or {}
    if not any(c["type"] == "Ready" and c["status"] == "True" for c in status.get("conditions") or []):
        return None
    if status.get("optimizedNode") != ((obj or {}).get("spec") or {}).get("placement", {}).get("preferredNode"):
        return None
    assignments = {a["node"]: a["aluaState"] for a in status.get("assignments") or []}
    applied = {t["node"]: t.get("aluaState") for t in status.get("targets") or [] if t.get("ready")}
    return obj if all(applied.get(n) == s for n, s in assignments.items()) else None


def wait_ready(kube: ClusterKube, namespace: str, name: str, log: Path, timeout: float = 90) -> dict[str, Any]:
    found: list[dict[str, Any]] = []

    def check() -> bool:
        obj = ready(kube, namespace, name)
        if obj is not None:
            found.append(obj)
        return obj is not None

    try:
        wait_for(f"{namespace}/{name} Ready on its preferred node", check, timeout, 0.2)
    except WaitTimeout:
        obj = kube.get_volume_group(namespace, name) or {}
        tail = "\n".join(log.read_text().splitlines()[-20:]) if log.exists() else ""
        pytest.fail(f"{namespace}/{name} not Ready in {timeout}s: {json.dumps(obj.get('status'))[:1500]}\n{tail}")
    return found[-1]


def assignments(obj: dict[str, Any]) -> dict[str, str]:
    return {a["node"]: a["aluaState"] for a in obj["status"]["assignments"]}


def reasons(kubectl: Kubectl, namespace: str) -> list[str]:
    got = kubectl("get", "events.events.k8s.io", "-n", namespace, "-o", "json", check=True)
    return [str(e.get("reason")) for e in json.loads(got.stdout)["items"]]


def test_api_server_outage_changes_nothing(
    control_plane: ControlPlane, kubectl: Kubectl, namespace: str, operator_kubeconfig: Path, operator_log: Path
) -> None:
    admin = ClusterKube(str(control_plane.kubeconfig))
    nodes = [AgentNode(f"outage-{i}", i, control_plane.kubeconfig) for i in range(3)]
    groups = {"vg-a": (["outage-0", "outage-1"], "outage-0"), "vg-b": (["outage-1", "outage-2"], "outage-2")}
    with SupervisedOperator(operator_kubeconfig, operator_log) as operator:
        for node in nodes:
            node.start()
        try:
            for name, (placed, preferred) in groups.items():
                admin.create_volume_group(vg_manifest(namespace, name, placed, preferred))
            before = {name: assignments(wait_ready(admin, namespace, name, operator_log)) for name in groups}
            assert before == {
                "vg-a": {"outage-0": "active-optimized", "outage-1": "active-non-optimized"},
                "vg-b": {"outage-1": "active-non-optimized", "outage-2": "active-optimized"},
            }
            lio_before = {n.node: (n.alua(), len(n.lio.mutations)) for n in nodes}
            events_before = reasons(kubectl, namespace)

            # the fault: kube-apiserver down for OUTAGE_S (etcd, agents, operator, LIO keep running)
            control_plane.stop_apiserver()
            stopped = time.monotonic()
            held: set[str] = set()
            while time.monotonic() - stopped < OUTAGE_S:
                assert {n.node: (n.alua(), len(n.lio.mutations)) for n in nodes} == lio_before
                held |= {n.node for n in nodes if n.fence.holding}
                time.sleep(0.5)
            # every agent missed its renewals past the self-fence deadline, asked its peers, and held
            assert held == {n.node for n in nodes}, held
            assert not any(n.fence.fenced for n in nodes)
            control_plane.start_apiserver()
            print(f"\n[outage] kube-apiserver down {time.monotonic() - stopped:.1f}s")

            # after: agents renew, the operator (restarted if it lost its leader Lease) takes over
            # again; watch for longer than Lease + regain hold + leader takeover
            back = time.monotonic()
            while time.monotonic() - back < 30:
                assert {n.node: (n.alua(), len(n.lio.mutations)) for n in nodes} == lio_before
                time.sleep(0.5)
            after = {name: assignments(wait_ready(admin, namespace, name, operator_log, 60)) for name in groups}
            assert after == before
            new_events = reasons(kubectl, namespace)[len(events_before) :]
            assert not {"Fenced", "FailedOver", "Promoted", "HandoverStarted"} & set(new_events), new_events
            leader = admin.get_lease(LEASE_NS, "nearpath-operator-leader")
            assert leader is not None and leader["spec"]["holderIdentity"]
            print(f"[outage] operator restarts (exit codes): {operator.exits}; LIO mutations: none")
        finally:
            for node in nodes:
                node.kill()
            for name in groups:
                admin.delete_volume_group(namespace, name)


@pytest.mark.parametrize("skews", [(30.0, -30.0), (-30.0, 30.0)], ids=["optimized-ahead", "optimized-behind"])
def test_skewed_agent_clock_neither_fences_nor_delays(
    control_plane: ControlPlane,
    kubectl: Kubectl,
    namespace: str,
    operator_kubeconfig: Path,
    operator_log: Path,
    skews: tuple[float, float],
) -> None:
    admin = ClusterKube(str(control_plane.kubeconfig))
    optimized = AgentNode("skew-0", 0, control_plane.kubeconfig, skew_s=skews[0])
    standby = AgentNode("skew-1", 1, control_plane.kubeconfig, skew_s=skews[1])
    with SupervisedOperator(operator_kubeconfig, operator_log):
        optimized.start()
        standby.start()
        try:
            admin.create_volume_group(vg_manifest(namespace, "vg-skew", ["skew-0", "skew-1"], "skew-0"))
            obj = wait_ready(admin, namespace, "vg-skew", operator_log)
            assert assignments(obj) == {"skew-0": "active-optimized", "skew-1": "active-non-optimized"}
            mutations = {n.node: len(n.lio.mutations) for n in (optimized, standby)}
            time.sleep(3 * AGENT_LEASE_S)  # several Lease durations: a skew-based expiry would have fenced by now
            assert {n.node: len(n.lio.mutations) for n in (optimized, standby)} == mutations
            assert "Fenced" not in reasons(kubectl, namespace)

            # the optimized node dies: detected from the operator's own observations, whatever its clock said
            optimized.kill()
            died = time.monotonic()

            def moved() -> bool:
                status = (admin.get_volume_group(namespace, "vg-skew") or {}).get("status") or {}
                return status.get("optimizedNode") == "skew-1"

            wait_for("failover to skew-1", moved, 60, 0.2)
            took = time.monotonic() - died
            print(f"\n[skew {skews}] failover {took:.1f}s after the optimized agent stopped (Lease {AGENT_LEASE_S}s)")
            # a renewTime-based expiry with the optimized clock 30 s ahead would take > 30 s
            assert took < 20, f"detection took {took:.1f}s: the skewed renewTime was trusted"
            wait_for("skew-1 active/optimized in its LIO", lambda: set(standby.alua().values()) == {0}, 30, 0.2)
        finally:
            optimized.kill()
            standby.kill()
            admin.delete_volume_group(namespace, "vg-skew")
