"""Fault cases on the real flow and their measurement.

Topology (3 VMs): the consumer is ``node-0``; the volume is shared-backed and served by all
three nodes. One *sequence* runs the cases in an order that restores the state each next case
needs (the case names are the benchmark's rows):

=====================  ==========================================================================
target-withdrawn       AO = node-0 (same-node path). node-0's TPG is disabled: I/O moves to the
                       non-optimized remote paths.
failback-target        the TPG is enabled again: I/O returns to the same-node path.
planned-handover       spec.placement.preferredNode node-0 -> node-1 (demote, then promote).
link-drop              AO = node-1. The consumer<->node-1 link silently drops every packet.
failback-link          the link is restored: I/O returns to node-1's path.
api-partition          AO = node-1. node-1 is cut from the API server only (nftables in its guest):
                       its agent fences itself (LIO unavailable) before the operator promotes
                       another node; at no moment do two nodes' LIOs hold active/optimized.
failback-api           node-1 reaches the API again: fenced, stable, then optimized again.
agent-stopped          AO = node-1. node-1's agent process is stopped (SIGSTOP): its fence watchdog
                       fences LIO before the operator promotes another node.
failback-agent         the agent continues (SIGCONT): it keeps the fence until the operator saw
                       it, then node-1 is optimized again.
standby-power-off      node-2 (non-optimized) is powered off hard.
optimized-power-off    node-1 (AO) is powered off hard; the operator moves AO to a live node.
failback-power-on      (with ``power_cycle``) node-1 and node-2 boot again, their agents rejoin;
                       the operator fails back to node-1 (preferredNode, autoFailback).
=====================  ==========================================================================

Each case runs the checksummed workload (:mod:`tests.vm.flow.workload`) on the published block
device in the consumer, injects the fault, waits until the system settled, stops the workload
(which then verifies every block) and reports the longest gap between completed writes from
the fault on, the I/O errors and the checksum mismatches.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any

from tests.support.polling import wait_for
from tests.vm import storage
from tests.vm.flow import timeline
from tests.vm.flow.stack import Flow, FlowError
from tests.vm.harness import VM

GUEST_WORKLOAD = "/opt/nearpath/src/tests/vm/flow/workload.py"
BASELINE_WRITES = 200
BASELINE_SECONDS = 2.0
OBSERVE_UNPLANNED = 12.0  # after an unplanned fault: failover + the operator's reaction
SETTLE_AFTER = 3.0  # I/O keeps running this long after the system converged
HANG_SECONDS = 60.0  # the test's generous hang guard


@dataclass(frozen=True)
class CaseResult:
    case: str
    pause_s: float
    errors: int
    mismatches: int
    writes: int
    writes_after_fault: int
    verified_blocks: int
    gap_offset_s: float  # when the longest gap started, relative to the fault
    notes: str = ""
    timeline: timeline.Timeline | None = field(default=None, compare=False, repr=False)
    """Every write's completion around the fault (for the benchmark's pictures; not in JSON)."""

    def to_json(self) -> dict[str, object]:
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "timeline"}


class Workload:
    """The checksummed writer in the consumer guest, one run per case."""

    def __init__(self, vm: VM, device: str, directory: str) -> None:
        self.vm = vm
        self.device = device
        self.dir = directory
        self.pid = 0

    def start(self) -> None:
        self.vm.run(f"rm -rf {self.dir} && mkdir -p {self.dir}", check=True)
        argv = ["python3", GUEST_WORKLOAD, self.device, self.dir, "--seconds", "900", "--span-mb", "16"]
        self.pid = self.vm.spawn(argv, log=f"{self.dir}.stderr")
        storage.wait_for_writes(self.vm, f"{self.dir}/log", BASELINE_WRITES, timeout=120)
        time.sleep(BASELINE_SECONDS)

    def stop(self) -> tuple[storage.WriterStats, dict[str, Any], str]:
        storage.stop_writer(self.vm, self.pid, timeout=HANG_SECONDS + 60)
        summary: dict[str, Any] = json.loads(self.vm.read_file(f"{self.dir}/summary.json"))
        log = self.vm.read_file(f"{self.dir}/log").decode()
        return storage.analyse_writer_log(log, since=0), summary, log

    def alive(self) -> bool:
        running, _rc = self.vm.status(self.pid)
        return running


def measure(flow: Flow, name: str, inject: Callable[[], float], settle: Callable[[], str]) -> CaseResult:
    """Run the workload around one fault: ``inject`` returns the consumer-clock time of the fault,
    ``settle`` waits until the system converged and returns notes."""
    assert flow.volume is not None
    vm = flow.consumer_vm()
    work = Workload(vm, flow.volume.target_path, f"/tmp/np-flow-{name}")
    work.start()
    try:
        t_fault = inject()
        notes = settle()
        time.sleep(SETTLE_AFTER)
    finally:
        _all, summary, log = work.stop()
    stats = storage.analyse_writer_log(log, since=t_fault)
    kernel_log = vm.run("dmesg", timeout=60).stdout
    return CaseResult(
        case=name,
        pause_s=round(stats.max_gap, 3),
        errors=int(summary["errors"]),
        mismatches=int(summary["mismatches"]),
        writes=stats.n_ok,
        writes_after_fault=stats.ok_after,
        verified_blocks=int(summary["verified_blocks"]),
        gap_offset_s=round(stats.max_gap_at - t_fault, 3),
        notes="; ".join(filter(None, [notes, *[str(x) for x in summary.get("mismatch_examples") or []][:3]])),
        timeline=timeline.parse(log, t_fault, kernel_log),
    )


def _target_iqn(flow: Flow, node: str) -> str:
    paths = flow.path_nodes()
    if node in paths:
        return paths[node].target
    raise FlowError(f"no path to {node} in the consumer's map: {sorted(paths)}")


def _observe(seconds: float) -> Callable[[], str]:
    def settle() -> str:
        time.sleep(seconds)
        return ""

    return settle


def run_sequence(flow: Flow, *, power_cycle: bool, record: Callable[[CaseResult], None]) -> None:
    """One pass over every case (see the module docstring). Starts and ends with AO = node-0
    when ``power_cycle`` (all nodes up again); without it, node-1 and node-2 stay powered off."""
    assert flow.volume is not None
    consumer = flow.consumer_vm()
    n0, n1, n2 = (flow.node(f"node-{i}") for i in range(3))
    flow.wait_optimized("node-0")
    flow.wait_paths_ready(["node-0", "node-1", "node-2"])
    tpg0 = _target_iqn(flow, "node-0")

    # target withdrawn on the same-node (optimized) path, then failback when it returns
    record(measure(flow, "target-withdrawn", lambda: n0.vm.set_tpg_enabled(tpg0, False), _observe(OBSERVE_UNPLANNED)))
    record(
        measure(
            flow,
            "failback-target",
            lambda: n0.vm.set_tpg_enabled(tpg0, True),
            lambda: wait_for("I/O back on node-0", lambda: flow.io_on("node-0"), 120, 1) and "",
        )
    )

    # planned handover to a remote node
    def handover() -> float:
        t = consumer.uptime()
        flow.set_preferred_node("node-1")
        return t

    def handed_over() -> str:
        flow.wait_optimized("node-1")
        return ""

    record(measure(flow, "planned-handover", handover, handed_over))

    # the optimized (remote) node's link silently dropped, then restored
    def drop() -> float:
        t = consumer.uptime()
        consumer.drop_link(n1.vm)
        return t

    def restore() -> float:
        t = consumer.uptime()
        consumer.restore_link(n1.vm)
        return t

    record(measure(flow, "link-drop", drop, _observe(OBSERVE_UNPLANNED)))

    def back_on_node_1() -> str:
        wait_for("I/O back on node-1", lambda: flow.io_on("node-1"), 120, 1)
        return ""

    record(measure(flow, "failback-link", restore, back_on_node_1))
    flow.wait_optimized("node-1")
    api_partition(flow, record)
    agent_stopped(flow, record)

    # power-offs: a standby node, then the optimized one
    def power_off(vm: VM) -> Callable[[], float]:
        def inject() -> float:
            t = consumer.uptime()
            vm.power_off()
            return t

        return inject

    record(measure(flow, "standby-power-off", power_off(n2.vm), _observe(OBSERVE_UNPLANNED)))

    def failed_over() -> str:
        status = wait_for(
            "operator failover away from node-1",
            lambda: (s := flow.vg().get("status") or {}).get("optimizedNode") not in (None, "", "node-1") and s,
            90,
        )
        new = str(status["optimizedNode"])
        wait_for(f"consumer I/O on {new}'s path", lambda: flow.io_on(new), 90, 1)
        return f"operator moved AO to {new}"

    record(measure(flow, "optimized-power-off", power_off(n1.vm), failed_over))
    if not power_cycle:
        return

    def power_on() -> float:
        t = consumer.uptime()
        flow.restart_node(n1)
        flow.restart_node(n2)
        return t

    def failed_back() -> str:
        flow.wait_optimized("node-1", timeout=180)
        flow.wait_paths_ready(["node-0", "node-1", "node-2"], timeout=180)
        return ""

    record(measure(flow, "failback-power-on", power_on, failed_back))
    flow.set_preferred_node("node-0")
    flow.wait_optimized("node-0", timeout=180)


def api_partition(flow: Flow, record: Callable[[CaseResult], None]) -> None:
    """The optimized node (node-1) loses the API server but nothing else (issue 14, H4)."""
    consumer = flow.consumer_vm()

    def cut() -> float:
        t = consumer.uptime()
        flow.cut_api("node-1")
        return t

    record(measure(flow, "api-partition", cut, lambda: _fenced_before_promotion(flow, "node-1")))

    def restore() -> float:
        t = consumer.uptime()
        flow.restore_api("node-1")
        return t

    def failed_back() -> str:
        flow.wait_optimized("node-1", timeout=180)
        return ""

    record(measure(flow, "failback-api", restore, failed_back))


def agent_stopped(flow: Flow, record: Callable[[CaseResult], None]) -> None:
    """The optimized node's agent process hangs (SIGSTOP): only its watchdog can fence (issue 14, H4)."""
    consumer = flow.consumer_vm()
    n1 = flow.node("node-1")

    def stop() -> float:
        t = consumer.uptime()
        n1.vm.run(f"kill -STOP {n1.agent_pid}", check=True)
        return t

    def resume() -> float:
        t = consumer.uptime()
        n1.vm.run(f"kill -CONT {n1.agent_pid}", check=True)
        return t

    record(measure(flow, "agent-stopped", stop, lambda: _fenced_before_promotion(flow, "node-1")))

    def failed_back() -> str:
        flow.wait_optimized("node-1", timeout=180)
        return ""

    record(measure(flow, "failback-agent", resume, failed_back))


def _fenced_before_promotion(flow: Flow, old: str) -> str:
    """Watch every node's own LIO until another node is optimized and carries the I/O: ``old`` must be
    fenced (unavailable) first, and at no moment may two LIOs hold active/optimized."""
    nodes = [n.name for n in flow.nodes]
    started = time.monotonic()
    fenced_at = promoted_at = None
    while time.monotonic() - started < HANG_SECONDS:
        lio = {n: flow.lio_alua(n) for n in nodes}
        optimized = [n for n, codes in lio.items() if 0 in codes]
        if len(optimized) > 1:
            raise FlowError(f"two nodes active/optimized in their LIO at once: {lio}")
        now = time.monotonic() - started
        if fenced_at is None and lio[old] and lio[old] <= {3}:
            fenced_at = now
        if optimized and optimized[0] != old:
            promoted_at = promoted_at or now
            if fenced_at is None:
                raise FlowError(f"{optimized[0]} promoted while {old} was not fenced: {lio}")
            if flow.io_on(optimized[0]):
                return (
                    f"{old} fenced {fenced_at:.1f}s after the fault; {optimized[0]} active/optimized in its LIO "
                    f"{promoted_at:.1f}s after"
                )
    raise FlowError(f"no failover within {HANG_SECONDS:.0f}s ({old} fenced at {fenced_at})")
