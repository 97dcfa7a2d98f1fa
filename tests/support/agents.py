"""Fake target agents for operator and CSI tests and benchmarks: they write what the real agent writes.

Per node N (through any :class:`~nearpath.core.kube.KubeApi`):

- a Lease ``nearpath-target-N`` in the lease namespace (labels role=target, node=N), renewed by
  :meth:`FakeAgents.heartbeat`;
- for every VolumeGroup, what the real agent owes it (:meth:`VolumeGroup.agent_duty`, the same
  predicate): the assigned ALUA state and port group, ``ready`` and the current
  ``observedGeneration`` while N is assigned (a deletion request alone changes nothing);
  ``devicesPresent`` and ``ready: false`` while placement allows N but it is not assigned; no
  entry otherwise. Entries are :class:`~nearpath.core.api.TargetStatus` on the wire, applied on
  /status with N's field manager. ``tests/unit/test_agents_contract.py`` runs the same
  scenarios against these fakes and the real :class:`~nearpath.target.agent.TargetAgent`.

Dead nodes (:meth:`kill`) neither renew nor write, like a powered-off node.
"""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from nearpath.core.api import AgentDuty, TargetStatus, VolumeGroup, parse_volume_group
from nearpath.core.clock import now_rfc3339
from nearpath.core.contract import (
    ISCSI_PORT,
    LEASE_NAMESPACE,
    target_field_manager,
    target_lease_labels,
    target_lease_name,
)
from nearpath.core.errors import NearpathError
from nearpath.core.kube import KubeApi, Obj

NOT_ASSIGNED = "not assigned to this node"


class FakeAgents:
    def __init__(
        self,
        kube: KubeApi,
        nodes: Iterable[str],
        lease_namespace: str = LEASE_NAMESPACE,
        lease_seconds: int = 10,
        labels: dict[str, dict[str, str]] | None = None,
        threads: int = 1,
        portals: dict[str, str] | None = None,
    ) -> None:
        self.kube = kube
        self.nodes = list(nodes)
        self.dead: set[str] = set()
        self.lease_namespace = lease_namespace
        self.lease_seconds = lease_seconds
        self.labels = labels or {}
        self.writes = 0
        self.threads = threads
        self.portals = portals or {}
        """node -> portal (ip:port) of its target (default 127.0.0.1 and the iSCSI port)."""

    def kill(self, node: str) -> None:
        self.dead.add(node)

    def revive(self, node: str) -> None:
        self.dead.discard(node)

    def alive(self) -> list[str]:
        return [n for n in self.nodes if n not in self.dead]

    def heartbeat(self) -> None:
        for node in self.alive():
            self.kube.apply_lease(
                self.lease_namespace,
                target_lease_name(node),
                node,
                self.lease_seconds,
                labels=target_lease_labels(node),
                field_manager=target_field_manager(node),
            )

    def portal(self, node: str) -> str:
        return self.portals.get(node, f"127.0.0.1:{ISCSI_PORT}")

    def desired_entry(self, vg: VolumeGroup, node: str) -> dict[str, Any]:
        """The entry node's agent writes for ``vg`` on the wire ({}: no entry)."""
        duty = vg.agent_duty(node, self.labels.get(node, {}))
        if duty is AgentDuty.NOTHING:
            return {}
        entry = TargetStatus(
            node=node,
            iqn=vg.target_iqn(node),
            portals=[self.portal(node)],
            devices_present=True,
            observed_generation=vg.metadata.generation,
        )
        assignment = vg.status.assignment(node)
        if duty is AgentDuty.REPORT or assignment is None:
            entry = entry.model_copy(update={"message": NOT_ASSIGNED})
        else:
            entry = entry.model_copy(
                update={"alua_state": assignment.alua_state, "port_group_id": assignment.port_group_id, "ready": True}
            )
        return entry.to_wire()

    def _sync_one(self, obj: Obj) -> int:
        try:
            vg = parse_volume_group(obj)
        except NearpathError:
            return 0  # the real agent leaves what serves an invalid group alone
        writes = 0
        current = {t.get("node"): t for t in (obj.get("status") or {}).get("targets") or []}
        for node in self.alive():
            wanted = self.desired_entry(vg, node)
            have = current.get(node)
            if wanted == {} and have is None:
                continue
            if wanted and have is not None and all(have.get(k) == v for k, v in wanted.items()):
                continue
            if wanted:
                wanted["lastUpdateTime"] = now_rfc3339()
            body = {"targets": [wanted]} if wanted else {"targets": []}
            try:
                self.kube.apply_volume_group_status(
                    vg.metadata.namespace, vg.metadata.name, body, target_field_manager(node)
                )
            except NearpathError:  # the group may be gone meanwhile
                continue
            writes += 1
        return writes

    def sync(self, objects: list[Obj] | None = None) -> int:
        """One pass over every VolumeGroup; return the number of status writes."""
        objs = objects if objects is not None else self.kube.list_volume_groups()
        if self.threads <= 1:
            count = sum(self._sync_one(o) for o in objs)
        else:
            with ThreadPoolExecutor(self.threads) as pool:
                count = sum(pool.map(self._sync_one, objs))
        self.writes += count
        return count
