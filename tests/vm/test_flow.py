"""VM tier, issue 9: the whole nearpath flow on real parts, and its fault cases.

Host: a private kube-apiserver (the control-plane test bed), ``nearpath operator --standalone``
and ``nearpath csi --mode controller``. Three VMs as nodes node-0..node-2 with one shared
disk, each running ``nearpath target`` (Kubernetes mode) and ``nearpath csi --mode node``
against the host's API server. The CSI calls come in kubelet/sidecar order: CreateVolume with
the consumer as preferred topology, ControllerPublish to node-0, NodeStage and NodePublish
(raw block) in node-0. A checksummed O_DIRECT workload then runs through every fault case of
:mod:`tests.vm.flow.cases`; each must end with zero I/O errors and zero checksum mismatches and
I/O must resume (the pause bound is only a hang guard: timings go to ``make bench-failover``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator

import pytest

from tests.fixtures.controlplane import ensure_binaries
from tests.support.cache import cache_bin_dir
from tests.vm import harness
from tests.vm.flow import cases
from tests.vm.flow.bed import flow_bed
from tests.vm.flow.stack import Flow

pytestmark = pytest.mark.vm


@pytest.fixture(scope="module")
def flow(vm_image: harness.Image) -> Iterator[Flow]:
    reason = ensure_binaries(cache_bin_dir())
    if reason and os.environ.get("NEARPATH_REQUIRE_CONTROL_PLANE") == "1":
        pytest.fail(f"control-plane test bed required but unavailable: {reason}", pytrace=False)
    if reason:
        pytest.skip(f"control-plane tier skipped: {reason}")
    with flow_bed(vm_image) as bed:
        yield bed


def test_volume_is_provisioned_in_kubelet_order(flow: Flow) -> None:
    try:
        volume = flow.volume
        assert volume is not None
        context = volume.publish_context
        targets = {t["node"] for t in json.loads(context["targets"])}
        assert targets == {"node-0", "node-1", "node-2"}, context
        status = flow.vg()["status"]
        assert status["optimizedNode"] == "node-0", status
        assert [a["node"] for a in status["attachments"]] == ["node-0"], status
        assert flow.alua_states() == {
            "node-0": "active-optimized",
            "node-1": "active-non-optimized",
            "node-2": "active-non-optimized",
        }
        flow.wait_paths_ready(["node-0", "node-1", "node-2"])
        flow.wait_optimized("node-0")
        vm = flow.consumer_vm()
        print("MULTIPATH_LL\n" + vm.run("multipath -ll", timeout=60).stdout)
        assert vm.run(f"test -b {volume.target_path}", timeout=30).ok, "NodePublish made no block device"
    except BaseException:
        print(flow.diagnostics())
        raise


def test_fault_cases_keep_data_and_resume_io(flow: Flow) -> None:
    results: list[cases.CaseResult] = []

    def record(result: cases.CaseResult) -> None:
        results.append(result)
        print(f"FLOW_CASE {json.dumps(result.to_json())}", flush=True)

    try:
        cases.run_sequence(flow, power_cycle=False, record=record)
    except BaseException:
        print(flow.diagnostics())
        raise
    names = [r.case for r in results]
    assert names == [
        "target-withdrawn",
        "failback-target",
        "planned-handover",
        "link-drop",
        "failback-link",
        "api-partition",
        "failback-api",
        "agent-stopped",
        "failback-agent",
        "standby-power-off",
        "optimized-power-off",
    ]
    for r in results:
        assert r.errors == 0, r
        assert r.mismatches == 0, r
        assert r.verified_blocks > 0 and r.writes_after_fault > 0, r
        assert r.pause_s < cases.HANG_SECONDS, r
