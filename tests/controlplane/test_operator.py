"""The operator process against a real API server, with fake target agents.

The operator runs as ``python -m nearpath operator`` with a TokenRequest token of the chart's
ServiceAccount, bound by the chart's own ``templates/operator-rbac.yaml``: exactly the permissions a
helm install gives it. Fake agents (tests/support/agents.py) renew Leases and write their
``targets`` entries with their own field managers, as the real
agent does.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from nearpath.core.kube import ClusterKube
from tests.controlplane.chart import service_account_names, token_kubeconfig
from tests.controlplane.cluster import ControlPlane
from tests.controlplane.helpers import REPO_ROOT
from tests.fixtures.controlplane import Kubectl
from tests.support.agents import FakeAgents
from tests.support.chart import render
from tests.support.manifests import shared_disk, volume_group
from tests.support.polling import WaitTimeout, wait_for
from tests.support.processes import start_nearpath

pytestmark = pytest.mark.controlplane

LEASE_NS = "nearpath-system"
RELEASE = "nearpath"
NODES = ["node-0", "node-1", "node-2"]
AGENT_LEASE_S = 3
OPERATOR_ENV = {
    "NEARPATH_LEASE_GRACE_SECONDS": "0.5",
    "NEARPATH_HEALTH_INTERVAL_SECONDS": "0.5",
    "NEARPATH_STABILIZATION_WINDOW_SECONDS": "2",
    "NEARPATH_FAILBACK_DELAY_SECONDS": "2",
    "NEARPATH_LEADER_LEASE_SECONDS": "6",
    "NEARPATH_LOG_FORMAT": "json",
}


class AgentLoop:
    """Fake agents renewing Leases and applying their entries in a background thread."""

    def __init__(self, kube: ClusterKube, namespace: str) -> None:
        self.agents = FakeAgents(kube, NODES, LEASE_NS, AGENT_LEASE_S)
        self.namespace = namespace
        self.kube = kube
        self._stop = threading.Event()
        self.last_renew: dict[str, float] = {}
        self.errors: list[str] = []
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        next_beat = 0.0
        while not self._stop.is_set():
            try:
                if time.monotonic() >= next_beat:
                    self.agents.heartbeat()
                    for node in self.agents.alive():
                        self.last_renew[node] = time.time()
                    next_beat = time.monotonic() + AGENT_LEASE_S / 3
                self.agents.sync(self.kube.list_volume_groups(self.namespace))
            except Exception as exc:  # keep going; the test asserts on outcomes
                self.errors.append(repr(exc))
            self._stop.wait(0.2)

    def __enter__(self) -> AgentLoop:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)


def _apply(kubectl: Kubectl, manifest: dict[str, Any] | str) -> None:
    text = manifest if isinstance(manifest, str) else json.dumps(manifest)
    kubectl("apply", "-f", "-", input=text, check=True)


@pytest.fixture(scope="module")
def operator_crd(kubectl: Kubectl, vg_crd: dict[str, Any]) -> None:
    applied = kubectl("apply", "-f", str(REPO_ROOT / "crds"))
    assert applied.returncode == 0, f"kubectl apply -f crds/ failed: {applied.stderr}"
    kubectl("wait", "--for=condition=Established", "crd/volumegroups.nearpath.io", "--timeout=60s", check=True)


@pytest.fixture(scope="module")
def operator_env(control_plane: ControlPlane, kubectl: Kubectl, operator_crd: None) -> Iterator[Path]:
    """RBAC + namespace, then the operator process; yields its log path. Stops it afterwards."""
    kubectl("create", "namespace", LEASE_NS)  # may exist already
    # The chart's own ServiceAccount, ClusterRole and Role for the operator: the operator runs
    # with exactly the permissions a helm install gives it (a Forbidden fails the flows below).
    rbac = render(RELEASE, LEASE_NS, show_only=["templates/operator-rbac.yaml"])
    _apply(kubectl, rbac)
    log_path = control_plane.workdir / "logs" / "nearpath-operator.log"
    kubeconfig = token_kubeconfig(
        kubectl,
        control_plane.url,
        control_plane.ca_cert,
        LEASE_NS,
        service_account_names(RELEASE)["operator"],
        control_plane.workdir / "operator-sa.kubeconfig",
    )
    proc = start_nearpath(
        "operator", ["operator", f"--kubeconfig={kubeconfig}", "--leader-election"], log_path, OPERATOR_ENV
    )
    try:
        yield log_path
    finally:
        code = proc.terminate(grace_s=30)
        print(f"\n[operator] exit code {code}; log tail:\n" + "\n".join(log_path.read_text().splitlines()[-15:]))
        assert code == 0, f"operator did not stop cleanly (exit {code})"


@pytest.fixture()
def kube(control_plane: ControlPlane) -> ClusterKube:
    return ClusterKube(str(control_plane.kubeconfig))


def vg_manifest(namespace: str, name: str, preferred: str = "node-0") -> dict[str, Any]:
    disk = shared_disk("data", "1Gi", "/dev/disk/by-id/shared0")
    return volume_group(name, namespace, disks=[disk], nodes=["node-0", "node-1"], preferred=preferred, initiators=None)


def cond(obj: dict[str, Any] | None, type_: str) -> dict[str, Any]:
    for c in ((obj or {}).get("status") or {}).get("conditions") or []:
        if c["type"] == type_:
            return dict(c)
    return {}


def wait_for_group(
    kube: ClusterKube, ns: str, name: str, pred: Any, timeout: float, what: str, log: Path
) -> dict[str, Any]:
    last: dict[str, Any] = {}

    def check() -> bool:
        nonlocal last
        last = kube.get_volume_group(ns, name) or {}
        return bool(pred(last))

    try:
        wait_for(what, check, timeout, 0.1)
    except WaitTimeout:
        tail = "\n".join(log.read_text().splitlines()[-20:])
        pytest.fail(f"{what} not reached in {timeout}s; status={json.dumps(last.get('status'))[:1500]}\n{tail}")
    return last


def events(kubectl: Kubectl, namespace: str, name: str) -> list[dict[str, Any]]:
    got = kubectl("get", "events.events.k8s.io", "-n", namespace, "-o", "json", check=True)
    return [e for e in json.loads(got.stdout)["items"] if e.get("regarding", {}).get("name") == name]


def test_ready_failover_and_finalizer(
    operator_env: Path, kube: ClusterKube, kubectl: Kubectl, namespace: str, control_plane: ControlPlane
) -> None:
    with AgentLoop(kube, namespace) as agents:
        kube.create_volume_group(vg_manifest(namespace, "vg-a"))
        obj = wait_for_group(
            kube, namespace, "vg-a", lambda o: cond(o, "Ready").get("status") == "True", 60, "Ready", operator_env
        )
        assert obj["status"]["optimizedNode"] == "node-0"
        assert "nearpath.io/targets" in obj["metadata"]["finalizers"]
        states = {a["node"]: a["aluaState"] for a in obj["status"]["assignments"]}
        assert states == {"node-0": "active-optimized", "node-1": "active-non-optimized"}

        # status only through the status subresource, by server-side apply as nearpath-operator
        managed = obj["metadata"]["managedFields"]
        ours = [m for m in managed if m["manager"] == "nearpath-operator"]
        assert ours and all(m.get("subresource") == "status" and m["operation"] == "Apply" for m in ours), ours
        main_resource = [m for m in managed if m.get("subresource") != "status"]
        assert all("f:status" not in m.get("fieldsV1", {}) for m in main_resource), main_resource

        # the leader Lease is held by the operator
        lease = kube.get_lease(LEASE_NS, "nearpath-operator-leader")
        assert lease is not None and lease["spec"]["holderIdentity"]

        # kill the optimized node: no more renewals, no more writes
        agents.agents.kill("node-0")
        time.sleep(0.3)
        last_renew = agents.last_renew["node-0"]
        obj = wait_for_group(
            kube,
            namespace,
            "vg-a",
            lambda o: (o.get("status") or {}).get("optimizedNode") == "node-1",
            60,
            "failover to node-1",
            operator_env,
        )
        moved_at = time.time()
        states = {a["node"]: a["aluaState"] for a in obj["status"]["assignments"]}
        assert states == {"node-0": "unavailable", "node-1": "active-optimized"}
        assert obj["status"]["failedOverFrom"] == "node-0"
        failed = [e for e in events(kubectl, namespace, "vg-a") if e["reason"] == "FailedOver"]
        assert failed, "no FailedOver event"
        print(
            f"\n[failover] lease {AGENT_LEASE_S}s: optimizedNode moved {moved_at - last_renew:.2f}s after the last "
            f"renewal ({moved_at - last_renew - AGENT_LEASE_S:.2f}s after expiry); event: {failed[0]['note']}"
        )

        # node-0 returns: fenced first, then failback (autoFailback, short delays in this test)
        agents.agents.revive("node-0")
        obj = wait_for_group(
            kube,
            namespace,
            "vg-a",
            lambda o: (
                (o.get("status") or {}).get("optimizedNode") == "node-0" and cond(o, "Ready").get("status") == "True"
            ),
            60,
            "failback to node-0",
            operator_env,
        )
        reasons = [e["reason"] for e in events(kubectl, namespace, "vg-a")]
        for reason in ("Fenced", "FenceLifted", "HandoverStarted", "FailedBack"):
            assert reason in reasons, reasons

        # deletion runs the finalizer: agents drop their entries, then the object goes
        kube.delete_volume_group(namespace, "vg-a")
        wait_for("the finalizer released", lambda: kube.get_volume_group(namespace, "vg-a") is None, 60, 0.2)
        assert not agents.errors or all("not found" in e.lower() for e in agents.errors), agents.errors[:3]


def test_attached_group_is_held_until_detached(
    operator_env: Path, kube: ClusterKube, namespace: str, control_plane: ControlPlane
) -> None:
    with AgentLoop(kube, namespace):
        kube.create_volume_group(vg_manifest(namespace, "vg-held"))
        wait_for_group(
            kube, namespace, "vg-held", lambda o: cond(o, "Ready").get("status") == "True", 60, "Ready", operator_env
        )
        attachment = {"initiator": "iqn.2025-01.io.example:node-0", "node": "node-0"}
        kube.apply_volume_group_status(namespace, "vg-held", {"attachments": [attachment]}, "nearpath-csi")
        kube.delete_volume_group(namespace, "vg-held")
        obj = wait_for_group(
            kube,
            namespace,
            "vg-held",
            lambda o: cond(o, "Progressing").get("reason") == "DeletionBlockedByAttachments",
            30,
            "deletion held",
            operator_env,
        )
        assert "iqn.2025-01.io.example:node-0" in cond(obj, "Progressing")["message"]
        assert len(obj["status"]["assignments"]) == 2  # still served while attached
        kube.apply_volume_group_status(namespace, "vg-held", {"attachments": []}, "nearpath-csi")
        wait_for("vg-held gone once detached", lambda: kube.get_volume_group(namespace, "vg-held") is None, 60, 0.2)


def test_decision_time_is_reported_in_lease_expiry_terms(operator_env: Path) -> None:
    """The FailedOver log line carries decision_seconds (time from Lease expiry to the decision)."""
    lines = [json.loads(line) for line in operator_env.read_text().splitlines() if line.startswith("{")]
    failovers = [entry for entry in lines if entry.get("reason") == "FailedOver"]
    if not failovers:
        pytest.skip("no failover happened in this session (run with test_ready_failover_and_finalizer)")
    took = failovers[0]["decision_seconds"]
    assert 0 <= took < 30, took  # hang guard, not a timing assert
    print(f"\n[failover] decision {took:.2f}s after the Lease expired")
