"""VM tier: the metrics endpoints the chart declares for the node-side components, scraped on
real parts (the control-plane ones: tests/controlplane/test_metrics_endpoints.py).

vm1 and vm2 run the real target agent (file mode) serving one VolumeGroup on the shared disk,
vm1's port group active/optimized, vm2's active/non-optimized. vm1 stages the volume with the
real node code and runs the real node plugin (`nearpath csi --mode node`). Both endpoints serve
every family; the node plugin's numbers follow the kernel: two paths up, the local one
optimized; after vm1's link to vm2 silently drops (nftables in the guest) a path is down and
multipathd's fault counter moved.
"""

from __future__ import annotations

import json
import re
import time

import pytest

from nearpath.core.identifiers import default_serial, wwid_for_serial
from tests.fixtures.vm import ClusterFactory
from tests.metrics_contract import FAMILIES, families
from tests.vm import target_helpers as th
from tests.vm.harness import VM

pytestmark = [pytest.mark.vm, pytest.mark.full]  # 2 VMs, ~3.5 min under TCG: make test-all

TARGET_PORT, NODE_PORT = 9810, 9811
STAGING = "/mnt/np-stage"
STAGE_SCRIPT = "/tmp/np_stage.py"
SCRIPT = r"""
import json, sys
from nearpath.core.runner import HostRunner
from nearpath.csi.host import LocalHost
from nearpath.csi.node_ops import NodeConfig, NodeOps, StageRequest
from nearpath.csi.publish_context import PublishContext

args = json.loads(sys.argv[1])
ops = NodeOps(HostRunner(), LocalHost(), NodeConfig(node_name=args["node"], device_timeout=60, command_timeout=60))
ops.stage(StageRequest(args["volume_id"], args["staging"], PublishContext.from_map(args["publish"]), block=True))
"""
SCRAPE = (
    "python3 -c 'import urllib.request,sys; sys.stdout.write(urllib.request.urlopen(sys.argv[1]).read().decode())' "
)


def scrape(vm: VM, port: int, timeout: float = 120) -> str:
    deadline = time.monotonic() + timeout
    while True:
        res = vm.run(SCRAPE + f"http://127.0.0.1:{port}/metrics", timeout=60)
        if res.ok:
            return res.stdout
        assert time.monotonic() < deadline, f"{vm.name}:{port} never answered: {res.stderr[-500:]}"
        time.sleep(2)


def value(text: str, name: str, **labels: str) -> float:
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', line.split("}")[0]))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name}{labels} not in the scrape")


def test_node_side_metrics_endpoints_on_real_parts(vm_cluster: ClusterFactory) -> None:
    cluster = vm_cluster(2, shared_disk_mb=256)
    vm1, vm2 = cluster[0], cluster[1]
    assert cluster.shared_disk is not None
    disks = [{"name": "root", "size": "128Mi", "source": {"path": cluster.shared_disk.guest_path}}]
    agents = {}
    for vm, state, group in ((vm1, "active-optimized", 2), (vm2, "active-non-optimized", 3)):
        vg = th.volume_group("vg1", vm.name, disks, [vm1.iqn], state=state, port_group_id=group)
        th.write_inputs(vm, [vg], {})
        env = {**th.AGENT_ENV, "NEARPATH_RESYNC_SECONDS": "3", "NEARPATH_METRICS_PORT": str(TARGET_PORT)}
        agents[vm.name] = vm.spawn(th.agent_argv(vm, once=False), log=th.AGENT_LOG, env=env)
    entries = {vm.name: th.wait_status(vm, "vg1", lambda e: e.get("ready") is True) for vm in (vm1, vm2)}
    uid = th.volume_group("vg1", "vm1", disks, [])["metadata"]["uid"]
    wwid = wwid_for_serial(default_serial(uid, "root"))
    targets = [
        {"node": name, "iqn": e["iqn"], "portals": [f"{vm.address}:3260"]}
        for (name, e), vm in zip(entries.items(), (vm1, vm2), strict=True)
    ]
    print("TARGET_ENTRIES", json.dumps(entries))

    target_text = scrape(vm1, TARGET_PORT)
    assert set(FAMILIES["target"]) <= families(target_text), sorted(families(target_text))
    assert value(target_text, "nearpath_target_alua_state", target=entries["vm1"]["iqn"], state="active-optimized") == 1

    publish = {
        "targets": json.dumps(targets),
        "lun": "0",
        "wwid": wwid,
        "sizeBytes": str(128 << 20),
        "chap": "none",
        "discoveryChap": "false",
    }
    vm1.write_file(STAGE_SCRIPT, SCRIPT)
    args = {"node": "vm1", "volume_id": "default/vg1", "staging": STAGING, "publish": publish}
    staged = vm1.run(["python3", STAGE_SCRIPT, json.dumps(args)], timeout=600)
    assert staged.rc == 0, staged.stderr[-3000:]
    env = {"NEARPATH_LOG_FORMAT": "text", "NEARPATH_METRICS_PORT": str(NODE_PORT)}
    vm1.spawn(
        [
            "python3",
            "-m",
            "nearpath",
            "csi",
            "--mode",
            "node",
            "--node-id",
            "vm1",
            "--endpoint",
            "unix:///run/np-csi.sock",
        ],
        log="/root/np-csi-node.log",
        env=env,
    )
    text = scrape(vm1, NODE_PORT)
    assert set(FAMILIES["csi-node"]) <= families(text), sorted(families(text))
    vol = {"volume": "default/vg1"}
    assert value(text, "nearpath_node_staged_volumes") == 1
    assert value(text, "nearpath_node_multipathd_up") == 1
    up = value(text, "nearpath_node_volume_paths", state="active", **vol)
    assert up == 2, text
    assert value(text, "nearpath_node_volume_paths", state="faulty", **vol) == 0
    optimized = [
        line
        for line in text.splitlines()
        if line.startswith("nearpath_node_path_alua_state{") and line.endswith(" 1.0")
    ]
    assert sorted(re.search(r'state="([^"]+)"', line).group(1) for line in optimized) == [  # type: ignore[union-attr]
        "active/non-optimized",
        "active/optimized",
    ], optimized

    # A fault on the real part: vm1's link to vm2 silently drops every packet (vm2's agent would
    # re-enable a withdrawn target at its next resync); the node plugin's numbers follow.
    vm1.drop_link(vm2)
    deadline = time.monotonic() + 180
    while True:
        text = scrape(vm1, NODE_PORT)
        down = value(text, "nearpath_node_volume_paths", state="faulty", **vol) + value(
            text, "nearpath_node_volume_paths", state="missing", **vol
        )
        if down >= 1 and value(text, "nearpath_node_volume_path_faults_total", **vol) >= 1:
            break
        assert time.monotonic() < deadline, text
        time.sleep(3)
    assert value(text, "nearpath_node_volume_paths", state="active", **vol) == 1
