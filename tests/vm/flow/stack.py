"""Wire nearpath as a cluster would: API server, operator and CSI controller on the host; target
agent and CSI node plugin in every VM; CSI calls in the order kubelet and the sidecars make them.

VM ``cluster[i]`` is Kubernetes node ``node-i``; its portal is its link address
(``192.168.100.<i+1>:3260``), reachable from every peer over their point-to-point link. Guests
reach the API server at ``https://10.0.2.2:<port>`` (slirp), with the admin kubeconfig and the
CA inlined. Every host process is started through the control-plane test bed's
``start_nearpath`` (PDEATHSIG, leftover check at session end) and stopped by :meth:`Flow.stop`.
"""

from __future__ import annotations

import base64
import json
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nearpath.core.contract import TOPOLOGY_KEY
from nearpath.core.kube import ClusterKube
from tests.controlplane.cluster import ControlPlane
from tests.fixtures.controlplane import make_kubectl
from tests.support.polling import wait_for
from tests.support.processes import Proc, start_nearpath
from tests.vm import storage
from tests.vm.flow import csi_call
from tests.vm.harness import VM, Cluster, VMError

REPO = Path(__file__).resolve().parents[3]
GUEST_SRC = "/opt/nearpath/src"
GUEST_CSI_CALL = f"{GUEST_SRC}/tests/vm/flow/csi_call.py"
GUEST_KUBECONFIG = "/etc/nearpath/kubeconfig"
GUEST_CSI_SOCKET = "/run/nearpath/csi.sock"
AGENT_LOG = "/var/log/nearpath-target.log"
CSI_NODE_LOG = "/var/log/nearpath-csi-node.log"
LEASE_NS = "nearpath-system"
VOLUME_NS = "nearpath-volumes"
SHARED_DEVICE = "/dev/disk/by-id/virtio-npshared0"
KUBELET_PLUGIN_DIR = "/var/lib/kubelet/plugins/kubernetes.io/csi"

AGENT_LEASE_SECONDS = 5  # short enough to fail over quickly, long enough for a slow TCG guest
AGENT_METRICS_PORT = 9810  # the chart's default; peers read each other's Lease renewal age there
AGENT_ENV = {
    "NEARPATH_LOG_FORMAT": "text",
    "NEARPATH_METRICS_PORT": str(AGENT_METRICS_PORT),
    "NEARPATH_LEASE_DURATION_SECONDS": str(AGENT_LEASE_SECONDS),
    "NEARPATH_RESYNC_SECONDS": "30",
    "NEARPATH_KUBECONFIG": GUEST_KUBECONFIG,
}
OPERATOR_ENV = {
    "NEARPATH_LOG_FORMAT": "json",
    "NEARPATH_LEASE_GRACE_SECONDS": "1",
    "NEARPATH_HEALTH_INTERVAL_SECONDS": "0.5",
    "NEARPATH_STABILIZATION_WINDOW_SECONDS": "5",
    "NEARPATH_FAILBACK_DELAY_SECONDS": "5",
}
CONTROLLER_ENV = {"NEARPATH_LOG_FORMAT": "json", "NEARPATH_READY_TIMEOUT_SECONDS": "30"}
CSI_NODE_ENV = {"NEARPATH_LOG_FORMAT": "text"}  # the benchmark adds tuning overrides (--node-env)
RETRY_CODES = {"DEADLINE_EXCEEDED", "ABORTED", "UNAVAILABLE"}
BLOCK_CAPABILITY = {"block": {}, "accessMode": {"mode": "SINGLE_NODE_WRITER"}}


class FlowError(AssertionError):
    """A step of the flow did not reach its expected state in time."""


def node_name(index: int) -> str:
    return f"node-{index}"


# ----------------------------------------------------------------- host side


class HostStack:
    """CRDs, namespaces and Nodes in the API server; the operator and the CSI controller."""

    def __init__(self, cp: ControlPlane, node_names: list[str]) -> None:
        self.cp = cp
        self.node_names = node_names
        self.kubectl = make_kubectl(cp)
        self.kube = ClusterKube(str(cp.kubeconfig))
        self.logs = cp.workdir / "logs"
        self.controller_socket = cp.workdir / "csi-controller.sock"
        self.procs: list[Proc] = []

    def _apply(self, objs: list[dict[str, Any]]) -> None:
        self.kubectl("apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": objs}),
                     check=True)  # fmt: skip

    def prepare_api(self) -> None:
        self.kubectl("apply", "-f", str(REPO / "crds"), check=True)
        self.kubectl("wait", "--for=condition=Established", "crd/volumegroups.nearpath.io", "--timeout=60s", check=True)
        namespaces = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": n}} for n in (LEASE_NS, VOLUME_NS)]
        nodes = [
            {
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": {"name": n, "labels": {"kubernetes.io/hostname": n, TOPOLOGY_KEY: n}},
            }
            for n in self.node_names
        ]
        self._apply(namespaces + nodes)

    def _start(self, name: str, argv: list[str], env: dict[str, str]) -> Proc:
        proc = start_nearpath(name, argv, self.logs / f"{name}.log", env)
        self.procs.append(proc)
        return proc

    def start(self) -> None:
        kubeconfig = str(self.cp.kubeconfig)
        self._start("nearpath-operator", ["operator", f"--kubeconfig={kubeconfig}", "--standalone"], OPERATOR_ENV)
        self._start(
            "nearpath-csi-controller",
            ["csi", "--mode", "controller", "--endpoint", f"unix://{self.controller_socket}",
             f"--kubeconfig={kubeconfig}"],
            CONTROLLER_ENV,
        )  # fmt: skip
        wait_for("CSI controller socket", self._controller_up, 120)

    def _controller_up(self) -> bool:
        for proc in self.procs:
            if proc.popen.poll() is not None:
                raise FlowError(f"{proc.name} exited ({proc.popen.returncode}):\n{proc.tail(40)}")
        if not self.controller_socket.exists():
            return False
        return bool(csi_call.call(self.endpoint, [{"method": "Probe"}], timeout=10)[0]["ok"])

    @property
    def endpoint(self) -> str:
        return f"unix://{self.controller_socket}"

    def controller(self, method: str, request: dict[str, Any], timeout: float = 240) -> dict[str, Any]:
        """One controller RPC, retried like a sidecar while the answer says "not yet"."""
        deadline = time.monotonic() + timeout
        while True:
            result = csi_call.call(self.endpoint, [{"method": method, "request": request}], timeout=60)[0]
            if result["ok"]:
                return dict(result["response"])
            if result["code"] not in RETRY_CODES or time.monotonic() >= deadline:
                raise FlowError(f"{method} failed: {result['code']} {result['details']}\n{self.log_tails()}")
            time.sleep(1)

    def log_tails(self, lines: int = 20) -> str:
        return "\n".join(f"--- {p.name} ({p.log})\n{p.tail(lines)}" for p in self.procs)

    def stop(self) -> None:
        for proc in reversed(self.procs):
            proc.terminate(grace_s=20)


# ----------------------------------------------------------------- guest side


def guest_kubeconfig(cp: ControlPlane) -> str:
    """The admin kubeconfig for guests: server https://10.0.2.2:<port>, CA inlined."""
    config = json.loads(cp.guest_kubeconfig("admin").read_text())
    ca = base64.b64encode(cp.ca_cert.read_bytes()).decode()
    for cluster in config["clusters"]:
        cluster["cluster"].pop("certificate-authority", None)
        cluster["cluster"]["certificate-authority-data"] = ca
    return json.dumps(config)


@dataclass
class GuestNode:
    """One VM as a Kubernetes node: nearpath's target agent and CSI node plugin run in it."""

    vm: VM
    name: str
    agent_pid: int = 0
    csi_pid: int = 0

    @property
    def portal(self) -> str:
        return f"{self.vm.address}:3260"

    def start(self, kubeconfig: str) -> None:
        self.vm.run("mkdir -p /etc/nearpath /run/nearpath /var/lib/nearpath/csi /var/log", check=True)
        self.vm.write_file(GUEST_KUBECONFIG, kubeconfig, mode=0o600)
        agent_env = {**AGENT_ENV, "NEARPATH_NODE_NAME": self.name, "NEARPATH_PORTALS": json.dumps([self.portal])}
        self.agent_pid = self.vm.spawn(["python3", "-m", "nearpath", "target"], log=AGENT_LOG, env=agent_env)
        csi_argv = ["python3", "-m", "nearpath", "csi", "--mode", "node", "--node-id", self.name,
                    "--endpoint", f"unix://{GUEST_CSI_SOCKET}"]  # fmt: skip
        self.csi_pid = self.vm.spawn(csi_argv, log=CSI_NODE_LOG, env=dict(CSI_NODE_ENV))

    def ready(self, kube: ClusterKube) -> bool:
        for pid, log in ((self.agent_pid, AGENT_LOG), (self.csi_pid, CSI_NODE_LOG)):
            running, rc = self.vm.status(pid)
            if not running:
                raise FlowError(f"{self.name}: {log} process exited ({rc}):\n{self.tail(log)}")
        if kube.get_lease(LEASE_NS, f"nearpath-target-{self.name}") is None:
            return False
        return self.vm.run(f"test -S {GUEST_CSI_SOCKET}", timeout=30).ok

    def tail(self, log: str, lines: int = 30) -> str:
        return self.vm.run(f"tail -n {lines} {log} 2>/dev/null", timeout=30).stdout

    def csi(self, calls: list[dict[str, Any]], timeout: float = 300) -> list[dict[str, Any]]:
        """CSI RPCs on this node's plugin socket, through the guest-side client (one process)."""
        spec = {"endpoint": f"unix://{GUEST_CSI_SOCKET}", "calls": calls, "timeout": timeout}
        res = self.vm.run(["python3", GUEST_CSI_CALL], input=json.dumps(spec), timeout=timeout + 60)
        try:
            results: list[dict[str, Any]] = json.loads(res.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            raise FlowError(f"{self.name}: csi_call failed (rc={res.rc}):\n{res.stdout}\n{res.stderr}") from None
        if not res.ok:
            raise FlowError(f"{self.name}: CSI calls failed: {results}\n{self.tail(CSI_NODE_LOG)}")
        return results


# ----------------------------------------------------------------- the volume


@dataclass(frozen=True)
class Volume:
    volume_id: str
    vg_name: str
    wwid: str
    consumer: str
    staging_path: str
    target_path: str  # the published block device file the workload writes to
    publish_context: dict[str, str]


class Flow:
    """Everything of one test cluster: host stack, guest nodes, one shared-backing volume."""

    def __init__(self, cp: ControlPlane, cluster: Cluster) -> None:
        self.cp = cp
        self.cluster = cluster
        self.nodes = [GuestNode(vm, node_name(i)) for i, vm in enumerate(cluster)]
        self.host = HostStack(cp, [n.name for n in self.nodes])
        self.kube = self.host.kube
        self.volume: Volume | None = None

    def node(self, name: str) -> GuestNode:
        return next(n for n in self.nodes if n.name == name)

    # -- lifecycle
    def start(self, timeout: float = 300) -> None:
        self.host.prepare_api()
        self.host.start()
        kubeconfig = guest_kubeconfig(self.cp)
        for node in self.nodes:
            node.start(kubeconfig)
        for node in self.nodes:
            self._wait_node(node, timeout)

    def _wait_node(self, node: GuestNode, timeout: float) -> None:
        wait_for(f"{node.name}: agent Lease and CSI socket", lambda: node.ready(self.kube), timeout, 2)

    def restart_node(self, node: GuestNode, timeout: float = 300) -> None:
        """Boot a powered-off VM again and start its nearpath processes (state is gone: fresh root fs)."""
        node.vm.start()
        node.vm.wait_ready()
        node.start(guest_kubeconfig(self.cp))
        self._wait_node(node, timeout)

    def stop(self) -> None:
        self.host.stop()

    def diagnostics(self) -> str:
        parts = [self.host.log_tails(40)]
        for node in self.nodes:
            if node.vm.alive():
                try:
                    parts.append(f"--- {node.name} agent\n{node.tail(AGENT_LOG, 40)}")
                    parts.append(f"--- {node.name} csi node\n{node.tail(CSI_NODE_LOG, 20)}")
                except (VMError, OSError) as exc:
                    parts.append(f"--- {node.name}: unreachable ({exc})")
        if self.volume is not None:
            parts.append(f"--- status\n{json.dumps(self.vg().get('status'), indent=1)[:6000]}")
        return "\n".join(parts)

    # -- the VolumeGroup
    def vg(self) -> dict[str, Any]:
        assert self.volume is not None
        obj = self.kube.get_volume_group(VOLUME_NS, self.volume.vg_name)
        if obj is None:
            raise FlowError(f"VolumeGroup {self.volume.volume_id} is gone")
        return obj

    def set_preferred_node(self, node: str) -> None:
        assert self.volume is not None
        self.kube.patch_volume_group(VOLUME_NS, self.volume.vg_name, {"spec": {"placement": {"preferredNode": node}}})

    def cut_api(self, node: str) -> None:
        """Drop ``node``'s traffic to and from the API server (nftables in its guest); peers, the
        consumer and the harness still reach it."""
        port = self.cp.port
        script = (
            "table inet npapi {\n"
            f"  chain out {{ type filter hook output priority -10; policy accept; tcp dport {port} drop; }}\n"
            f"  chain in {{ type filter hook input priority -10; policy accept; tcp sport {port} drop; }}\n"
            "}\n"
        )
        self.node(node).vm.run(["nft", "-f", "-"], input=script, timeout=60, check=True)

    def restore_api(self, node: str) -> None:
        self.node(node).vm.run("nft delete table inet npapi 2>/dev/null || true", check=True)

    def lio_alua(self, node: str) -> set[int]:
        """ALUA state codes of nearpath's port groups in ``node``'s own LIO (configfs, not the status)."""
        glob = "/sys/kernel/config/target/core/*/np_*/alua/np_pg*/alua_access_state"
        out = self.node(node).vm.run(f"cat {glob} 2>/dev/null || true", timeout=30).stdout
        return {int(v) for v in out.split() if v.strip().isdigit()}

    def alua_states(self) -> dict[str, str]:
        """node -> ALUA state its agent reports (ready targets only)."""
        status = self.vg().get("status") or {}
        return {t["node"]: t.get("aluaState", "") for t in status.get("targets") or [] if t.get("ready")}

    # -- CSI, in kubelet/sidecar order
    def provision(self, consumer: str, size_bytes: int) -> Volume:
        """CreateVolume (preferred topology: the consumer) -> ControllerPublish -> NodeStage -> NodePublish."""
        node = self.node(consumer)
        info = node.csi([{"method": "NodeGetInfo"}])[0]["response"]
        others = [n.name for n in self.nodes if n.name != consumer]
        topologies = [{"segments": {TOPOLOGY_KEY: n}} for n in [consumer, *others]]
        name = f"pvc-{uuid.uuid4()}"
        created = self.host.controller(
            "CreateVolume",
            {
                "name": name,
                "capacityRange": {"requiredBytes": str(size_bytes)},
                "volumeCapabilities": [BLOCK_CAPABILITY],
                "parameters": {"backing": "shared", "devices": SHARED_DEVICE},
                "accessibilityRequirements": {"requisite": topologies, "preferred": topologies},
            },
        )
        volume_id = created["volume"]["volumeId"]
        published = self.host.controller(
            "ControllerPublishVolume",
            {"volumeId": volume_id, "nodeId": info["nodeId"], "volumeCapability": BLOCK_CAPABILITY, "readonly": False},
        )
        context = dict(published.get("publishContext") or {})
        digest = uuid.uuid5(uuid.NAMESPACE_URL, volume_id).hex
        staging = f"{KUBELET_PLUGIN_DIR}/volumeDevices/staging/{name}"
        target = f"{KUBELET_PLUGIN_DIR}/volumeDevices/publish/{name}/{digest}"
        node.vm.run(["mkdir", "-p", staging, os.path.dirname(target)], check=True)  # kubelet creates these
        node.csi(
            [
                {
                    "method": "NodeStageVolume",
                    "request": {"volumeId": volume_id, "publishContext": context, "stagingTargetPath": staging,
                                "volumeCapability": BLOCK_CAPABILITY, "volumeContext": created["volume"].get(
                                    "volumeContext", {})},
                },
                {
                    "method": "NodePublishVolume",
                    "request": {"volumeId": volume_id, "publishContext": context, "stagingTargetPath": staging,
                                "targetPath": target, "volumeCapability": BLOCK_CAPABILITY, "readonly": False},
                },
            ]
        )  # fmt: skip
        self.volume = Volume(
            volume_id=volume_id,
            vg_name=volume_id.split("/", 1)[1],
            wwid=context["wwid"],
            consumer=consumer,
            staging_path=staging,
            target_path=target,
            publish_context=context,
        )
        return self.volume

    # -- what the consumer's multipath sees
    def consumer_vm(self) -> VM:
        assert self.volume is not None
        return self.node(self.volume.consumer).vm

    def path_nodes(self) -> dict[str, storage.PathInfo]:
        """node name -> its path in the consumer's multipath map (target IQNs end in ``:<node>``)."""
        assert self.volume is not None
        found = [p for p in storage.paths(self.consumer_vm()) if p.wwid == self.volume.wwid]
        return {p.target.rsplit(":", 1)[-1]: p for p in found}

    def io_on(self, node: str) -> bool:
        """True when ``node``'s path is ready and in the map's active, highest-priority group."""
        assert self.volume is not None
        path = self.path_nodes().get(node)
        if path is None or path.dm_state != "active" or path.checker_state != "ready":
            return False
        groups = storage.path_groups(self.consumer_vm(), self.volume.wwid)
        usable = [g for g in groups if g.status in ("active", "enabled")]
        return bool(usable) and path.dev in usable[0].devs and usable[0].status == "active"

    def wait_optimized(self, node: str, timeout: float = 120) -> None:
        """The operator made ``node`` optimized, its agent applied it, the consumer's I/O goes there."""

        def done() -> bool:
            status = self.vg().get("status") or {}
            return status.get("optimizedNode") == node and self.alua_states().get(node) == "active-optimized"

        wait_for(f"{node} active/optimized in the status", done, timeout)
        wait_for(f"consumer I/O on {node}'s path", lambda: self.io_on(node), timeout, 1)

    def wait_paths_ready(self, nodes: list[str], timeout: float = 120) -> None:
        def ready() -> bool:
            paths = self.path_nodes()
            return all(
                n in paths and paths[n].dm_state == "active" and paths[n].checker_state == "ready" for n in nodes
            )

        wait_for(f"consumer paths to {', '.join(nodes)} ready", ready, timeout, 1)
