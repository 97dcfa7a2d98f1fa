"""Nearpath's own processes on the control-plane tier: the operator supervised like kubelet would
(restarted when it exits), and nodes running the real target agent code on the in-memory LIO, each
with its own API client, clock, metrics endpoint (its peers' witness channel) and self-fence."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from pathlib import Path

from nearpath.core.clock import utc_now
from nearpath.core.kube import ClusterKube
from nearpath.target.agent import TargetAgent
from nearpath.target.desired import DeviceFacts, Portal
from nearpath.target.fake_lio import FakeLio
from nearpath.target.fence import FenceTimers, SelfFence
from nearpath.target.runtime import AgentRuntime
from tests.controlplane.cluster import free_port
from tests.support.processes import Proc, start_nearpath

LEASE_NS = "nearpath-system"
RELEASE = "nearpath"
AGENT_LEASE_S = 6
SELF_FENCE_S = 5.0  # in (2 x 6/3 + 0.5, 6 + grace 1 - 1): see target/fence.py
OPERATOR_ENV = {
    "NEARPATH_LEASE_GRACE_SECONDS": "1",
    "NEARPATH_HEALTH_INTERVAL_SECONDS": "0.5",
    "NEARPATH_API_BLIND_SECONDS": "2",
    "NEARPATH_API_REGAIN_HOLD_SECONDS": "3",
    "NEARPATH_STABILIZATION_WINDOW_SECONDS": "2",
    "NEARPATH_FAILBACK_DELAY_SECONDS": "2",
    "NEARPATH_LEADER_LEASE_SECONDS": "6",
    "NEARPATH_LOG_FORMAT": "json",
}
DEVICE = "/dev/disk/by-id/shared-outage"


class SupervisedOperator:
    """``nearpath operator`` restarted whenever it exits (as kubelet restarts the pod)."""

    def __init__(self, kubeconfig: Path, log_path: Path) -> None:
        self.kubeconfig, self.log_path = kubeconfig, log_path
        self.exits: list[int] = []
        self._stop = threading.Event()
        self._proc: Proc | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            args = ["operator", f"--kubeconfig={self.kubeconfig}", "--leader-election"]
            self._proc = start_nearpath("nearpath-operator", args, self.log_path, OPERATOR_ENV)
            code = self._proc.popen.wait()
            if not self._stop.is_set():
                self.exits.append(code)
                self._stop.wait(1.0)

    def __enter__(self) -> SupervisedOperator:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        if self._proc is not None:
            self._proc.terminate(grace_s=30)
        self._thread.join(timeout=40)


METRICS_PORTS: dict[str, int] = {}
"""Node -> its agent's metrics port on 127.0.0.1 (where peers read its Lease renewal age)."""


def peer_url(node: str, _host: str) -> str | None:
    port = METRICS_PORTS.get(node)
    return f"http://127.0.0.1:{port}/metrics" if port else None


class AgentNode:
    """One node: the real target agent on an in-memory LIO, with its own API client, clock, metrics
    endpoint (its peers' witness channel) and self-fence."""

    def __init__(self, node: str, index: int, kubeconfig: Path, skew_s: float = 0.0) -> None:
        self.node = node
        self.lio = FakeLio()
        offset = timedelta(seconds=skew_s)

        def clock() -> datetime:
            return utc_now() + offset

        self.kube = ClusterKube(str(kubeconfig), clock=clock)
        timers = FenceTimers(SELF_FENCE_S, AGENT_LEASE_S / 3, progress_timeout_seconds=30)
        self.fence = SelfFence(timers)
        self.agent = TargetAgent(
            self.lio,
            node,
            [Portal(f"127.0.10.{index + 1}")],
            prober=lambda _path: DeviceFacts(exists=True, is_block=True, size_bytes=2 << 30, discard=True),
            clock=clock,
            fence=self.fence,
            peer_url=peer_url,
        )
        METRICS_PORTS[node] = free_port()
        self.agent.metrics.serve(METRICS_PORTS[node])
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name=f"agent-{node}", daemon=True)

    def _run(self) -> None:
        AgentRuntime(
            self.agent,
            self.kube,
            self.stop,
            resync_seconds=5,
            lease_namespace=LEASE_NS,
            lease_duration_seconds=AGENT_LEASE_S,
        ).run()

    def start(self) -> AgentNode:
        self.thread.start()
        return self

    def kill(self) -> None:
        self.stop.set()
        self.thread.join(timeout=30)

    def alua(self) -> dict[str, int]:
        """ALUA state code per (backstore/group) in this node's LIO."""
        with self.agent.lock:
            return {
                f"{b.name}/{g.name}": g.state_code
                for b in self.lio.list_backstores()
                for g in b.alua_groups.values()
                if g.name != "default_tg_pt_gp"
            }
