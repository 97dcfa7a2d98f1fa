"""Builders for operator unit tests: VolumeGroups with a given status, node health, time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from nearpath.core.api import VolumeGroup, parse_volume_group
from nearpath.core.clock import rfc3339
from nearpath.operator.decisions import NodeHealth, Policy
from tests.support.manifests import wire

NOW = datetime(2025, 11, 21, 12, 0, 0, tzinfo=UTC)
POLICY = Policy(
    stabilization_window=timedelta(seconds=10),
    failback_delay=timedelta(seconds=30),
    converge_timeout=timedelta(seconds=120),
)
UID = "0f0e0d0c-0b0a-4908-8706-050403020100"


def ago(seconds: float) -> datetime:
    return NOW - timedelta(seconds=seconds)


def up(since: float = 600) -> NodeHealth:
    """Alive, continuously for ``since`` seconds."""
    return NodeHealth(alive=True, alive_since=ago(since))


def down(for_s: float = 2.0) -> NodeHealth:
    """Lease expired ``for_s`` seconds ago."""
    return NodeHealth(alive=False, down_since=ago(for_s))


def assign(node: str, state: str, pg: int) -> dict[str, Any]:
    return {"node": node, "aluaState": state, "portGroupId": pg}


def target(
    node: str,
    state: str | None = None,
    *,
    ready: bool = True,
    devices: bool | None = True,
    gen: int = 1,
    pg: int | None = None,
    message: str = "",
    fenced: bool = False,
) -> dict[str, Any]:
    entry: dict[str, Any] = {"node": node, "ready": ready, "observedGeneration": gen, "message": message}
    if fenced:
        entry["fenced"] = True
    if state is not None:
        entry["aluaState"] = state
    if devices is not None:
        entry["devicesPresent"] = devices
    if pg is not None:
        entry["portGroupId"] = pg
    entry["lastUpdateTime"] = rfc3339(ago(5))
    return entry


AO = "active-optimized"
ANO = "active-non-optimized"
SB = "standby"
UN = "unavailable"


def vg(
    *,
    backing: str = "shared",
    nodes: list[str] | None = None,
    preferred: str | None = None,
    selector: dict[str, str] | None = None,
    assignments: list[dict[str, Any]] | None = None,
    targets: list[dict[str, Any]] | None = None,
    attachments: list[tuple[str, str]] | None = None,
    failed_over_from: str | None = None,
    auto_failback: bool = True,
    non_optimized: str = ANO,
    generation: int = 1,
    deleting: bool = False,
    conditions: list[dict[str, Any]] | None = None,
    optimized: str | None = None,
) -> VolumeGroup:
    placement: dict[str, Any] = {}
    if nodes is not None:
        placement["nodes"] = nodes
    if preferred is not None:
        placement["preferredNode"] = preferred
    if selector is not None:
        placement["nodeSelector"] = selector
    disk: dict[str, Any] = {"name": "data", "size": "1Gi"}
    if backing == "shared":
        disk["source"] = {"path": "/dev/disk/by-id/shared0", "nodePaths": [{"node": "c", "path": "/dev/sdx"}]}
    status: dict[str, Any] = {
        "assignments": assignments or [],
        "targets": targets or [],
        "attachments": [{"initiator": f"iqn.2025-01.io.example:{n}-{i}", "node": n} for n, i in attachments or []],
        "conditions": conditions or [],
    }
    if failed_over_from:
        status["failedOverFrom"] = failed_over_from
    if optimized:
        status["optimizedNode"] = optimized
    meta: dict[str, Any] = {"name": "vg1", "namespace": "ns", "uid": UID, "generation": generation}
    if deleting:
        meta["deletionTimestamp"] = rfc3339(ago(1))
        meta["finalizers"] = ["nearpath.io/targets"]
    spec = {
        "disks": [disk],
        "backing": {"type": backing},
        "placement": placement,
        "failover": {"autoFailback": auto_failback, "nonOptimizedState": non_optimized},
    }
    return parse_volume_group(wire(meta.pop("name"), meta.pop("namespace"), spec, metadata=meta, status=status))
