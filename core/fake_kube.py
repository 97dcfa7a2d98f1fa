"""An in-memory :class:`~nearpath.core.kube.KubeApi` for unit tests.

It keeps the semantics components depend on, the ones a naive mock lacks:

- ``resourceVersion`` changes on every write; a patch with a stale one raises ``Conflict``;
- ``metadata.generation`` changes only when ``spec`` changes;
- the status subresource: create and patch ignore ``status``; only
  :meth:`apply_volume_group_status` writes it, as server-side apply does: each field manager
  owns the top-level status fields and the list-map entries (keyed as the CRD declares) it
  applied, and a later apply by the same manager drops what it no longer lists;
- finalizers: deletion sets ``deletionTimestamp`` and the object goes when the last
  finalizer is removed;
- watch events with resource versions, blocking up to a timeout.

It is not a Kubernetes emulator: no RBAC, no CEL, no garbage collection (the control-plane
tier covers those against a real API server).
"""

from __future__ import annotations

import base64
import copy
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from nearpath.core.api import API_VERSION, KIND, VolumeGroupStatus
from nearpath.core.clock import rfc3339, utc_now
from nearpath.core.errors import AlreadyExists, Conflict, NearpathError, NotFound
from nearpath.core.kube import Obj

STATUS_LIST_KEYS = VolumeGroupStatus.list_map_keys()
"""List-map keys of the VolumeGroup status (wire name -> key), as the model (and so the CRD) declares them."""


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


@dataclass
class _Stored:
    obj: Obj
    owners: dict[str, set[tuple[str, str | None]]] = field(default_factory=dict)
    """field manager -> owned (status field, list-map key or None for the whole field)."""


@dataclass
class FakeKube:
    clock: Callable[[], datetime] = utc_now
    events: list[dict[str, str]] = field(default_factory=list)
    status_writes: list[tuple[str, str]] = field(default_factory=list)
    """(object key, field manager) of every status apply, in order."""
    _objects: dict[tuple[str, str], _Stored] = field(default_factory=dict)
    _secrets: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict)
    _leases: dict[tuple[str, str], Obj] = field(default_factory=dict)
    _nodes: dict[str, Obj] = field(default_factory=dict)
    _log: list[tuple[int, str, Obj]] = field(default_factory=list)
    _rv: int = 0
    _lease_rv: int = 0
    _cond: threading.Condition = field(default_factory=threading.Condition)
    _failures: dict[str, list[NearpathError]] = field(default_factory=dict)

    # test helpers ------------------------------------------------------------------------
    def fail_next(self, method: str, error: NearpathError) -> None:
        """Make the next call of ``method`` raise ``error`` (fault injection)."""
        self._failures.setdefault(method, []).append(error)

    def set_secret(self, namespace: str, name: str, data: dict[str, str]) -> None:
        self._secrets[(namespace, name)] = dict(data)

    def delete_secret(self, namespace: str, name: str) -> None:
        self._secrets.pop((namespace, name), None)

    def add_node(self, name: str, labels: dict[str, str] | None = None) -> None:
        self._nodes[name] = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": labels or {}}}

    def remove_node(self, name: str) -> None:
        self._nodes.pop(name, None)

    def expire_lease(self, namespace: str, name: str) -> None:
        """Age a Lease's renewTime far into the past (a dead holder)."""
        lease = self._leases.get((namespace, name))
        if lease is not None:
            lease["spec"]["renewTime"] = "2000-01-01T00:00:00.000000Z"

    def managers(self, namespace: str, name: str) -> dict[str, set[tuple[str, str | None]]]:
        return copy.deepcopy(self._stored(namespace, name).owners)

    # internals ---------------------------------------------------------------------------
    def _check_failure(self, method: str) -> None:
        pending = self._failures.get(method)
        if pending:
            raise pending.pop(0)

    def _bump(self, event: str, obj: Obj) -> None:
        self._rv += 1
        obj["metadata"]["resourceVersion"] = str(self._rv)
        self._log.append((self._rv, event, copy.deepcopy(obj)))
        self._cond.notify_all()

    def _stored(self, namespace: str, name: str) -> _Stored:
        stored = self._objects.get((namespace, name))
        if stored is None:
            raise NotFound(f"VolumeGroup {namespace}/{name} not found")
        return stored

    # VolumeGroups ------------------------------------------------------------------------
    def get_volume_group(self, namespace: str, name: str) -> Obj | None:
        self._check_failure("get_volume_group")
        stored = self._objects.get((namespace, name))
        return copy.deepcopy(stored.obj) if stored else None

    def list_volume_groups(self, namespace: str | None = None) -> list[Obj]:
        self._check_failure("list_volume_groups")
        return [
            copy.deepcopy(s.obj) for (ns, _), s in sorted(self._objects.items()) if namespace is None or ns == namespace
        ]

    def create_volume_group(self, body: Obj) -> Obj:
        self._check_failure("create_volume_group")
        with self._cond:
            meta = body.get("metadata", {})
            key = (meta.get("namespace", "default"), meta["name"])
            if key in self._objects:
                raise AlreadyExists(f"VolumeGroup {key[0]}/{key[1]} already exists")
            obj = copy.deepcopy({k: v for k, v in body.items() if k != "status"})
            obj.setdefault("apiVersion", API_VERSION)
            obj.setdefault("kind", KIND)
            obj["metadata"] = {
                **copy.deepcopy(meta),
                "namespace": key[0],
                "uid": str(uuid.uuid4()),
                "generation": 1,
                "creationTimestamp": rfc3339(self.clock()),
            }
            self._objects[key] = _Stored(obj)
            self._bump("ADDED", obj)
            return copy.deepcopy(obj)

    def patch_volume_group(self, namespace: str, name: str, patch: Obj, resource_version: str | None = None) -> Obj:
        self._check_failure("patch_volume_group")
        with self._cond:
            stored = self._stored(namespace, name)
            obj = stored.obj
            if resource_version is not None and resource_version != obj["metadata"]["resourceVersion"]:
                raise Conflict(f"VolumeGroup {namespace}/{name} changed concurrently")
            meta_patch = {
                k: v for k, v in patch.get("metadata", {}).items() if k in ("labels", "annotations", "finalizers")
            }
            new_meta = merge_patch(obj["metadata"], meta_patch)
            new_spec = merge_patch(obj.get("spec", {}), patch["spec"]) if "spec" in patch else obj.get("spec", {})
            if new_spec != obj.get("spec"):
                new_meta["generation"] = obj["metadata"]["generation"] + 1
            obj["metadata"] = new_meta
            obj["spec"] = new_spec
            if obj["metadata"].get("deletionTimestamp") and not obj["metadata"].get("finalizers"):
                del self._objects[(namespace, name)]
                self._bump("DELETED", obj)
            else:
                self._bump("MODIFIED", obj)
            return copy.deepcopy(obj)

    def delete_volume_group(self, namespace: str, name: str) -> bool:
        self._check_failure("delete_volume_group")
        with self._cond:
            stored = self._objects.get((namespace, name))
            if stored is None:
                return False
            obj = stored.obj
            if obj["metadata"].get("finalizers"):
                if not obj["metadata"].get("deletionTimestamp"):
                    obj["metadata"]["deletionTimestamp"] = rfc3339(self.clock())
                    self._bump("MODIFIED", obj)
            else:
                del self._objects[(namespace, name)]
                self._bump("DELETED", obj)
            return True

    def apply_volume_group_status(self, namespace: str, name: str, status: Obj, field_manager: str) -> Obj:
        self._check_failure("apply_volume_group_status")
        with self._cond:
            stored = self._stored(namespace, name)
            current: Obj = copy.deepcopy(stored.obj.get("status", {}))
            previous = stored.owners.get(field_manager, set())
            owned: set[tuple[str, str | None]] = set()
            for key, value in status.items():
                list_key = STATUS_LIST_KEYS.get(key)
                if list_key is not None and isinstance(value, list):
                    entries = {e[list_key]: e for e in current.get(key, [])}
                    for entry in value:
                        entries[entry[list_key]] = copy.deepcopy(entry)
                        owned.add((key, entry[list_key]))
                    current[key] = list(entries.values())
                else:
                    current[key] = copy.deepcopy(value)
                    owned.add((key, None))
            for key, entry_key in previous - owned:
                if entry_key is None:
                    current.pop(key, None)
                else:
                    list_key = STATUS_LIST_KEYS[key]
                    current[key] = [e for e in current.get(key, []) if e[list_key] != entry_key]
            for other, other_owned in stored.owners.items():
                if other != field_manager:
                    other_owned -= {(k, None) for k, e in owned if e is None}
            stored.owners[field_manager] = owned
            stored.obj["status"] = {k: v for k, v in current.items() if v != [] or k in status}
            self.status_writes.append((f"{namespace}/{name}", field_manager))
            self._bump("MODIFIED", stored.obj)
            return copy.deepcopy(stored.obj)

    def watch_volume_groups(
        self, namespace: str | None = None, resource_version: str | None = None, timeout_seconds: int = 30
    ) -> Iterator[tuple[str, Obj]]:
        deadline = self.clock().timestamp() + timeout_seconds
        if resource_version is None:
            with self._cond:
                since = self._rv
                initial = self.list_volume_groups(namespace)
            for obj in initial:
                yield "ADDED", obj
        else:
            since = int(resource_version)
        while True:
            with self._cond:
                pending = [
                    (rv, ev, obj)
                    for rv, ev, obj in self._log
                    if rv > since and (namespace is None or obj["metadata"]["namespace"] == namespace)
                ]
                if not pending:
                    remaining = deadline - self.clock().timestamp()
                    if remaining <= 0:
                        return
                    self._cond.wait(timeout=min(remaining, 0.5))
                    continue
            for rv, ev, obj in pending:
                since = rv
                yield ev, copy.deepcopy(obj)

    # Secrets -----------------------------------------------------------------------------
    def read_secret(self, namespace: str, name: str) -> dict[str, str] | None:
        self._check_failure("read_secret")
        data = self._secrets.get((namespace, name))
        return dict(data) if data is not None else None

    def secret_object(self, namespace: str, name: str) -> Obj | None:
        """The Secret in wire form (base64 data), for code that wants the raw object."""
        data = self._secrets.get((namespace, name))
        if data is None:
            return None
        return {
            "metadata": {"name": name, "namespace": namespace},
            "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()},
        }

    # Leases ------------------------------------------------------------------------------
    def get_lease(self, namespace: str, name: str) -> Obj | None:
        self._check_failure("get_lease")
        lease = self._leases.get((namespace, name))
        return copy.deepcopy(lease) if lease else None

    def list_leases(self, namespace: str, label_selector: str | None = None) -> list[Obj]:
        self._check_failure("list_leases")
        wanted = _parse_selector(label_selector)
        return [
            copy.deepcopy(lease)
            for (ns, _), lease in sorted(self._leases.items())
            if ns == namespace and all(lease["metadata"]["labels"].get(k) == v for k, v in wanted.items())
        ]

    def apply_lease(
        self,
        namespace: str,
        name: str,
        holder: str,
        duration_seconds: int,
        labels: dict[str, str] | None = None,
        field_manager: str = "nearpath",
        timeout_seconds: float | None = None,
    ) -> Obj:
        self._check_failure("apply_lease")
        spec = {"holderIdentity": holder, "leaseDurationSeconds": duration_seconds, "renewTime": rfc3339(self.clock())}
        return self._store_lease(namespace, name, spec, labels)

    def update_lease(
        self,
        namespace: str,
        name: str,
        spec: Obj,
        resource_version: str | None,
        labels: dict[str, str] | None = None,
    ) -> Obj:
        self._check_failure("update_lease")
        current = self._leases.get((namespace, name))
        if resource_version is None and current is not None:
            raise Conflict(f"Lease {namespace}/{name} was created concurrently")
        if (
            resource_version is not None
            and current is not None
            and current["metadata"].get("resourceVersion") != resource_version
        ):
            raise Conflict(f"Lease {namespace}/{name} changed concurrently")
        return self._store_lease(namespace, name, spec, labels)

    def _store_lease(self, namespace: str, name: str, spec: Obj, labels: dict[str, str] | None) -> Obj:
        """Write a whole Lease with a new resourceVersion; the caller's spec is copied."""
        self._lease_rv += 1
        lease: Obj = {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {
                "name": name,
                "namespace": namespace,
                "labels": dict(labels or {}),
                "resourceVersion": str(self._lease_rv),
            },
            "spec": copy.deepcopy(spec),
        }
        self._leases[(namespace, name)] = lease
        return copy.deepcopy(lease)

    # Nodes and events --------------------------------------------------------------------
    def list_nodes(self, label_selector: str | None = None) -> list[Obj]:
        wanted = _parse_selector(label_selector)
        return [
            copy.deepcopy(node)
            for _, node in sorted(self._nodes.items())
            if all(node["metadata"]["labels"].get(k) == v for k, v in wanted.items())
        ]

    def get_node(self, name: str) -> Obj | None:
        node = self._nodes.get(name)
        return copy.deepcopy(node) if node is not None else None

    def annotate_node(self, name: str, annotations: dict[str, str]) -> Obj:
        self._check_failure("annotate_node")
        node = self._nodes.get(name)
        if node is None:
            raise NotFound(f"Node {name} not found")
        node["metadata"].setdefault("annotations", {}).update(annotations)
        return copy.deepcopy(node)

    def emit_event(
        self, involved: Obj, reason: str, message: str, type_: str = "Normal", component: str = "nearpath"
    ) -> None:
        meta = involved.get("metadata", {})
        self.events.append(
            {
                "object": f"{meta.get('namespace')}/{meta.get('name')}",
                "reason": reason,
                "message": message,
                "type": type_,
                "component": component,
            }
        )


def _parse_selector(selector: str | None) -> dict[str, str]:
    if not selector:
        return {}
    out = {}
    for part in selector.split(","):
        key, _, value = part.partition("=")
        out[key.strip()] = value.strip()
    return out
