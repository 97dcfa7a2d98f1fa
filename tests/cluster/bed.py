"""The cluster test bed: the host control plane + real-kernel VMs as kubelet nodes.

``ClusterBed.start()``: builds/reuses the artefacts (``tests/cluster/build``), starts etcd,
kube-apiserver, kube-controller-manager and kube-scheduler on the host
(:class:`~tests.cluster.controlplane.NodeControlPlane`), boots N VMs from the node image
(VM image + node layer) with a copy of the pre-seeded containerd disk each and one shared
raw disk (``shared`` backing: the same LUN behind every node's target), runs
``kube-node-up`` in each and waits for every Node to be Ready. ``kubeconfig`` is an admin
kubeconfig for helm, kubectl and ``tests/e2e``. Timings of each step are in ``timings``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.cluster.controlplane import PROXY_USER, NodeControlPlane, node_user
from tests.cluster.kubelet_proxy import KubeletProxy
from tests.vm import harness

REPO = Path(__file__).resolve().parents[2]
BUILD = REPO / "tests" / "cluster" / "build"
KUBELET_PORT = 10250
SHARED_SERIAL = "npshared0"
SHARED_DEVICE = f"/dev/disk/by-id/virtio-{SHARED_SERIAL}"


@dataclass(frozen=True)
class Artefacts:
    node_image: Path
    seed_disk: Path
    image_tag: str
    images: tuple[str, ...]

    @property
    def pause_image(self) -> str:
        return f"nearpath.local/pause:{self.image_tag}"

    def sidecar_image(self, name: str) -> str:
        return f"nearpath.local/{name}:{self.image_tag}"


def build_artefacts(timeout: float = 3600) -> Artefacts:
    proc = subprocess.run([str(BUILD)], capture_output=True, text=True, timeout=timeout, check=False)
    if proc.returncode != 0:
        tail = "\n".join(proc.stderr.splitlines()[-40:])
        raise harness.VMError(f"tests/cluster/build failed (rc={proc.returncode}):\n{tail}")
    data = json.loads(Path(proc.stdout.strip().splitlines()[-1]).read_text())
    return Artefacts(Path(data["node_image"]), Path(data["seed_disk"]), data["image_tag"], tuple(data["images"]))


def values_yaml(art: Artefacts) -> str:
    """The test bed's chart values: images, sizes and timeouts only."""
    sidecars = {
        "provisioner": "csi-provisioner",
        "attacher": "csi-attacher",
        "resizer": "csi-resizer",
        "livenessProbe": "livenessprobe",
        "nodeDriverRegistrar": "csi-node-driver-registrar",
    }
    values: dict[str, Any] = {
        "image": {"repository": "nearpath", "tag": art.image_tag, "pullPolicy": "Never"},
        "sidecars": {key: {"image": art.sidecar_image(name)} for key, name in sidecars.items()},
        "operator": {"replicas": 1},
    }
    values["sidecars"]["pullPolicy"] = "Never"
    for key in ("provisioner", "attacher", "resizer"):
        values["sidecars"][key]["timeout"] = "300s"
    return json.dumps(values, indent=2)


@dataclass
class ClusterBed:
    nodes: int = 2
    memory_mb: int = 3072
    shared_disk_mb: int = 4096
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="npcluster-")))
    timings: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.proxy = KubeletProxy(self.workdir / "egress.sock")
        self.control_plane: NodeControlPlane | None = None
        self.vms: harness.Cluster | None = None
        self.artefacts: Artefacts | None = None

    @property
    def node_names(self) -> list[str]:
        return [f"vm{i}" for i in range(1, self.nodes + 1)]

    @property
    def kubeconfig(self) -> Path:
        assert self.control_plane is not None
        return self.control_plane.kubeconfig

    def _timed(self, what: str, t0: float) -> None:
        self.timings[what] = round(time.monotonic() - t0, 1)
        print(f"[cluster-bed] {what}: {self.timings[what]} s", flush=True)

    def start(self) -> ClusterBed:
        t0 = time.monotonic()
        self.artefacts = art = build_artefacts()
        self._timed("artefacts (tests/cluster/build)", t0)
        t0 = time.monotonic()
        self.proxy.start()
        self.control_plane = NodeControlPlane(self.node_names, self.proxy).start()
        self._timed("control plane up", t0)
        t0 = time.monotonic()
        self.vms = harness.Cluster(
            harness.Image(art.node_image),
            self.nodes,
            shared_disk_mb=self.shared_disk_mb,
            shared_serial=SHARED_SERIAL,
            memory_mb=self.memory_mb,
            workdir=self.workdir / "vms",
            forwards=(KUBELET_PORT,),
        )
        for vm in self.vms:
            seed = self.workdir / f"{vm.name}-containerd.img"
            subprocess.run(["cp", "--sparse=always", str(art.seed_disk), str(seed)], check=True, timeout=300)
            vm.spec.disks.append(harness.Disk(seed, f"npctd{vm.spec.idx}"))
            self.proxy.route({(vm.address, KUBELET_PORT): ("127.0.0.1", vm.forwarded[KUBELET_PORT])})
        self.vms.start(timeout=600)
        self._timed(f"{self.nodes} node VMs booted", t0)
        t0 = time.monotonic()
        for vm in self.vms:
            self._node_up(vm, art)
        self._wait_nodes_ready(timeout_s=600)
        self._timed("kube-node-up -> every Node Ready", t0)
        return self

    def _node_up(self, vm: harness.VM, art: Artefacts) -> None:
        cp = self.control_plane
        assert cp is not None
        vm.run("mkdir -p /etc/kubernetes").check()
        vm.write_file("/etc/kubernetes/kubelet.kubeconfig", cp.guest_kubeconfig_text(node_user(vm.name)), 0o600)
        vm.write_file("/etc/kubernetes/proxy.kubeconfig", cp.guest_kubeconfig_text(PROXY_USER), 0o600)
        disk = f"/dev/disk/by-id/virtio-npctd{vm.spec.idx}"
        vm.run(["kube-node-up", vm.name, str(vm.spec.idx), disk, art.pause_image], timeout=180).check()

    def _wait_nodes_ready(self, timeout_s: float) -> None:
        cp = self.control_plane
        assert cp is not None
        deadline = time.monotonic() + timeout_s
        ready: set[str] = set()
        while time.monotonic() < deadline:
            status, body = cp.request("GET", "/api/v1/nodes")
            if status == 200 and isinstance(body, dict):
                ready = {
                    n["metadata"]["name"]
                    for n in body.get("items", [])
                    if any(c["type"] == "Ready" and c["status"] == "True" for c in n["status"].get("conditions", []))
                }
                if ready >= set(self.node_names):
                    return
            time.sleep(2)
        raise harness.VMError(f"Nodes not Ready after {timeout_s:.0f}s (ready: {sorted(ready)})\n{self.diagnostics()}")

    def diagnostics(self, lines: int = 40) -> str:
        out = []
        if self.vms is not None:
            for vm in self.vms:
                out.append(vm.diagnostics(lines))
                for log in ("kubelet", "containerd", "kube-proxy"):
                    res = vm.run(f"tail -n {lines} /var/log/{log}.log", timeout=30)
                    out.append(f"----- {vm.name} /var/log/{log}.log -----\n{res.stdout}")
        if self.control_plane is not None:
            out.append(self.control_plane.log_tails(lines))
        return "\n".join(out)

    def guest_run(self, node: str, cmd: str, timeout: float = 60) -> str:
        assert self.vms is not None
        for vm in self.vms:
            if vm.name == node:
                return vm.run(cmd, timeout=timeout).stdout
        raise KeyError(node)

    def stop(self) -> None:
        if self.vms is not None:
            self.vms.close()
        if self.control_plane is not None:
            self.control_plane.stop()
        self.proxy.close()
        if os.environ.get("NEARPATH_VM_KEEP") != "1":
            shutil.rmtree(self.workdir, ignore_errors=True)
