"""Benchmark (not a test): N VolumeGroups against a real API server reach Ready with fake agents.

Run: ``.venv/bin/python -m tests.bench.operator_scale [--count 1000] [--workers 8]``

Starts its own control plane (etcd + kube-apiserver from tests/controlplane), installs the CRD,
runs the operator as a subprocess (``python -m nearpath operator``), creates the VolumeGroups
from a thread pool and drives two fake agents (one loop applying the entries of every group).
Prints the wall time from the first create to the last group Ready, and the operator's peak
RSS (VmHWM from /proc). Everything it starts is stopped before it exits.
"""

from __future__ import annotations

import argparse
import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from nearpath.core.kube import ClusterKube
from tests.controlplane.cluster import ControlPlane
from tests.controlplane.helpers import load_crd
from tests.support.agents import FakeAgents
from tests.support.manifests import shared_disk, volume_group
from tests.support.processes import start_nearpath

NAMESPACE = "bench"
NODES = ["node-0", "node-1"]


def vm_hwm_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def install_crd(cp: ControlPlane) -> None:
    status, body = cp.request("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", load_crd())
    if status != 201:
        raise SystemExit(f"CRD install failed: {status} {json.dumps(body)[:500]}")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        status, _ = cp.request("GET", f"/apis/nearpath.io/v1alpha1/namespaces/{NAMESPACE}/volumegroups")
        if status == 200:
            return
        time.sleep(0.2)
    raise SystemExit("CRD not served")


def manifest(i: int) -> dict[str, Any]:
    disk = shared_disk("data", "1Gi", "/dev/disk/by-id/shared0")
    return volume_group(f"vg-{i:05d}", NAMESPACE, disks=[disk], nodes=NODES, initiators=None, validate=False)


def is_ready(obj: dict[str, Any]) -> bool:
    return any(
        c.get("type") == "Ready" and c.get("status") == "True" for c in (obj.get("status") or {}).get("conditions", [])
    )


def run(count: int, workers: int, timeout_s: float) -> int:
    with ControlPlane(controller_manager=False) as cp:
        cp.request(
            "POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}}
        )
        cp.request(
            "POST",
            "/api/v1/namespaces",
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "nearpath-system"}},
        )
        install_crd(cp)
        kube = ClusterKube(str(cp.kubeconfig))
        agents = FakeAgents(kube, NODES, threads=4)
        agents.heartbeat()
        log_path = cp.workdir / "logs" / "operator-bench.log"
        env = {"NEARPATH_WORKERS": str(workers), "NEARPATH_LOG_LEVEL": "warning"}
        proc = start_nearpath("operator", ["operator", f"--kubeconfig={cp.kubeconfig}", "--standalone"], log_path, env)
        try:
            time.sleep(2)  # operator startup (imports, first listing) is not part of the measurement
            baseline = vm_hwm_mb(proc.pid)
            started = time.monotonic()
            with ThreadPoolExecutor(8) as pool:
                list(pool.map(lambda i: kube.create_volume_group(manifest(i)), range(count)))
            created = time.monotonic() - started
            ready = 0
            last_beat = time.monotonic()
            while time.monotonic() - started < timeout_s:
                if time.monotonic() - last_beat > 3:
                    agents.heartbeat()
                    last_beat = time.monotonic()
                objs = kube.list_volume_groups(NAMESPACE)
                ready = sum(1 for o in objs if is_ready(o))
                if ready == count:
                    break
                agents.sync(objs)
                if not proc.running():
                    raise SystemExit(f"operator exited ({proc.popen.returncode}); see {log_path}")
            wall = time.monotonic() - started
            peak = vm_hwm_mb(proc.pid)
            print(
                json.dumps(
                    {
                        "volumegroups": count,
                        "ready": ready,
                        "wall_seconds_to_all_ready": round(wall, 1),
                        "create_seconds": round(created, 1),
                        "operator_peak_rss_mb": round(peak, 1),
                        "operator_rss_after_startup_mb": round(baseline, 1),
                        "agent_status_writes": agents.writes,
                        "workers": workers,
                    }
                )
            )
            return 0 if ready == count else 1
        finally:
            proc.terminate(grace_s=30)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--timeout", type=float, default=600)
    args = parser.parse_args()
    return run(args.count, args.workers, args.timeout)


if __name__ == "__main__":
    raise SystemExit(main())
