"""A volume's whole life on a real cluster, with the consumer's own-node target removed mid-I/O.

install chart -> StorageClass (WaitForFirstConsumer) -> PVC + writer Pod -> data with a checksum
-> remove the same-node target (its DaemonSet pod deleted and kept off the node, its TPG
disabled) -> I/O continues (pause measured from the writer's timestamps) -> data intact (read
with O_DIRECT, through whatever path now serves it) -> expand the PVC online -> delete
everything -> no VolumeGroup, no LIO object, no iSCSI session left anywhere.
"""

from __future__ import annotations

import itertools
import json
import os
import secrets
import time
from typing import Any

import pytest

from nearpath.core import identifiers as ids
from nearpath.core.contract import TARGET_DISABLED_LABEL, TARGET_DISABLED_VALUE
from tests.e2e.cluster import DEFAULT_IMAGE, ENV_IMAGE, Cluster, E2EError, sc_parameters
from tests.support.polling import wait_for

pytestmark = pytest.mark.e2e

CONFIGFS_ISCSI = "/sys/kernel/config/target/iscsi"
CONFIGFS_CORE = "/sys/kernel/config/target/core"
BLOB_MIB = 32
# The writer appends "<seq> <unix time>" with O_DSYNC every 50 ms: a gap between consecutive
# timestamps is how long the volume did not complete a write.
WRITER = r"""
import os, time
fd = os.open("/data/ticks", os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_DSYNC, 0o644)
seq = 0
while True:
    seq += 1
    os.write(fd, f"{seq} {time.time():.6f}\n".encode())
    time.sleep(0.05)
"""
WRITE_BLOB = rf"""
import hashlib, os
data = os.urandom({BLOB_MIB} << 20)
with open("/data/blob", "wb") as f:
    f.write(data); f.flush(); os.fsync(f.fileno())
print(hashlib.sha256(data).hexdigest())
"""
# Read back with O_DIRECT: bypasses the page cache, so the bytes come from the device path.
READ_BLOB = r"""
import hashlib, mmap, os
fd = os.open("/data/blob", os.O_RDONLY | os.O_DIRECT)
buf, h = mmap.mmap(-1, 1 << 20), hashlib.sha256()
while (n := os.readv(fd, [buf])) > 0:
    h.update(buf[:n])
print(h.hexdigest())
"""
STATVFS = 'import os; s = os.statvfs("/data"); print(s.f_blocks * s.f_frsize)'


def _image() -> str:
    return os.environ.get(ENV_IMAGE, DEFAULT_IMAGE)


def _pod_ready(pod: dict[str, Any] | None) -> bool:
    conditions = (pod or {}).get("status", {}).get("conditions", [])
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def find_volume_group(cluster: Cluster, pv: dict[str, Any]) -> dict[str, Any]:
    """The VolumeGroup behind a PV: volumeHandle `<namespace>/<name>` (or a bare name), else the VG
    annotated/labelled with the PV name."""
    handle = pv["spec"]["csi"]["volumeHandle"]
    vgs = cluster.get("volumegroups.nearpath.io", "--all-namespaces")["items"]
    for vg in vgs:
        meta = vg["metadata"]
        marks = {**meta.get("labels", {}), **meta.get("annotations", {})}
        if handle in (f"{meta['namespace']}/{meta['name']}", meta["name"]) or pv["metadata"]["name"] in marks.values():
            return vg
    raise E2EError(f"no VolumeGroup for PV {pv['metadata']['name']} (volumeHandle {handle!r})")


def ticks(cluster: Cluster, ns: str, pod: str) -> list[tuple[int, float]]:
    out = cluster.exec(ns, pod, ["cat", "/data/ticks"], timeout=60).stdout
    rows = []
    for line in out.splitlines():
        seq, _, stamp = line.partition(" ")
        if seq.isdigit() and stamp:
            rows.append((int(seq), float(stamp)))
    return rows


def lio_leftovers(cluster: Cluster, iqn_marker: str, backstores: set[str]) -> list[str]:
    found = []
    for pod in cluster.component_pods("target"):
        name = pod["metadata"]["name"]
        iqns = cluster.exec(cluster.namespace, name, ["ls", "-1", CONFIGFS_ISCSI], check=False).stdout.split()
        found += [f"{name}: target {i}" for i in iqns if iqn_marker in i]
        listing = cluster.exec(
            cluster.namespace, name, ["sh", "-c", f"ls -1 {CONFIGFS_CORE}/*/ 2>/dev/null"], check=False
        ).stdout.split()
        found += [f"{name}: backstore {b}" for b in listing if b in backstores]
    return found


def session_leftovers(cluster: Cluster, iqn_marker: str) -> list[str]:
    found = []
    for pod in cluster.component_pods("csi-node"):
        name = pod["metadata"]["name"]
        proc = cluster.exec(cluster.namespace, name, ["iscsiadm", "-m", "session"], container="nearpath", check=False)
        if proc.returncode not in (0, 21):  # 21: no active sessions
            raise E2EError(f"iscsiadm -m session in {name} failed ({proc.returncode}): {proc.stderr.strip()}")
        found += [f"{name}: {line}" for line in proc.stdout.splitlines() if iqn_marker in line]
    return found


def disable_tpgs_on(cluster: Cluster, node: str, iqn: str) -> None:
    """Disable the target's TPGs on ``node`` from a short privileged pod (the agent there is gone)."""
    name = f"np-e2e-tpg-off-{secrets.token_hex(3)}"
    script = (
        f'for t in {CONFIGFS_ISCSI}/{iqn}/tpgt_*; do [ -e "$t/enable" ] && echo 0 > "$t/enable"; done; '
        f"ls -d {CONFIGFS_ISCSI}/{iqn}/tpgt_*"
    )
    cluster.apply(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "namespace": cluster.namespace},
            "spec": {
                "nodeName": node,
                "restartPolicy": "Never",
                "tolerations": [{"operator": "Exists"}],
                "containers": [
                    {
                        "name": "off",
                        "image": _image(),
                        "imagePullPolicy": "IfNotPresent",
                        "command": ["sh", "-c", script],
                        "securityContext": {"privileged": True},
                        "volumeMounts": [{"name": "configfs", "mountPath": "/sys/kernel/config"}],
                    }
                ],
                "volumes": [{"name": "configfs", "hostPath": {"path": "/sys/kernel/config"}}],
            },
        }
    )
    try:
        phase = wait_for(
            "TPG-disable pod to finish",
            lambda: (
                (cluster.get_or_none("-n", cluster.namespace, "pod", name) or {}).get("status", {}).get("phase")
                in ("Succeeded", "Failed")
                and cluster.get("-n", cluster.namespace, "pod", name)["status"]["phase"]
            ),
            120,
            1,
        )
        logs = cluster.kubectl("-n", cluster.namespace, "logs", name, check=False).stdout
        assert phase == "Succeeded", f"disabling TPGs of {iqn} on {node} failed: {logs}"
    finally:
        cluster.kubectl("-n", cluster.namespace, "delete", "pod", name, "--wait=false", check=False)


def writer_objects(cluster: Cluster, sc_name: str, pvc_name: str, pod_name: str) -> list[dict[str, Any]]:
    """A WaitForFirstConsumer ext4 StorageClass (expandable), a 1 Gi claim and a pod running WRITER on it."""
    ns = cluster.namespace
    driver = cluster.get("csidrivers.storage.k8s.io", "-l", "app.kubernetes.io/name=nearpath")["items"][0]
    return [
        {
            "apiVersion": "storage.k8s.io/v1",
            "kind": "StorageClass",
            "metadata": {"name": sc_name},
            "provisioner": driver["metadata"]["name"],
            "volumeBindingMode": "WaitForFirstConsumer",
            "allowVolumeExpansion": True,
            "reclaimPolicy": "Delete",
            "parameters": {**sc_parameters(), "csi.storage.k8s.io/fstype": "ext4"},
        },
        {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {"name": pvc_name, "namespace": ns},
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "storageClassName": sc_name,
                "resources": {"requests": {"storage": "1Gi"}},
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": pod_name, "namespace": ns},
            "spec": {
                "terminationGracePeriodSeconds": 5,
                "containers": [
                    {
                        "name": "writer",
                        "image": _image(),
                        "imagePullPolicy": "IfNotPresent",
                        "command": ["python", "-u", "-c", WRITER],
                        "volumeMounts": [{"name": "data", "mountPath": "/data"}],
                    }
                ],
                "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": pvc_name}}],
            },
        },
    ]


def test_volume_survives_losing_its_own_node_target(installed: Cluster) -> None:
    cluster = installed
    ns = cluster.namespace
    run = secrets.token_hex(3)
    sc_name, pvc_name, pod_name = f"nearpath-e2e-{run}", f"e2e-{run}", f"e2e-writer-{run}"
    report: dict[str, Any] = {}
    disabled_node: str | None = None

    for obj in writer_objects(cluster, sc_name, pvc_name, pod_name):
        cluster.apply(obj)
    try:
        # ---- provisioned, attached, mounted, writing ---------------------------------------
        t0 = time.monotonic()
        pod = wait_for(
            "writer pod Ready",
            lambda: (p := cluster.get_or_none("-n", ns, "pod", pod_name)) and _pod_ready(p) and p,
            300,
        )
        report["attach_s"] = round(time.monotonic() - t0, 1)
        node = pod["spec"]["nodeName"]
        pvc = cluster.get("-n", ns, "pvc", pvc_name)
        pv = cluster.get("pv", pvc["spec"]["volumeName"])
        vg = find_volume_group(cluster, pv)
        vg_ns, vg_name = vg["metadata"]["namespace"], vg["metadata"]["name"]
        iqn_marker = f"{ids.IQN_PREFIX}:{vg_ns}:{vg_name}:"
        backstores = {ids.backstore_name(vg_ns, vg_name, d["name"]) for d in vg["spec"]["disks"]}

        def ready_targets() -> dict[str, Any] | None:
            status = cluster.get("-n", vg_ns, "volumegroups.nearpath.io", vg_name).get("status", {})
            ready = {t["node"]: t for t in status.get("targets") or [] if t.get("ready")}
            return ready if len(ready) >= 2 and node in ready else None

        serving = wait_for("two or more ready targets (one on the consumer's node)", ready_targets, 240)
        own_iqn = serving[node].get("iqn") or ids.target_iqn(vg_ns, vg_name, node)
        report["serving_nodes"] = sorted(serving)
        checksum = cluster.exec(ns, pod_name, ["python", "-c", WRITE_BLOB], timeout=180).stdout.strip()
        assert len(checksum) == 64, checksum

        # ---- remove the consumer's own-node target -----------------------------------------
        target_pod = cluster.component_pod_on("target", node)
        assert target_pod is not None, f"no target pod on {node}"
        disabled_node = node
        cluster.kubectl("label", "node", node, f"{TARGET_DISABLED_LABEL}={TARGET_DISABLED_VALUE}", "--overwrite")
        cluster.kubectl(
            "-n",
            ns,
            "delete",
            "pod",
            target_pod["metadata"]["name"],
            "--wait=true",
            "--timeout=120s",
            check=False,
            timeout=150,
        )
        wait_for(f"target pod on {node} gone", lambda: cluster.component_pod_on("target", node) is None, 120)
        fault_at = time.time()
        disable_tpgs_on(cluster, node, own_iqn)

        # ---- I/O continues; measure the pause ----------------------------------------------
        def progressed() -> list[tuple[int, float]] | None:
            rows = ticks(cluster, ns, pod_name)
            return rows if sum(1 for _, t in rows if t > fault_at + 1) >= 40 else None

        rows = wait_for("writes to complete after the target removal", progressed, 300, 5)
        seqs = [s for s, _ in rows]
        assert seqs == list(range(1, len(seqs) + 1)), "the writer's log lost or reordered records"
        window = [t for _, t in rows if t >= fault_at - 5]
        gaps = [b - a for a, b in itertools.pairwise(window)]
        report["io_pause_s"] = round(max(gaps), 3) if gaps else None
        assert report["io_pause_s"] is not None and report["io_pause_s"] < 120, f"I/O hung: {report}"
        report["optimized_after"] = (
            cluster.get("-n", vg_ns, "volumegroups.nearpath.io", vg_name).get("status", {}).get("optimizedNode")
        )
        assert report["optimized_after"] != node, "the removed node is still Active/Optimized"

        # ---- the data is intact --------------------------------------------------------------
        assert cluster.exec(ns, pod_name, ["python", "-c", READ_BLOB], timeout=180).stdout.strip() == checksum

        # ---- put the node's target back (its agent must clean the disabled TPG up later) ----
        cluster.kubectl("label", "node", node, f"{TARGET_DISABLED_LABEL}-")
        disabled_node = None
        wait_for(f"target pod back on {node}", lambda: _pod_ready(cluster.component_pod_on("target", node)), 300)

        # ---- online expansion ----------------------------------------------------------------
        before = int(cluster.exec(ns, pod_name, ["python", "-c", STATVFS]).stdout)
        cluster.kubectl(
            "-n",
            ns,
            "patch",
            "pvc",
            pvc_name,
            "--type=merge",
            "-p",
            json.dumps({"spec": {"resources": {"requests": {"storage": "2Gi"}}}}),
        )
        wait_for(
            "PVC capacity 2Gi",
            lambda: (
                cluster.get("-n", ns, "pvc", pvc_name).get("status", {}).get("capacity", {}).get("storage") == "2Gi"
            ),
            300,
            3,
        )
        after = wait_for(
            "filesystem grown in the pod",
            lambda: (n := int(cluster.exec(ns, pod_name, ["python", "-c", STATVFS]).stdout)) > before * 1.5 and n,
            180,
            3,
        )
        report["fs_bytes"] = (before, after)
        assert cluster.exec(ns, pod_name, ["python", "-c", READ_BLOB], timeout=180).stdout.strip() == checksum
    finally:
        if disabled_node:
            cluster.kubectl("label", "node", disabled_node, f"{TARGET_DISABLED_LABEL}-", check=False)
        # ---- delete everything ---------------------------------------------------------------
        cluster.kubectl(
            "-n", ns, "delete", "pod", pod_name, "--ignore-not-found", "--timeout=180s", check=False, timeout=200
        )
        cluster.kubectl(
            "-n", ns, "delete", "pvc", pvc_name, "--ignore-not-found", "--timeout=180s", check=False, timeout=200
        )
        print(f"\n[e2e] {json.dumps(report)}")

    pv_name = pv["metadata"]["name"]
    wait_for(f"PV {pv_name} deleted", lambda: cluster.get_or_none("pv", pv_name) is None, 300, 3)
    wait_for(
        f"VolumeGroup {vg_ns}/{vg_name} deleted",
        lambda: cluster.get_or_none("-n", vg_ns, "volumegroups.nearpath.io", vg_name) is None,
        300,
        3,
    )
    wait_for(
        "no LIO object of the volume on any node", lambda: not lio_leftovers(cluster, iqn_marker, backstores), 120, 5
    )
    wait_for("no iSCSI session to the volume on any node", lambda: not session_leftovers(cluster, iqn_marker), 120, 5)
    cluster.kubectl("delete", "storageclass", sc_name, "--ignore-not-found")
