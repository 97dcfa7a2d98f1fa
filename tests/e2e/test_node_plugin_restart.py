"""The node plugin restarts under a mounted volume: I/O goes on, the new instance unstages cleanly.

Review H5: the plugin's staged-volume records must live on the host. A restarted plugin that
lost them unstages by unmounting only, leaking the iSCSI sessions and the dm-multipath map.
Here the consumer's csi-node pod is deleted (the DaemonSet starts a new one) while a writer
runs; then the writer and the claim are deleted and nothing may be left on any node.
"""

from __future__ import annotations

import itertools
import json
import secrets
import time
from typing import Any

import pytest

from nearpath.core import identifiers as ids
from tests.e2e.cluster import Cluster, E2EError
from tests.e2e.test_volume_lifecycle import (
    _pod_ready,
    find_volume_group,
    lio_leftovers,
    session_leftovers,
    ticks,
    writer_objects,
)
from tests.support.polling import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.full]


def map_leftovers(cluster: Cluster, wwids: set[str]) -> list[str]:
    found = []
    for pod in cluster.component_pods("csi-node"):
        name = pod["metadata"]["name"]
        proc = cluster.exec(
            cluster.namespace, name, ["dmsetup", "ls", "--target", "multipath"], container="nearpath", check=False
        )
        found += [
            f"{name}: map {line.split()[0]}"
            for line in proc.stdout.splitlines()
            if line.split()[:1] and line.split()[0] in wwids
        ]
    return found


def test_node_plugin_restart_keeps_io_and_unstages_cleanly(installed: Cluster) -> None:
    cluster = installed
    ns = cluster.namespace
    run = secrets.token_hex(3)
    sc_name, pvc_name, pod_name = f"nearpath-e2e-r-{run}", f"e2e-r-{run}", f"e2e-r-writer-{run}"
    report: dict[str, Any] = {}
    for obj in writer_objects(cluster, sc_name, pvc_name, pod_name):
        cluster.apply(obj)
    try:
        t0 = time.monotonic()
        pod = wait_for(
            "writer pod Ready",
            lambda: (p := cluster.get_or_none("-n", ns, "pod", pod_name)) and _pod_ready(p) and p,
            600,
        )
        report["pvc_to_pod_running_s"] = round(time.monotonic() - t0, 1)
        node = pod["spec"]["nodeName"]
        pv = cluster.get("pv", cluster.get("-n", ns, "pvc", pvc_name)["spec"]["volumeName"])
        vg = find_volume_group(cluster, pv)
        vg_ns, vg_name = vg["metadata"]["namespace"], vg["metadata"]["name"]
        iqn_marker = f"{ids.IQN_PREFIX}:{vg_ns}:{vg_name}:"
        backstores = {ids.backstore_name(vg_ns, vg_name, d["name"]) for d in vg["spec"]["disks"]}
        wwids = {d["wwid"] for d in cluster.get("-n", vg_ns, "volumegroups.nearpath.io", vg_name)["status"]["disks"]}

        # ---- restart the consumer's node plugin ------------------------------------------------
        old = cluster.component_pod_on("csi-node", node)
        assert old is not None, f"no csi-node pod on {node}"
        fault_at = time.time()
        cluster.kubectl(
            "-n", ns, "delete", "pod", old["metadata"]["name"], "--wait=true", "--timeout=180s", timeout=200
        )
        t1 = time.monotonic()
        wait_for(
            f"a new csi-node pod Ready on {node}",
            lambda: (
                (p := cluster.component_pod_on("csi-node", node)) is not None
                and p["metadata"]["uid"] != old["metadata"]["uid"]
                and _pod_ready(p)
            ),
            600,
            3,
        )
        report["plugin_back_s"] = round(time.monotonic() - t1, 1)

        def progressed() -> list[tuple[int, float]] | None:
            rows = ticks(cluster, ns, pod_name)
            return rows if sum(1 for _, t in rows if t > fault_at + 1) >= 40 else None

        rows = wait_for("writes after the plugin restart", progressed, 300, 5)
        window = [t for _, t in rows if t >= fault_at - 5]
        gaps = [b - a for a, b in itertools.pairwise(window)]
        report["io_pause_s"] = round(max(gaps), 3) if gaps else None
        assert report["io_pause_s"] is not None and report["io_pause_s"] < 120, f"I/O hung: {report}"
    finally:
        cluster.kubectl(
            "-n", ns, "delete", "pod", pod_name, "--ignore-not-found", "--timeout=300s", check=False, timeout=320
        )
        cluster.kubectl(
            "-n", ns, "delete", "pvc", pvc_name, "--ignore-not-found", "--timeout=300s", check=False, timeout=320
        )
        print(f"\n[e2e] node plugin restart: {json.dumps(report)}")

    # ---- the new plugin instance unstaged: nothing left anywhere ---------------------------------
    pv_name = pv["metadata"]["name"]
    wait_for(f"PV {pv_name} deleted", lambda: cluster.get_or_none("pv", pv_name) is None, 300, 3)
    wait_for("no iSCSI session to the volume on any node", lambda: not session_leftovers(cluster, iqn_marker), 180, 5)
    leftover_maps = map_leftovers(cluster, wwids)
    if leftover_maps:
        raise E2EError(f"dm-multipath maps leaked after unstage by the restarted plugin: {leftover_maps}")
    wait_for(
        "no LIO object of the volume on any node", lambda: not lio_leftovers(cluster, iqn_marker, backstores), 180, 5
    )
    cluster.kubectl("delete", "storageclass", sc_name, "--ignore-not-found")
