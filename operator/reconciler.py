"""One VolumeGroup reconcile: latest object in, decision, status apply, events, finalizer (sync I/O).

The :class:`Reconciler` keeps the newest version of every VolumeGroup it was shown (the kopf
watch feeds it, status apply responses refresh it) and the node health tracker. ``reconcile``
reads only that in-memory state, asks :func:`nearpath.operator.decisions.decide`, and writes:

- the finalizer ``nearpath.io/targets`` (merge patch guarded by resourceVersion) before the
  first assignment, and its removal once every target is gone;
- the operator's part of the status by server-side apply on ``/status`` with the field
  manager ``nearpath-operator`` -- only when it differs from what is stored;
- the decision's events, after the status that records them was written.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

from nearpath.core.api import ConditionStatus, VolumeGroupStatus, parse_volume_group
from nearpath.core.clock import rfc3339, utc_now
from nearpath.core.contract import FINALIZER, OPERATOR_EVENT_COMPONENT, OPERATOR_FIELD_MANAGER
from nearpath.core.errors import Aborted, Conflict, InvalidSpec, NotFound
from nearpath.core.kube import KubeApi, Obj
from nearpath.operator.decisions import Decision, Policy, decide
from nearpath.operator.health import LeaseTracker
from nearpath.operator.metrics import OperatorMetrics

log = logging.getLogger("nearpath.operator")

OPERATOR_FIELDS = ("observedGeneration", "conditions", "optimizedNode", "failedOverFrom", "disks", "assignments")
PATCH_ATTEMPTS = 3


def object_key(obj: Mapping[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    return f"{meta.get('namespace', '')}/{meta.get('name', '')}"


def _rv(obj: Mapping[str, Any]) -> int:
    try:
        return int((obj.get("metadata") or {}).get("resourceVersion", "0"))
    except ValueError:
        return 0


def operator_part(status: Mapping[str, Any] | None) -> dict[str, Any]:
    """The operator-owned fields of a stored status, normalised like the decision's wire form."""
    if not status:
        return {}
    try:
        wire = VolumeGroupStatus.model_validate(dict(status)).to_wire()
    except ValueError:
        return {"invalid": True}
    return {k: wire[k] for k in OPERATOR_FIELDS if k in wire and wire[k] != []}


class Reconciler:
    def __init__(
        self,
        kube: KubeApi,
        policy: Policy,
        metrics: OperatorMetrics,
        tracker: LeaseTracker | None = None,
        clock: Callable[[], datetime] = utc_now,
        monotonic: Callable[[], float] = time.monotonic,
        may_write: Callable[[], bool] = lambda: True,
    ) -> None:
        self.kube = kube
        self.policy = policy
        self.metrics = metrics
        self.tracker = tracker or LeaseTracker()
        self.clock = clock
        self.monotonic = monotonic
        self.may_write = may_write
        """False once this replica's leadership ran out: it then writes nothing (write fencing)."""
        """The clock Lease expiry is measured on (the operator's own; never compared with the agents')."""
        self._objects: dict[str, Obj] = {}
        self._lock = threading.Lock()
        self._pending_since: dict[str, float] = {}

    # -- state fed from outside ------------------------------------------------------------
    def observe(self, event_type: str | None, obj: Obj) -> str:
        """Record a watch event (type None: initial listing); return the object's key."""
        key = object_key(obj)
        with self._lock:
            if event_type == "DELETED":
                self._objects.pop(key, None)
            else:
                self._store(key, obj)
        return key

    def _store(self, key: str, obj: Obj) -> None:
        old = self._objects.get(key)
        if old is None or _rv(obj) >= _rv(old) or (old.get("metadata") or {}).get("uid") != obj["metadata"].get("uid"):
            self._objects[key] = obj

    def object_keys(self) -> list[str]:
        with self._lock:
            return list(self._objects)

    def get(self, key: str) -> Obj | None:
        with self._lock:
            return self._objects.get(key)

    def observe_leases(self, leases: Iterable[Mapping[str, Any]]) -> set[str]:
        with self._lock:
            return self.tracker.observe(leases, self.monotonic())

    def tick_health(self) -> set[str]:
        """Nodes whose Lease ran out since the last listing (no API call)."""
        with self._lock:
            return self.tracker.tick(self.monotonic())

    def observe_nodes(self, nodes: Iterable[Mapping[str, Any]]) -> set[str]:
        with self._lock:
            return self.tracker.set_labels(nodes)

    def keys_for_nodes(self, nodes: set[str]) -> list[str]:
        """VolumeGroups whose decision may depend on ``nodes`` (assigned, reporting or named)."""
        if not nodes:
            return []
        out = []
        with self._lock:
            for key, obj in self._objects.items():
                status = obj.get("status") or {}
                named = {a.get("node") for a in status.get("assignments") or []}
                named |= {t.get("node") for t in status.get("targets") or []}
                named |= set(((obj.get("spec") or {}).get("placement") or {}).get("nodes") or [])
                if named & nodes:
                    out.append(key)
        return out

    # -- reconcile ---------------------------------------------------------------------------
    def reconcile(self, key: str) -> float | None:
        """Bring one VolumeGroup's operator status up to date; return seconds until it is due again."""
        started = time.monotonic()
        try:
            return self._reconcile(key)
        finally:
            self.metrics.reconcile_duration.observe(time.monotonic() - started)

    def _reconcile(self, key: str) -> float | None:
        obj = self.get(key)
        if obj is None:
            self.metrics.forget(key)
            self._pending_since.pop(key, None)
            return None
        meta = obj["metadata"]
        finalizers = list(meta.get("finalizers") or [])
        deleting = bool(meta.get("deletionTimestamp"))
        if deleting and FINALIZER not in finalizers:
            return None  # our work for it is done; the API server removes it
        if not deleting and FINALIZER not in finalizers:
            obj = self._patch_finalizers(obj, add=True)
            if obj is None:
                return None
        try:
            vg = parse_volume_group(obj)
        except InvalidSpec as exc:
            self._write_invalid(obj, exc)
            return None
        with self._lock:
            now = self.clock()
            health = self.tracker.snapshot(self.monotonic(), now)
        decision = decide(vg, health, self.policy, now)
        stored = operator_part(obj.get("status"))
        wanted = {k: v for k, v in decision.status.items() if v != []}
        if stored != wanted:
            if stored.get("assignments") != wanted.get("assignments"):
                self._pending_since.setdefault(key, time.monotonic())
            namespace, name = meta["namespace"], meta["name"]
            self._check_leadership(key)
            updated = self.kube.apply_volume_group_status(namespace, name, decision.status, OPERATOR_FIELD_MANAGER)
            with self._lock:
                self._store(key, updated)
            self._emit(obj, decision)
        self._record(key, decision)
        if decision.release_finalizer:
            self._patch_finalizers(self.get(key) or obj, add=False)
            return None
        return decision.requeue_after

    def _check_leadership(self, key: str) -> None:
        if not self.may_write():
            raise Aborted(f"not writing VolumeGroup {key}: this operator replica no longer holds the leader Lease")

    def _record(self, key: str, decision: Decision) -> None:
        self.metrics.set_conditions(key, {c.type: c.status.value for c in decision.conditions})
        if decision.converged and key in self._pending_since:
            self.metrics.converge_duration.observe(time.monotonic() - self._pending_since.pop(key))

    def _emit(self, obj: Obj, decision: Decision) -> None:
        for event in decision.events:
            if event.failover_reason:
                self.metrics.failovers.labels(event.failover_reason).inc()
            log.info(
                event.message,
                extra={"vg": object_key(obj), "reason": event.reason, "decision_seconds": event.decision_seconds},
            )
            self.kube.emit_event(obj, event.reason, event.message, event.type_, component=OPERATOR_EVENT_COMPONENT)

    def _write_invalid(self, obj: Obj, exc: InvalidSpec) -> None:
        meta = obj["metadata"]
        previous = (obj.get("status") or {}).get("conditions") or []
        message = f"invalid spec: {exc.message}"[:4000]
        if any(c.get("type") == "Ready" and c.get("message") == message for c in previous):
            return
        stamp = rfc3339(self.clock(), "seconds")
        condition = {
            "type": "Ready",
            "status": ConditionStatus.FALSE.value,
            "reason": "InvalidSpec",
            "message": message,
            "lastTransitionTime": stamp,
            "observedGeneration": meta.get("generation", 0),
        }
        status = {"observedGeneration": meta.get("generation", 0), "conditions": [condition]}
        self._check_leadership(object_key(obj))
        updated = self.kube.apply_volume_group_status(meta["namespace"], meta["name"], status, OPERATOR_FIELD_MANAGER)
        with self._lock:
            self._store(object_key(obj), updated)
        self.kube.emit_event(obj, "InvalidSpec", message, "Warning", component=OPERATOR_EVENT_COMPONENT)

    def _patch_finalizers(self, obj: Obj, *, add: bool) -> Obj | None:
        """Add or remove our finalizer, guarded by resourceVersion (re-read on Conflict)."""
        key = object_key(obj)
        namespace, name = obj["metadata"]["namespace"], obj["metadata"]["name"]
        current: Obj | None = obj
        for _ in range(PATCH_ATTEMPTS):
            if current is None:
                return None
            finalizers = list(current["metadata"].get("finalizers") or [])
            if add == (FINALIZER in finalizers):
                return current
            wanted = [*finalizers, FINALIZER] if add else [f for f in finalizers if f != FINALIZER]
            self._check_leadership(key)
            try:
                updated = self.kube.patch_volume_group(
                    namespace,
                    name,
                    {"metadata": {"finalizers": wanted}},
                    resource_version=current["metadata"]["resourceVersion"],
                )
            except Conflict:
                current = self.kube.get_volume_group(namespace, name)
                continue
            except NotFound:
                return None
            with self._lock:
                self._store(key, updated)
            if not add:
                log.info("finalizer removed: every target is gone", extra={"vg": key})
            return updated
        raise Conflict(f"VolumeGroup {key} kept changing while updating its finalizers")
