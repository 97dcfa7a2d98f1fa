"""A stand-in for the nearpath operator (plus the fake agents), for CSI tests without them.

:class:`FakeBackend.reconcile` does, for every VolumeGroup, what the operator would decide once
every node is healthy: the operator's status part (disks, assignments with the preferred node
optimized, Ready, observedGeneration); the nodes' ``targets`` entries then come from
:class:`~tests.support.agents.FakeAgents` (checked against the real agent), with each node's
portal. No LIO is involved.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from nearpath.core.api import parse_volume_group
from nearpath.core.clock import now_rfc3339
from nearpath.core.contract import OPERATOR_FIELD_MANAGER
from nearpath.core.errors import NearpathError
from nearpath.core.kube import KubeApi
from tests.support.agents import FakeAgents


@dataclass
class FakeBackend:
    kube: KubeApi
    portals: dict[str, str]
    """node name -> portal (ip:port) of its target."""
    namespace: str | None = None
    frozen: set[str] = field(default_factory=set)
    """VolumeGroup names left alone (to test timeouts)."""

    def __post_init__(self) -> None:
        self.agents = FakeAgents(self.kube, sorted(self.portals), portals=self.portals)

    def reconcile(self) -> None:
        for obj in self.kube.list_volume_groups(self.namespace):
            if obj["metadata"]["name"] in self.frozen or obj["metadata"].get("deletionTimestamp"):
                continue
            try:
                self._serve(obj)
            except NearpathError:
                continue  # deleted meanwhile, or a conflict: next round

    def _serve(self, obj: dict[str, Any]) -> None:
        vg = parse_volume_group(obj)
        ns, name, gen = vg.metadata.namespace, vg.metadata.name, vg.metadata.generation
        candidates = list(vg.spec.placement.nodes or sorted(self.portals))
        nodes = [n for n in candidates if n in self.portals]
        preferred = vg.spec.placement.preferred_node
        if preferred in nodes:
            nodes.remove(preferred)
            nodes.insert(0, preferred)
        now = now_rfc3339()
        assignments = [
            {
                "node": node,
                "aluaState": "active-optimized" if i == 0 else vg.spec.failover.non_optimized_state.value,
                "portGroupId": 2 + i,
            }
            for i, node in enumerate(nodes)
        ]
        operator = {
            "observedGeneration": gen,
            "optimizedNode": nodes[0] if nodes else None,
            "disks": [d.to_wire() for d in vg.disk_identities()],
            "assignments": assignments,
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True" if nodes else "False",
                    "reason": "TargetsReady" if nodes else "NoNode",
                    "message": "" if nodes else "no allowed node",
                    "lastTransitionTime": now,
                    "observedGeneration": gen,
                }
            ],
        }
        served = self.kube.apply_volume_group_status(
            ns, name, {k: v for k, v in operator.items() if v is not None}, OPERATOR_FIELD_MANAGER
        )
        self.agents.sync([served])


class BackendThread:
    """Runs :meth:`FakeBackend.reconcile` every ``interval`` seconds until stopped."""

    def __init__(self, backend: FakeBackend, interval: float = 0.2) -> None:
        self.backend = backend
        self.interval = interval
        self._stop = threading.Event()
        self.errors: list[str] = []
        self._thread = threading.Thread(target=self._loop, name="fake-backend", daemon=True)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.backend.reconcile()
            except Exception as exc:  # keep serving; a test reports what it saw
                self.errors.append(repr(exc))

    def __enter__(self) -> BackendThread:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
