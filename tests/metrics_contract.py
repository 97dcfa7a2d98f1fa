"""What each metrics endpoint the chart declares must serve, and how tests scrape it.

The chart declares a ``metrics`` container port per component (and a Service for it); the
tests that run each component on real parts (control-plane tier: operator, CSI controller;
VM tier: CSI node plugin, target agent) scrape it and check every family below is present.
"""

from __future__ import annotations

import re
import socket
import time
import urllib.request
from typing import Any

from tests.controlplane.chart import documents, render

FAMILIES: dict[str, tuple[str, ...]] = {
    "operator": (
        "nearpath_operator_volumegroups",
        "nearpath_operator_reconcile_duration_seconds",
        "nearpath_operator_failovers_total",
        "nearpath_operator_converge_duration_seconds",
        "nearpath_operator_reconcile_errors_total",
    ),
    "csi-controller": ("nearpath_csi_rpc_duration_seconds", "nearpath_csi_rpc_in_flight"),
    "csi-node": (
        "nearpath_csi_rpc_duration_seconds",
        "nearpath_csi_rpc_in_flight",
        "nearpath_node_staged_volumes",
        "nearpath_node_volume_paths",
        "nearpath_node_path_alua_state",
        "nearpath_node_volume_path_group_switches_total",
        "nearpath_node_volume_path_faults_total",
        "nearpath_node_volume_io_failures_total",
        "nearpath_node_multipathd_up",
    ),
    "target": (
        "nearpath_target_lun_commands_total",
        "nearpath_target_lun_read_bytes_total",
        "nearpath_target_lun_write_bytes_total",
        "nearpath_target_alua_state",
        "nearpath_target_sessions",
        "nearpath_target_reconcile_errors_total",
        "nearpath_target_reconciles_total",
        "nearpath_target_lio_changes_total",
        "nearpath_target_lease_renewal_errors_total",
    ),
}
_TYPE_RE = re.compile(r"^# TYPE (\S+) (\w+)$", re.MULTILINE)


def declared_metrics_ports() -> dict[str, int]:
    """Component -> the metrics container port the chart (default values) declares."""
    out = {}
    for doc in documents(render("nearpath", "nearpath-system")):
        if doc.get("kind") not in ("Deployment", "DaemonSet"):
            continue
        component = doc["metadata"]["labels"]["app.kubernetes.io/component"]
        containers: list[dict[str, Any]] = doc["spec"]["template"]["spec"]["containers"]
        for container in containers:
            for port in container.get("ports", []):
                if port.get("name") == "metrics":
                    out[component] = int(port["containerPort"])
    return out


def families(exposition: str) -> set[str]:
    """Family names in a Prometheus text exposition (counters keep their ``_total`` name)."""
    names = set()
    for name, kind in _TYPE_RE.findall(exposition):
        names.add(f"{name}_total" if kind == "counter" and not name.endswith("_total") else name)
    return names


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def scrape(port: int, host: str = "127.0.0.1", timeout: float = 60) -> str:
    """GET /metrics, retrying while the process starts."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"http://{host}:{port}/metrics", timeout=10) as resp:
                return str(resp.read().decode())
        except OSError:
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.5)
