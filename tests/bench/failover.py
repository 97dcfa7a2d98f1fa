"""Failover benchmark on the real flow (issue 9): every fault case of tests/vm/flow/cases.py, N times.

    flock /tmp/nearpath-vm.lock .venv/bin/python -m tests.bench.failover --runs 2 --json bench-results/failover.json

One test bed (private API server, operator, CSI controller, three VMs with nearpath's target
agent and CSI node plugin, one shared-backed volume published to node-0) serves every run; a
run powers node-1 and node-2 off and on again, so every case gets one sample per run. Prints a
table (case, runs, median and max pause, errors, mismatches) and writes it, with every sample
and the settings in force, as JSON. Exit code 1 if any case saw an I/O error or a checksum
mismatch (timings are reported, never judged).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.fixtures.controlplane import ensure_binaries
from tests.support import failover_plot
from tests.support.cache import cache_bin_dir
from tests.vm import harness
from tests.vm.flow import cases, stack
from tests.vm.flow.bed import flow_bed

DEFAULT_RUNS = 1
SCHEMA = "nearpath.bench.failover/v1"


@dataclass
class Row:
    case: str
    samples: list[cases.CaseResult] = field(default_factory=list)

    @property
    def pauses(self) -> list[float]:
        return [s.pause_s for s in self.samples]

    def summary(self) -> dict[str, Any]:
        return {
            "case": self.case,
            "runs": len(self.samples),
            "median_pause_s": round(statistics.median(self.pauses), 3),
            "max_pause_s": round(max(self.pauses), 3),
            "errors": sum(s.errors for s in self.samples),
            "mismatches": sum(s.mismatches for s in self.samples),
        }


def table(rows: list[dict[str, Any]]) -> str:
    head = f"| {'case':<20} | runs | median pause (s) | max pause (s) | errors | mismatches |"
    lines = [head, "|" + "|".join("-" * (len(c) + 0) for c in head.split("|")[1:-1]) + "|"]
    for r in rows:
        lines.append(
            f"| {r['case']:<20} | {r['runs']:>4} | {r['median_pause_s']:>16.2f} | {r['max_pause_s']:>13.2f} "
            f"| {r['errors']:>6} | {r['mismatches']:>10} |"
        )
    return "\n".join(lines)


def settings_in_force(flow: Any) -> dict[str, Any]:
    vm = flow.consumer_vm()
    conf = vm.run("cat /etc/multipath/conf.d/nearpath.conf 2>/dev/null", timeout=30).stdout
    tmo = vm.run("cat /sys/class/iscsi_session/session*/recovery_tmo 2>/dev/null | sort -u", timeout=30).stdout.split()
    keys = ("fast_io_fail_tmo", "no_path_retry", "dev_loss_tmo", "path_selector", "failback", "path_checker")
    multipath = {k: " ".join(line.split()[1:]) for line in conf.splitlines() for k in keys if line.split()[:1] == [k]}
    return {
        "multipath": multipath,
        "iscsi_session_recovery_tmo": tmo,
        "iscsi_node": vm.run(
            "iscsiadm -m node -o show 2>/dev/null | grep -E 'noop_out_(interval|timeout)|replacement_timeout' "
            "| sort -u",
            timeout=30,
        ).stdout.splitlines(),
        "agent_env": stack.AGENT_ENV,
        "operator_env": stack.OPERATOR_ENV,
        "csi_node_env": stack.CSI_NODE_ENV,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tests.bench.failover", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--runs", type=int, default=DEFAULT_RUNS, help=f"passes over every case (default {DEFAULT_RUNS})"
    )
    parser.add_argument("--json", type=Path, default=Path("bench-results/failover.json"), help="where to write JSON")
    parser.add_argument(
        "--plots", type=Path, default=Path("bench-results"), help="where to draw failover-<case>.png (first run)"
    )
    parser.add_argument(
        "--node-env",
        action="append",
        default=[],
        metavar="NEARPATH_X=V",
        help="extra environment of the CSI node plugins, to try other timeouts (e.g. NEARPATH_FAST_IO_FAIL_TMO=1)",
    )
    args = parser.parse_args(argv)
    for item in args.node_env:
        key, sep, value = item.partition("=")
        if not sep or not key.startswith("NEARPATH_"):
            parser.error(f"--node-env wants NEARPATH_NAME=VALUE, not {item!r}")
        stack.CSI_NODE_ENV[key] = value
    reason = ensure_binaries(cache_bin_dir())
    if reason:
        print(f"failover benchmark cannot run: {reason}", file=sys.stderr)
        return 2
    if harness.qemu_available() is None:
        print("failover benchmark cannot run: qemu-system-x86_64 is not available", file=sys.stderr)
        return 2
    image = harness.build_image()
    rows: dict[str, Row] = {}
    started = time.monotonic()

    def record(result: cases.CaseResult) -> None:
        rows.setdefault(result.case, Row(result.case)).samples.append(result)
        print(f"  {result.case:<20} pause {result.pause_s:6.2f} s  errors {result.errors}  "
              f"mismatches {result.mismatches}  {result.notes}", flush=True)  # fmt: skip

    with flow_bed(image) as flow:
        settings = settings_in_force(flow)
        for run in range(1, args.runs + 1):
            print(f"run {run}/{args.runs}", flush=True)
            cases.run_sequence(flow, power_cycle=True, record=record)
    summary = [row.summary() for row in rows.values()]
    print()
    print(table(summary))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "schema": SCHEMA,
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "host": {"machine": platform.machine(), "kernel": platform.release()},
        "runs": args.runs,
        "seconds": round(time.monotonic() - started, 1),
        "metric": "longest gap between completed 4 KiB O_DIRECT writes in the consumer, from the fault on",
        "settings": settings,
        "cases": summary,
        "samples": [s.to_json() for row in rows.values() for s in row.samples],
    }
    args.json.write_text(json.dumps(report, indent=1) + "\n")
    print(f"\nwritten to {args.json}")
    for row in rows.values():
        first = next((s for s in row.samples if s.timeline is not None), None)
        if first is not None and first.timeline is not None:
            png = args.plots / f"failover-{row.case}.png"
            failover_plot.draw(row.case, first.timeline, png, pause_s=first.pause_s, errors=first.errors)
            print(f"drew {png}")
    bad = [r for r in summary if r["errors"] or r["mismatches"]]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
