"""Fake target agents for operator tests and benchmarks: they write what the real agent writes.

Per node N (through any :class:`~nearpath.core.kube.KubeApi`):

- a Lease ``nearpath-target-N`` in the lease namespace (labels role=target, node=N), renewed by
  :meth:`FakeAgents.heartbeat`;
- for every VolumeGroup whose placement allows N, the ``targets`` entry of N, by server-side apply
  on /status with the field manager ``nearpath-target/N``: ``devicesPresent`` true and
  ``ready`` false before N is assigned; the assigned ALUA state and port group, ``ready`` true and
  the current ``observedGeneration`` once assigned; ``{"targets": []}`` when N is no longer
  assigned of a deleted group (the agent removed its LIO objects).

Dead nodes (:meth:`kill`) neither renew nor write, like a powered-off node.
"""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from nearpath.core.clock import now_rfc3339
from nearpath.core.contract import (
    LEASE_NAMESPACE,
    target_field_manager,
    target_iqn,
    target_lease_labels,
    target_lease_name,
)
from nearpath.core.kube import KubeApi, Obj


class FakeAgents:
    def __init__(
        self,
        kube: KubeApi,
        nodes: Iterable[str],
        lease_namespace: str = LEASE_NAMESPACE,
        lease_seconds: int = 10,
        labels: dict[str, dict[str, str]] | None = None,
        threads: int = 1,
    ) -> None:
        self.kube = kube
        self.nodes = list(nodes)
        self.dead: set[str] = set()
        self.lease_namespace = lease_namespace
        self.lease_seconds = lease_seconds
        self.labels = labels or {}
        self.writes = 0
        self.threads = threads

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

    def desired_entry(self, obj: Obj, node: str) -> dict[str, Any] | None:
        """The entry node's agent writes for ``obj`` ({} = drop it, None = not its business)."""
        spec = obj.get("spec") or {}
        status = obj.get("status") or {}
        placement = spec.get("placement") or {}
        if placement.get("nodes") is not None and node not in placement["nodes"]:
            return {}
        selector = placement.get("nodeSelector") or {}
        if any(self.labels.get(node, {}).get(k) != v for k, v in selector.items()):
            return {}
        assignment = next((a for a in status.get("assignments") or [] if a.get("node") == node), None)
        meta = obj["metadata"]
        if assignment is None:
            if meta.get("deletionTimestamp"):
                return {}
            return {"node": node, "devicesPresent": True, "ready": False, "observedGeneration": meta["generation"]}
        return {
            "node": node,
            "iqn": target_iqn(meta["namespace"], meta["name"], node),
            "portals": ["127.0.0.1:3260"],
            "aluaState": assignment["aluaState"],
            "portGroupId": assignment["portGroupId"],
            "devicesPresent": True,
            "ready": True,
            "observedGeneration": meta["generation"],
        }

    def _sync_one(self, obj: Obj) -> int:
        writes = 0
        current = {t.get("node"): t for t in (obj.get("status") or {}).get("targets") or []}
        meta = obj["metadata"]
        for node in self.alive():
            wanted = self.desired_entry(obj, node)
            if wanted is None:
                continue
            have = current.get(node)
            if wanted == {} and have is None:
                continue
            if wanted and have is not None and all(have.get(k) == v for k, v in wanted.items()):
                continue
            body = {"targets": [{**wanted, "lastUpdateTime": now_rfc3339()}]} if wanted else {"targets": []}
            try:
                self.kube.apply_volume_group_status(meta["namespace"], meta["name"], body, target_field_manager(node))
            except Exception:  # the group may be gone meanwhile
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
