"""VM tier: CHAP secrets never appear in a process's argv, and real open-iscsi logs in with them.

vm1 exports the shared disk through LIO with CHAP required on its ACL (real kernel target). In
the guest, the real CSI node code (NodeOps over HostRunner and real iscsiadm/iscsid) stages the
volume while (a) its runner records every argv and (b) a sampler thread reads every process's
``/proc/<pid>/cmdline`` every few milliseconds. A wrong password must be refused by the target;
the right one must log in, with the credentials only in the 0600 node record file.
"""

from __future__ import annotations

import json

import pytest

from tests.fixtures.vm import ClusterFactory
from tests.vm import storage

pytestmark = pytest.mark.vm

GUEST_SCRIPT = "/tmp/np_chap_secrets.py"
ARGS_FILE = "/root/np_chap_args.json"
PASSWORD, WRONG = "np-chap-S3cret-0001", "np-chap-Wrong-00002"
SCRIPT = r"""
import glob, json, os, subprocess, sys, threading, time
import rtslib_fb as rts
from nearpath.core.chap import ChapCredentials
from nearpath.core.errors import NearpathError
from nearpath.core.runner import HostRunner
from nearpath.csi.host import LocalHost
from nearpath.csi.node_ops import NodeConfig, NodeOps, StageRequest
from nearpath.csi.publish_context import PublishContext

args = json.load(open(sys.argv[1]))  # a 0600 file: the passwords never ride on this process's argv
for target in rts.RTSRoot().targets:
    if target.wwn == args["iqn"]:
        for tpg in target.tpgs:
            tpg.set_attribute("authentication", "1")
            for acl in tpg.node_acls:
                acl.chap_userid, acl.chap_password = "np-user", args["password"]

class Recording:
    def __init__(self):
        self.inner, self.argvs = HostRunner(), []
    def run(self, argv, **kw):
        self.argvs.append(list(argv))
        return self.inner.run(argv, **kw)

hits, stop = [], threading.Event()
def sample():
    secrets = (args["password"].encode(), args["wrong"].encode())
    while not stop.is_set():
        for path in glob.glob("/proc/[0-9]*/cmdline"):
            try:
                data = open(path, "rb").read()
            except OSError:
                continue
            if any(s in data for s in secrets):
                hits.append(data.replace(b"\0", b" ").decode(errors="replace"))
        time.sleep(0.002)

sampler = threading.Thread(target=sample, daemon=True)
sampler.start()
runner = Recording()
ops = NodeOps(runner, LocalHost(), NodeConfig(node_name="vm1", device_timeout=60, command_timeout=60))
publish = PublishContext.from_map(args["publish"])
out = {}
try:
    wrong = ChapCredentials("np-user", args["wrong"])
    ops.stage(StageRequest("ns/chap", "/mnt/np-chap", publish, block=True, chap=wrong))
    out["wrong"] = "staged"
except NearpathError as exc:
    out["wrong"] = exc.message
ops.unstage("ns/chap", "/mnt/np-chap")
right = ChapCredentials("np-user", args["password"])
ops.stage(StageRequest("ns/chap", "/mnt/np-chap", publish, block=True, chap=right))
base = "/etc/iscsi/nodes/" + args["iqn"]
records = [p for p in glob.glob(base + "/*") if os.path.isfile(p)] + glob.glob(base + "/*/*")
out["record_modes"] = sorted(oct(os.stat(r).st_mode & 0o777) for r in records)
out["record_has_password"] = all(args["password"] in open(r).read() for r in records) and bool(records)
out["sessions"] = subprocess.run(["iscsiadm", "-m", "session"], capture_output=True, text=True).stdout
ops.unstage("ns/chap", "/mnt/np-chap")
stop.set()
sampler.join()
out["argv_hits"] = [a for a in runner.argvs if any(args["password"] in x or args["wrong"] in x for x in a)]
out["proc_hits"] = hits
out["commands"] = len(runner.argvs)
print(json.dumps(out))
"""


def test_chap_stays_out_of_argv_and_logs_in(vm_cluster: ClusterFactory) -> None:
    cluster = vm_cluster(1, shared_disk_mb=64)
    vm1 = cluster[0]
    assert cluster.shared_disk is not None
    serial = storage.new_serial()
    storage.export_disk(vm1, cluster.shared_disk.guest_path, serial, 2, "ao", [vm1.iqn])
    iqn = storage.target_iqn(vm1)
    publish = {
        "targets": json.dumps([{"node": "vm1", "iqn": iqn, "portals": [f"{vm1.address}:3260"]}]),
        "lun": "0",
        "wwid": storage.expected_wwid(serial),
        "sizeBytes": str(64 << 20),
        "chap": "session",
        "discoveryChap": "false",
    }
    vm1.write_file(GUEST_SCRIPT, SCRIPT)
    args = {"iqn": iqn, "password": PASSWORD, "wrong": WRONG, "publish": publish}
    vm1.write_file(ARGS_FILE, json.dumps(args), mode=0o600)
    res = vm1.run(["python3", GUEST_SCRIPT, ARGS_FILE], timeout=900)
    assert res.rc == 0, f"guest script failed ({res.rc}):\n{res.stdout}\n{res.stderr[-4000:]}"
    out = json.loads(res.stdout.strip().splitlines()[-1])
    print("CHAP_SECRETS", json.dumps({k: v for k, v in out.items() if k != "sessions"}))
    assert out["wrong"] != "staged" and "log in" in out["wrong"], out["wrong"]  # the target refused it
    assert iqn in out["sessions"], out["sessions"]  # the right password logged in
    assert out["record_has_password"] and set(out["record_modes"]) == {"0o600"}, out
    assert out["commands"] > 5
    assert out["argv_hits"] == [] and out["proc_hits"] == [], out
