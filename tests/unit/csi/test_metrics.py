"""CSI metrics: the gRPC interceptor on a real grpc server (unix socket), and the node plugin's
path collector over the sandbox host and over recorded multipathd output."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest
from prometheus_client import generate_latest

from nearpath.core.fake_runner import FakeRunner
from nearpath.csi.identity import IdentityService
from nearpath.csi.node import NodeService
from nearpath.csi.node_ops import NodeOps, StagedVolume
from nearpath.csi.path_metrics import PathCollector
from nearpath.csi.proto import csi_pb2, csi_pb2_grpc
from nearpath.csi.rpc_metrics import CsiMetrics
from nearpath.csi.sandbox import MemoryHost
from nearpath.csi.server import build_server
from tests.unit.csi.helpers import FakeContext, block_cap
from tests.unit.csi.test_node import CONFIG, VID, WWID, node_service, sandbox_with_targets, stage_req

pytestmark = pytest.mark.unit


def sample(metrics: CsiMetrics, name: str, labels: dict[str, str]) -> float | None:
    return metrics.registry.get_sample_value(name, labels)


def test_interceptor_counts_and_times_calls_by_method_and_code(tmp_path: Path) -> None:
    metrics = CsiMetrics()
    box = sandbox_with_targets()
    node = NodeService(NodeOps(box.runner, box.host, CONFIG), "node-a", 16)
    endpoint = f"unix://{tmp_path}/csi.sock"
    server = build_server(
        endpoint, IdentityService(controller=False), None, node, interceptors=(metrics.interceptor(),)
    )
    server.start()
    try:
        with grpc.insecure_channel(endpoint) as channel:
            identity = csi_pb2_grpc.IdentityStub(channel)
            node_stub = csi_pb2_grpc.NodeStub(channel)
            identity.Probe(csi_pb2.ProbeRequest())
            identity.Probe(csi_pb2.ProbeRequest())
            with pytest.raises(grpc.RpcError) as err:
                node_stub.NodeStageVolume(csi_pb2.NodeStageVolumeRequest())
            assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    finally:
        server.stop(0).wait(5)
    assert sample(metrics, "nearpath_csi_rpc_duration_seconds_count", {"method": "Probe", "code": "OK"}) == 2
    failed = {"method": "NodeStageVolume", "code": "INVALID_ARGUMENT"}
    assert sample(metrics, "nearpath_csi_rpc_duration_seconds_count", failed) == 1
    assert sample(metrics, "nearpath_csi_rpc_in_flight", {"method": "Probe"}) == 0


Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def _paths(collector: PathCollector) -> Samples:
    return {(s.name, frozenset(s.labels.items())): s.value for family in collector.collect() for s in family.samples}


def val(got: Samples, name: str, **labels: str) -> float:
    return got[(name, frozenset(labels.items()))]


def test_path_collector_over_the_sandbox() -> None:
    box = sandbox_with_targets()
    svc = node_service(box)
    svc.NodeStageVolume(stage_req(cap=block_cap()), FakeContext())
    box.host.files["/sys/block/sdb/device/access_state"] = "active/optimized\n"  # scsi_dh_alua's attribute
    collector = PathCollector(svc.ops)
    got = _paths(collector)
    assert val(got, "nearpath_node_staged_volumes") == 1
    assert val(got, "nearpath_node_multipathd_up") == 1
    assert val(got, "nearpath_node_volume_paths", volume=VID, wwid=WWID, state="active") == 2
    assert val(got, "nearpath_node_volume_paths", volume=VID, wwid=WWID, state="missing") == 0
    assert val(got, "nearpath_node_path_alua_state", volume=VID, device="sdb", state="active/optimized") == 1
    assert val(got, "nearpath_node_path_alua_state", volume=VID, device="sdb", state="standby") == 0
    box.runner.disks.pop(sorted(box.runner.disks)[-1])  # one path vanished
    assert val(_paths(collector), "nearpath_node_volume_paths", volume=VID, wwid=WWID, state="missing") == 1


PATHS = f"{WWID}|sdb|active|ready\n{WWID}|sdc|failed|faulty\n{'3' + '6001405' + 'b' * 25}|sdd|active|ghost\n"
MAPS = f"{WWID}|3|2|0\n"


def test_path_collector_states_and_counters_from_multipathd() -> None:
    host = MemoryHost()
    state = StagedVolume(VID, "/stage", WWID, 0, True, "", [("iqn-a", "p1"), ("iqn-b", "p2")])
    host.write_file(f"{CONFIG.state_dir}/volumes/x.json", state.to_json())
    runner = FakeRunner(strict=True)
    runner.on("multipathd", "show", "paths", stdout=PATHS).on("multipathd", "show", "maps", stdout=MAPS)
    ops = NodeOps(runner, host, CONFIG)
    got = _paths(PathCollector(ops))
    assert val(got, "nearpath_node_volume_paths", volume=VID, wwid=WWID, state="active") == 1
    assert val(got, "nearpath_node_volume_paths", volume=VID, wwid=WWID, state="faulty") == 1
    assert val(got, "nearpath_node_volume_paths", volume=VID, wwid=WWID, state="ghost") == 0
    assert val(got, "nearpath_node_volume_path_group_switches_total", volume=VID, wwid=WWID) == 2
    assert val(got, "nearpath_node_volume_path_faults_total", volume=VID, wwid=WWID) == 3
    assert val(got, "nearpath_node_volume_io_failures_total", volume=VID, wwid=WWID) == 0
    assert runner.commands("multipathd", "show", "maps") == [
        ["multipathd", "show", "maps", "raw", "format", "%w|%0|%1|%x"]
    ]


def test_path_collector_reports_multipathd_down() -> None:
    host = MemoryHost()
    runner = FakeRunner(strict=True).on("multipathd", rc=1, stderr="can't connect to socket")
    collector = PathCollector(NodeOps(runner, host, CONFIG))
    got = _paths(collector)
    assert val(got, "nearpath_node_multipathd_up") == 0
    text = generate_latest_from(collector)
    assert "nearpath_node_volume_paths" in text


def generate_latest_from(collector: PathCollector) -> str:
    from prometheus_client import CollectorRegistry  # noqa: PLC0415

    registry = CollectorRegistry()
    registry.register(collector)
    return generate_latest(registry).decode()
