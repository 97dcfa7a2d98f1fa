"""``nearpath preflight``: check this host for everything nearpath's data path needs.

Prints one line per check (what is missing and how to fix it) and exits 1 when a check fails
(with ``--strict`` also on warnings). In the chart it is the init container of the target and
CSI node DaemonSets (``--report-node``: the result lands on the Node as an annotation and an
Event); on a host it runs standalone.
"""

from __future__ import annotations

import argparse
import json
import logging
import socket
import sys
from typing import Any

from nearpath.core.errors import NearpathError
from nearpath.core.logging import configure
from nearpath.core.runner import HostRunner, Runner
from nearpath.preflight.checks import run_checks
from nearpath.preflight.checks_initiator import PeerInitiator, initiator_name
from nearpath.preflight.facts import HostFacts, gather
from nearpath.preflight.hostexec import HostNamespaceRunner
from nearpath.preflight.model import Report, Role, Status, warned
from nearpath.preflight.settings import PreflightSettings

log = logging.getLogger("nearpath.preflight")


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="nearpath preflight", description=__doc__)
    parser.add_argument("--role", choices=[r.value for r in Role], help="target, node or all (default)")
    parser.add_argument("--node-name", help="this node's Kubernetes name (default: host name)")
    parser.add_argument("--host-proc", help="run commands in the namespaces of PID 1 of this /proc")
    parser.add_argument("--report-node", action="store_true", default=None, help="annotate the Node, emit an Event")
    parser.add_argument("--strict", action="store_true", default=None, help="fail on warnings too")
    parser.add_argument("--no-load-modules", dest="load_modules", action="store_false", default=None)
    parser.add_argument("--report-only", dest="enforce", action="store_false", default=None, help="always exit 0")
    parser.add_argument("--kubeconfig", help="kubeconfig path (default: in-cluster)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--log-level", choices=["debug", "info", "warning", "error"])
    return parser.parse_args(argv)


def host_runner(settings: PreflightSettings) -> Runner:
    runner = HostRunner()
    return HostNamespaceRunner(runner, settings.host_proc) if settings.host_proc else runner


def build_report(runner: Runner, settings: PreflightSettings) -> tuple[Report, HostFacts]:
    role = Role(settings.role)
    facts = gather(runner, role, load_modules=settings.load_modules, timeout=settings.command_timeout_seconds)
    node = settings.node_name or socket.gethostname()
    return Report(node, role, tuple(run_checks(facts, role))), facts


def cluster_checks(settings: PreflightSettings, report: Report, facts: HostFacts) -> Report:
    """Compare the initiator name with other Nodes and put the result on this Node."""
    from nearpath.core.kube import ClusterKube  # noqa: PLC0415 (standalone runs need no cluster)
    from nearpath.preflight.node_report import check_against_peers, publish  # noqa: PLC0415

    try:
        kube = ClusterKube(settings.kubeconfig)
        name = initiator_name(facts) if report.role.includes(Role.NODE) else None
        own = {r.name: r.status for r in report.results}
        if name and own.get("initiator name") is Status.PASS:
            boot_id = facts["boot_id"].stdout.strip()
            report = report.with_results([check_against_peers(kube, PeerInitiator(report.node, name, boot_id))])
        publish(kube, report, settings.strict)
    except NearpathError as exc:
        log.error("could not report to the Node", extra={"node": report.node, "error": str(exc)})
        report = report.with_results(
            [warned("node report", f"could not write to Node {report.node}: {exc}", "check the ServiceAccount's RBAC")]
        )
    return report


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    overrides: dict[str, Any] = {
        k: v for k, v in vars(args).items() if v is not None and k in PreflightSettings.model_fields
    }
    settings = PreflightSettings(**overrides)
    configure(settings.log_level, settings.log_format)
    report, facts = build_report(host_runner(settings), settings)
    if settings.report_node:
        report = cluster_checks(settings, report, facts)
    if args.json:
        sys.stdout.write(json.dumps(report.to_dict(), indent=2) + "\n")
    else:
        sys.stdout.write(report.text())
    return 1 if settings.enforce and report.problems(settings.strict) else 0
