"""The node-level report: annotations on the Node and an Event ``kubectl describe node`` shows.

The node role also publishes its initiator name and kernel boot id, then compares them with
the other Nodes' (a duplicate initiator name across machines is a classic outage).
"""

from __future__ import annotations

import json
import logging

from nearpath.core import contract
from nearpath.core.clock import now_rfc3339
from nearpath.core.errors import NearpathError
from nearpath.core.kube import KubeApi, Obj
from nearpath.preflight.checks_initiator import PeerInitiator, check_unique_initiator
from nearpath.preflight.model import CheckResult, Report, Status

log = logging.getLogger("nearpath.preflight")


def status_annotation(report: Report) -> str:
    return f"{contract.PREFLIGHT_ANNOTATION_PREFIX}{report.role.value}"


def peers(nodes: list[Obj]) -> list[PeerInitiator]:
    out = []
    for node in nodes:
        meta = node.get("metadata", {})
        annotations = meta.get("annotations") or {}
        initiator = annotations.get(contract.INITIATOR_NAME_ANNOTATION)
        if initiator:
            boot_id = annotations.get(contract.BOOT_ID_ANNOTATION, "")
            out.append(PeerInitiator(meta.get("name", ""), initiator, boot_id))
    return out


def check_against_peers(kube: KubeApi, me: PeerInitiator) -> CheckResult:
    """Publish this node's initiator name, then look for it on other Nodes."""
    kube.annotate_node(
        me.node, {contract.INITIATOR_NAME_ANNOTATION: me.initiator, contract.BOOT_ID_ANNOTATION: me.boot_id}
    )
    return check_unique_initiator(me, peers(kube.list_nodes()))


def publish(kube: KubeApi, report: Report, strict: bool) -> None:
    """Write the summary annotation and emit an Event on the Node (best effort for the Event)."""
    summary = {
        "status": report.status().value,
        "time": now_rfc3339(),
        "failed": [r.name for r in report.results if r.status is Status.FAIL],
        "warned": [r.name for r in report.results if r.status is Status.WARN],
    }
    node = kube.annotate_node(report.node, {status_annotation(report): json.dumps(summary, sort_keys=True)})
    problems = report.problems(strict)
    if problems:
        reason, type_ = "PreflightFailed", "Warning"
        message = "; ".join(f"{r.name}: {r.message} (fix: {r.fix})" for r in problems)
    else:
        reason, type_ = "PreflightPassed", "Normal"
        message = f"{report.role.value}: {report.summary()}"
    try:
        kube.emit_event(node, reason, message, type_=type_, component=contract.PREFLIGHT_EVENT_COMPONENT)
    except NearpathError as exc:
        log.warning("could not emit the preflight event", extra={"error": str(exc)})
