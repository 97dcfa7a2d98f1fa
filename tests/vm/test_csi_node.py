"""VM tier: the real CSI node code (nearpath.csi.node_ops, HostRunner) stages a nearpath-style
two-target LUN with real iscsiadm and multipathd.

vm1 and vm2 export the shared disk through LIO with one unit serial (one WWID), vm1's group
active/optimized, vm2's active/non-optimized. Inside vm1, NodeOps stages the volume (ext4),
the test checks that the multipath map puts the same-node path in the active, higher-priority
group and that data survives an unstage/stage, then 10 stage/unstage cycles run in one guest
process; after each, no session, node record, SCSI disk or dm map may remain.
"""

from __future__ import annotations

import json

import pytest

from tests.fixtures.vm import ClusterFactory
from tests.vm import storage

pytestmark = pytest.mark.vm

AO_PRIO = 50
STAGING = "/mnt/np-stage"
GUEST_SCRIPT = "/tmp/np_csi_node.py"
SCRIPT = r"""
import glob, json, subprocess, sys
from nearpath.core.runner import HostRunner
from nearpath.csi.publish_context import PublishContext
from nearpath.csi.host import LocalHost
from nearpath.csi.node_ops import NodeConfig, NodeOps, StageRequest

args = json.loads(sys.argv[2])
ops = NodeOps(HostRunner(), LocalHost(), NodeConfig(node_name=args["node"], device_timeout=60, command_timeout=60))
req = StageRequest(args["volume_id"], args["staging"], PublishContext.from_map(args["publish"]), fs_type="ext4")

def leftovers():
    sessions = subprocess.run(["iscsiadm", "-m", "session"], capture_output=True, text=True).stdout.split("\n")
    records = subprocess.run(["iscsiadm", "-m", "node"], capture_output=True, text=True).stdout.split("\n")
    maps = subprocess.run(["dmsetup", "ls", "--target", "multipath"], capture_output=True, text=True).stdout
    return {
        "sessions": [s for s in sessions if s.strip()],
        "records": [r for r in records if r.strip()],
        "sd": sorted(p.rsplit("/", 1)[1] for p in glob.glob("/sys/block/sd*")),
        "maps": [m for m in maps.split("\n") if m.strip() and "No devices" not in m],
        "mounted": args["staging"] in open("/proc/self/mounts").read(),
    }

if sys.argv[1] == "stage":
    ops.stage(req)
    ops.stage(req)  # twice: idempotent
elif sys.argv[1] == "unstage":
    ops.unstage(args["volume_id"], args["staging"])
    print(json.dumps(leftovers()))
elif sys.argv[1] == "cycles":
    out = []
    for i in range(args["count"]):
        ops.stage(req)
        data = open(args["staging"] + "/marker").read()
        ops.unstage(args["volume_id"], args["staging"])
        out.append({"cycle": i, "marker": data, **leftovers()})
    print(json.dumps(out))
"""


def test_stage_unstage_real_iscsi_multipath(vm_cluster: ClusterFactory) -> None:
    cluster = vm_cluster(2, shared_disk_mb=256)
    vm1, vm2 = cluster[0], cluster[1]
    assert cluster.shared_disk is not None
    serial = storage.new_serial()
    for vm, group_id, state in ((vm1, 2, "ao"), (vm2, 3, "ano")):
        storage.export_disk(vm, cluster.shared_disk.guest_path, serial, group_id, state, [vm1.iqn])
    wwid = storage.expected_wwid(serial)
    publish = {
        "targets": json.dumps(
            [
                {"node": "vm2", "iqn": storage.target_iqn(vm2), "portals": [f"{vm2.address}:3260"]},
                {"node": "vm1", "iqn": storage.target_iqn(vm1), "portals": [f"{vm1.address}:3260"]},
            ]
        ),
        "lun": "0",
        "wwid": wwid,
        "sizeBytes": str(256 << 20),
        "chap": "none",
        "discoveryChap": "false",
    }
    args = {"node": "vm1", "volume_id": "nearpath-volumes/vm-test", "staging": STAGING, "publish": publish}
    vm1.write_file(GUEST_SCRIPT, SCRIPT)
    vm1.run(["mkdir", "-p", STAGING], check=True)

    def guest(op: str, **extra: object) -> str:
        res = vm1.run(["python3", GUEST_SCRIPT, op, json.dumps({**args, **extra})], timeout=900)
        assert res.rc == 0, f"{op} failed ({res.rc}):\n{res.stdout}\n{res.stderr}"
        return res.stdout

    guest("stage")
    found = storage.wait_paths(vm1, wwid, count=2)
    local = next(p for p in found if p.target == storage.target_iqn(vm1))
    groups = storage.path_groups(vm1, wwid)
    print("MULTIPATH_LL\n" + vm1.run("multipath -ll", timeout=60).stdout)
    assert groups[0].prio == AO_PRIO and groups[0].devs == (local.dev,), groups
    assert groups[0].status == "active", groups
    conf = vm1.run("cat /etc/multipath/conf.d/nearpath.conf", check=True).stdout
    assert 'hardware_handler "1 alua"' in conf and "fast_io_fail_tmo 0" in conf
    vm1.run(f"echo nearpath-marker > {STAGING}/marker && sync", check=True)

    after = json.loads(guest("unstage"))
    assert after == {"sessions": [], "records": [], "sd": [], "maps": [], "mounted": False}, after

    cycles = json.loads(guest("cycles", count=10))
    assert len(cycles) == 10
    for cycle in cycles:
        assert cycle["marker"] == "nearpath-marker\n", cycle  # data written reads back after restaging
        leaks = {k: v for k, v in cycle.items() if k not in ("cycle", "marker") and v}
        assert not leaks, cycle
    print("LSBLK\n" + vm1.run("lsblk", timeout=60).stdout)
