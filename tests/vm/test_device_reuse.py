"""VM tier: a deleted volume's data never reaches the next volume on the same device (issue 15, C3).

In one guest, on the real kernel: the real target agent (RtslibLio, HostRunner; its API is the
in-memory FakeKube, driven here the way the operator and the CSI controller drive the API
server) serves a `shared` VolumeGroup on the VM's shared disk; the real CSI node code stages it
over iSCSI + dm-multipath, writes a file system with a marker file and a raw marker, and
unstages. The group is deleted and its assignment withdrawn: the agent drops the target, erases
the device (blkdiscard --zeroout or wipefs + ends, as the device allows) and removes the
``nearpath.io/wipe`` finalizer. A new group on the same device (another UID, so another WWID)
is then staged raw and with a file system: no marker, no old file system, fresh mkfs.
"""

from __future__ import annotations

import json

import pytest

from tests.fixtures.vm import ClusterFactory

pytestmark = pytest.mark.vm

GUEST_SCRIPT = "/tmp/np_device_reuse.py"
SCRIPT = r"""
import json, logging, os, subprocess, sys, time
from nearpath.core.contract import WIPE_FINALIZER
from nearpath.core.fake_kube import FakeKube
from nearpath.core.logging import configure
from nearpath.core.runner import HostRunner
from nearpath.csi.host import LocalHost
from nearpath.csi.node_ops import NodeConfig, NodeOps, StageRequest
from nearpath.csi.publish_context import PublishContext, TargetPortal
from nearpath.target.agent import TargetAgent
from nearpath.target.desired import Portal
from nearpath.target.rtslib_lio import RtslibLio

args = json.loads(sys.argv[1])
configure("info", "text")
node, device, iqn_me, address = args["node"], args["device"], args["initiator"], args["address"]
kube = FakeKube()
kube.add_node(node, {})
edge = RtslibLio()
edge.prepare("")
agent = TargetAgent(edge, node, [Portal(address)], runner=HostRunner())
ops = NodeOps(HostRunner(), LocalHost(), NodeConfig(node_name=node, device_timeout=60, command_timeout=60))
MARK = b"nearpath-tenant-A-secret-" * 40

def group(name, uid):
    body = {"apiVersion": "nearpath.io/v1alpha1", "kind": "VolumeGroup",
            "metadata": {"name": name, "namespace": "t", "uid": uid, "finalizers": [WIPE_FINALIZER]},
            "spec": {"disks": [{"name": "data", "size": "64Mi", "source": {"path": device}}],
                     "backing": {"type": "shared"}, "placement": {"nodes": [node]},
                     "access": {"initiators": [iqn_me]}}}
    kube.create_volume_group(body)
    kube.apply_volume_group_status("t", name, {"assignments": [
        {"node": node, "aluaState": "active-optimized", "portGroupId": 2}]}, "nearpath-operator")
    reports = agent.reconcile_kube(kube)
    entry = [r.entry for r in reports if r.name == name][0]
    assert entry.ready, entry
    obj = kube.get_volume_group("t", name)
    from nearpath.core.api import parse_volume_group
    vg = parse_volume_group(obj)
    ident = vg.disk_identities()[0]
    return PublishContext(targets=(TargetPortal(node, entry.iqn, (f"{address}:3260",)),), lun=0,
                          wwid=ident.wwid, size_bytes=64 << 20, chap="none")

out = {}
pub_a = group("vol-a", "aaaaaaaa-0000-4000-8000-000000000001")
ops.stage(StageRequest("t/vol-a", "/mnt/np-a", pub_a, fs_type="ext4"))
open("/mnt/np-a/marker", "wb").write(MARK)
os.sync()
ops.unstage("t/vol-a", "/mnt/np-a")
raw_a = StageRequest("t/vol-a", "/mnt/np-a-raw", pub_a, block=True)
ops.stage(raw_a)
with open(f"/dev/mapper/{pub_a.wwid}", "r+b") as f:
    f.seek(32 << 20); f.write(MARK); f.flush(); os.fsync(f.fileno())
ops.unstage("t/vol-a", "/mnt/np-a-raw")
out["before_erase_blkid"] = subprocess.run(["blkid", "-p", device], capture_output=True, text=True).stdout
kube.delete_volume_group("t", "vol-a")
kube.apply_volume_group_status("t", "vol-a", {"assignments": []}, "nearpath-operator")
started = time.monotonic()
agent.reconcile_kube(kube)
out["erase_seconds"] = round(time.monotonic() - started, 3)
out["vol_a_gone"] = kube.get_volume_group("t", "vol-a") is None
out["lio_targets_after_delete"] = [t.iqn for t in agent.edge.list_targets()]
q = os.path.basename(os.path.realpath(device))
out["write_zeroes_max_bytes"] = open(f"/sys/class/block/{q}/queue/write_zeroes_max_bytes").read().strip()

pub_b = group("vol-b", "bbbbbbbb-0000-4000-8000-000000000002")
ops.stage(StageRequest("t/vol-b", "/mnt/np-b-raw", pub_b, block=True))
data = open(f"/dev/mapper/{pub_b.wwid}", "rb").read(64 << 20)
out["raw_marker_found"] = MARK[:64] in data
out["blkid_b"] = subprocess.run(["blkid", "-p", f"/dev/mapper/{pub_b.wwid}"], capture_output=True, text=True).stdout
ops.unstage("t/vol-b", "/mnt/np-b-raw")
ops.stage(StageRequest("t/vol-b", "/mnt/np-b", pub_b, fs_type="ext4"))
out["files_b"] = sorted(os.listdir("/mnt/np-b"))
ops.unstage("t/vol-b", "/mnt/np-b")
print(json.dumps(out))
"""


def test_deleted_volume_data_never_reaches_the_next_volume(vm_cluster: ClusterFactory) -> None:
    cluster = vm_cluster(1, shared_disk_mb=64)
    vm1 = cluster[0]
    assert cluster.shared_disk is not None
    vm1.write_file(GUEST_SCRIPT, SCRIPT)
    args = {"node": vm1.name, "device": cluster.shared_disk.guest_path, "initiator": vm1.iqn, "address": vm1.address}
    res = vm1.run(["python3", GUEST_SCRIPT, json.dumps(args)], timeout=1200)
    assert res.rc == 0, f"guest script failed ({res.rc}):\n{res.stdout}\n{res.stderr[-5000:]}"
    out = json.loads(res.stdout.strip().splitlines()[-1])
    print("DEVICE_REUSE", json.dumps(out))
    assert "ext4" in out["before_erase_blkid"], out  # the signature was really there
    assert out["vol_a_gone"] and out["lio_targets_after_delete"] == [], out
    assert out["raw_marker_found"] is False, out  # erased before the next tenant
    assert out["blkid_b"] == "", out  # no file system signature left
    assert out["files_b"] == ["lost+found"], out  # a fresh file system, not the old one
