"""The target agent: VolumeGroups in, converged LIO and per-node status out.

One reconcile pass reads every VolumeGroup, works out per group what this node must serve (the
operator's assignments decide: :meth:`~nearpath.core.api.VolumeGroup.agent_duty`; a deletion
request does not pull an attached disk) and how (:mod:`nearpath.target.desired`), converges LIO
(:mod:`nearpath.target.converge`), reads back what it achieved and produces this node's
``targets`` status entry per group. A group that cannot be computed (missing device, bad or
missing Secret) gets ``ready: false`` with the reason and its existing LIO objects are left
as they are (except the fence, below); the other groups are unaffected. The agent never tears LIO down on exit:
the kernel keeps serving, and the next start reads what exists and converges.

Kubernetes mode (:mod:`nearpath.target.runtime`) lists and watches VolumeGroups, re-converges
on every change and every ``resync_seconds`` (which also picks up Secret rotations), writes
status entries only when they changed (server-side apply with the node's field manager),
renews the node's heartbeat Lease and self-fences (:mod:`nearpath.target.fence`).

Fencing: a group is served *unavailable* whatever its assignment while the node is self-fenced
or labelled ``nearpath.io/target=disabled``; the entry then reports unavailable, which the
operator takes as the node's loss. The self-fence ends once no group assigns this node anything
but unavailable (the operator saw it). A group assigned unavailable whose target cannot be
computed (device gone, Secret missing) still gets its ALUA groups set unavailable.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from nearpath.core.api import AgentDuty, AluaState, BackingType, TargetStatus, VolumeGroup, parse_volume_group
from nearpath.core.api.spec import DEFAULT_LOCAL_DIRECTORY
from nearpath.core.chap import PASSWORD_KEYS
from nearpath.core.clock import utc_now
from nearpath.core.contract import (
    target_disabled,
    target_field_manager,
    target_iqn,
    target_lease_labels,
    target_lease_name,
)
from nearpath.core.errors import NearpathError
from nearpath.core.kube import KubeApi, Obj
from nearpath.core.logging import register_secret
from nearpath.core.runner import HostRunner, Runner
from nearpath.target import devices, release
from nearpath.target.confinement import PathPolicy, PathRefused, check_disk_path
from nearpath.target.converge import ConvergeResult, converge_all, observe
from nearpath.target.desired import (
    DesiredTarget,
    DeviceFacts,
    Portal,
    TargetConfigError,
    desired_target,
    disk_paths,
    owned_names,
)
from nearpath.target.fence import SelfFence, fence_lio
from nearpath.target.lio import BackstoreState, LioEdge, TargetState
from nearpath.target.metrics import TargetMetrics
from nearpath.target.peers import UrlFor, peer_hosts
from nearpath.target.wipe import FULL_ZERO_LIMIT, WipeResult

log = logging.getLogger("nearpath.target.agent")

SecretReader = Callable[[str, str], Mapping[str, str] | None]
Prober = Callable[[str], DeviceFacts]
FileCreator = Callable[[str, int], bool]
MIN_RECONCILE_INTERVAL = 1.0


@dataclass
class GroupReport:
    """The outcome of one reconcile for one VolumeGroup on this node."""

    namespace: str
    name: str
    entry: TargetStatus | None
    """None: the node has nothing to report (placement excludes it, or the group is being deleted)."""
    obj: Obj = field(default_factory=dict, repr=False)


@dataclass
class _Plan:
    vg: VolumeGroup
    obj: Obj
    devices_present: bool
    desired: DesiredTarget | None = None
    error: str = ""
    assigned: bool = False
    refused: bool = False
    """A disk path this node will not serve: nothing of the group may stay in LIO."""
    held_fenced: bool = False
    """Assigned a serving state, but this node is fenced (self-fence or disabled label): served unavailable."""


class TargetAgent:
    def __init__(
        self,
        edge: LioEdge,
        node: str,
        portals: Sequence[Portal],
        *,
        metrics: TargetMetrics | None = None,
        prober: Prober = devices.probe,
        create_file: FileCreator = devices.ensure_sparse_file,
        manage_discovery_auth: bool = True,
        local_directory: str = DEFAULT_LOCAL_DIRECTORY,
        clock: Callable[[], datetime] = utc_now,
        path_policy: PathPolicy | None = None,
        runner: Runner | None = None,
        full_zero_limit: int = FULL_ZERO_LIMIT,
        fence: SelfFence | None = None,
        peer_url: UrlFor | None = None,
    ) -> None:
        self.edge = edge
        self.node = node
        self.portals = list(portals)
        self.metrics = metrics or TargetMetrics()
        self.prober = prober
        self.create_file = create_file
        self.manage_discovery_auth = manage_discovery_auth
        self.local_directory = local_directory
        self.clock = clock
        self.path_policy = path_policy or PathPolicy()
        self.runner = runner or HostRunner()
        self.full_zero_limit = full_zero_limit
        self.lock = threading.RLock()
        """Held while LIO changes (the metrics collector reads under it too)."""
        self.fence = fence
        """The self-fence (Kubernetes mode); None: follow assignments only (file mode)."""
        self.peer_url = peer_url
        self.peers: dict[str, str] = {}
        """Peer node -> portal host, from the last VolumeGroup listing."""
        self.disabled = False
        """This node is labelled nearpath.io/target=disabled."""
        self.backing_paths: set[str] = set()
        """Disk paths of the groups assigned to this node (last pass): the backend watch reads them."""
        if fence is not None:
            self.metrics.watch_renewal_age(fence.renewal_age)

    # one pass ----------------------------------------------------------------------------
    def reconcile(
        self, objs: Sequence[Obj], node_labels: Mapping[str, str], read_secret: SecretReader
    ) -> list[GroupReport]:
        with self.lock:
            return self._reconcile(objs, node_labels, read_secret)

    def _reconcile(
        self, objs: Sequence[Obj], labels: Mapping[str, str], read_secret: SecretReader
    ) -> list[GroupReport]:
        self.metrics.reconciles.inc()
        self.disabled = target_disabled(labels)
        self.backing_paths = set()
        reports: list[GroupReport] = []
        plans: list[_Plan] = []
        protected_iqns: set[str] = set()
        protected_stores: set[str] = set()
        for obj in objs:
            meta = obj.get("metadata", {})
            namespace, name = str(meta.get("namespace", "")), str(meta.get("name", ""))
            try:
                vg = parse_volume_group(obj)
            except NearpathError as exc:
                # Cannot tell what it wants: leave whatever serves it alone.
                protected_iqns.add(target_iqn(namespace, name, self.node))
                log.warning("invalid VolumeGroup", extra={"vg": f"{namespace}/{name}", "error": exc.message})
                reports.append(GroupReport(namespace, name, None, obj))
                continue
            if vg.agent_duty(self.node, labels) is AgentDuty.NOTHING:
                reports.append(GroupReport(namespace, name, None, obj))
                continue
            plans.append(self._plan(vg, obj, read_secret))
            plan = plans[-1]
            if plan.error and plan.assigned and not plan.refused:
                iqn, owned = owned_names(vg, self.node)
                protected_iqns.add(iqn)
                protected_stores |= owned
                self.metrics.reconcile_errors.labels(vg.key).inc()
                if self._fencing(vg):  # cannot compute what to serve, but the fence still applies
                    fence_lio(self.edge, self.lock, only=owned)
        if self.fence is not None and self.fence.fenced and not any(p.held_fenced for p in plans):
            self.fence.acknowledged()
        wanted = [p.desired for p in plans if p.desired is not None]
        result = converge_all(
            self.edge, self.node, wanted, protected_iqns, protected_stores, self.manage_discovery_auth
        )
        self.metrics.changes.inc(len(result.changes))
        for key in result.errors:
            self.metrics.reconcile_errors.labels(key).inc()
        backstores = {b.name: b for b in self.edge.list_backstores()}
        targets = {t.iqn: t for t in self.edge.list_targets()}
        now = self.clock()
        for plan in plans:
            entry = self._entry(plan, result, backstores, targets, now)
            reports.append(GroupReport(plan.vg.metadata.namespace, plan.vg.metadata.name, entry, plan.obj))
        return reports

    def _entry(
        self,
        plan: _Plan,
        result: ConvergeResult,
        backstores: dict[str, BackstoreState],
        targets: Mapping[str, TargetState],
        now: datetime,
    ) -> TargetStatus:
        """This node's ``targets`` entry for the planned group, from what LIO now holds."""
        vg = plan.vg
        entry = TargetStatus(
            node=self.node,
            iqn=vg.target_iqn(self.node),
            portals=[str(p) for p in sorted(set(self.portals))],
            devices_present=plan.devices_present,
            observed_generation=vg.metadata.generation,
            last_update_time=now,
        )
        assignment = vg.status.assignment(self.node)
        if plan.desired is None:
            entry = entry.model_copy(
                update={
                    "ready": False,
                    "message": plan.error or "not assigned to this node",
                    "port_group_id": assignment.port_group_id if assignment else None,
                }
            )
            if plan.assigned and plan.error:
                target = targets.get(entry.iqn)
                entry = entry.model_copy(update={"sessions": len(target.sessions()) if target else 0})
            return entry
        obs = observe(plan.desired, backstores, targets.get(plan.desired.iqn))
        message = result.errors.get(vg.key) or obs.message
        if vg.key in result.warnings:
            message = f"{message}; {result.warnings[vg.key]}"
        if plan.held_fenced:
            message = f"{self._fence_text()}; {message}"
        return entry.model_copy(
            update={
                "ready": obs.ready and vg.key not in result.errors,
                "alua_state": obs.alua_state,
                "port_group_id": plan.desired.alua_group.group_id,
                "sessions": obs.sessions,
                "message": message[:4096],
                "fenced": plan.held_fenced or None,
            }
        )

    def _fence_text(self) -> str:
        if self.disabled:
            return "fenced: node labelled nearpath.io/target=disabled"
        return f"self-fenced: {self.fence.reason if self.fence is not None else ''}"

    def _fencing(self, vg: VolumeGroup) -> bool:
        """This node must serve ``vg`` unavailable: assigned so, self-fenced, or disabled by label."""
        assignment = vg.status.assignment(self.node)
        if assignment is not None and assignment.alua_state is AluaState.UNAVAILABLE:
            return True
        if self.disabled or self.fence is None:
            return self.disabled
        # a renewal gone stale counts too (e.g. the process was stopped and resumes): the fence thread
        # decides within a tick, and no reconcile may restore active/optimized before it
        return self.fence.fenced or (self.fence.due() and not self.fence.holding)

    def _plan(self, vg: VolumeGroup, obj: Obj, read_secret: SecretReader) -> _Plan:
        assignment = vg.status.assignment(self.node)
        held = False
        if assignment is not None and assignment.alua_state is not AluaState.UNAVAILABLE and self._fencing(vg):
            assignment = assignment.model_copy(update={"alua_state": AluaState.UNAVAILABLE})
            held = True
        paths = disk_paths(vg, assignment, self.node)
        if assignment is not None:
            self.backing_paths |= set(paths.values())
        refusal = self._confine(vg, paths)
        if refusal:
            return _Plan(vg, obj, False, error=refusal, assigned=assignment is not None, refused=True)
        error = ""
        if vg.spec.backing.type is BackingType.LOCAL:
            for disk in vg.spec.disks:
                if disk.source is None or not disk.source.path:
                    error = error or self._create_local_file(paths[disk.name], disk.size_bytes)
        facts = {path: self.prober(path) for path in set(paths.values())}
        present = all(f.exists for f in facts.values())
        plan = _Plan(vg, obj, present, assigned=assignment is not None, held_fenced=held)
        if assignment is None:
            return plan
        if error:
            plan.error = error
            return plan
        try:
            secret = None
            if vg.spec.access.chap is not None:
                secret = read_secret(vg.metadata.namespace, vg.spec.access.chap.secret_ref.name)
                for key in PASSWORD_KEYS:
                    register_secret((secret or {}).get(key, ""))
            plan.desired = desired_target(vg, assignment, self.node, self.portals, facts, secret)
        except NearpathError as exc:
            plan.error = exc.message
            log.warning("cannot serve VolumeGroup", extra={"vg": vg.key, "error": exc.message})
        return plan

    def _create_local_file(self, path: str, size_bytes: int) -> str:
        """Create a `local` disk's sparse file; the error message, or "" when it is in place."""
        if not devices.inside_directory(path, self.local_directory):
            # Anywhere else the file would live in the container's writable layer and vanish.
            return (
                f"local file {path} is outside the agent's local directory {self.local_directory} "
                "(the chart's target.localDirectory): set backing.local.directory below it"
            )
        try:
            self.create_file(path, size_bytes)
        except TargetConfigError as exc:
            return exc.message
        return ""

    def _confine(self, vg: VolumeGroup, paths: Mapping[str, str]) -> str:
        """Why one of the group's disk paths may not be served here ("" if all may)."""
        for disk in vg.spec.disks:
            creates = vg.spec.backing.type is BackingType.LOCAL and (disk.source is None or not disk.source.path)
            try:
                check_disk_path(vg, disk.name, self.node, paths[disk.name], self.path_policy, creates=creates)
            except PathRefused as exc:
                log.warning("disk path refused", extra={"vg": vg.key, "error": exc.message})
                return f"PathRefused: {exc.message}"
        return ""

    # Kubernetes mode ---------------------------------------------------------------------
    def reconcile_kube(self, kube: KubeApi) -> list[GroupReport]:
        objs = kube.list_volume_groups()
        self.peers = peer_hosts(objs, self.node)
        labels = self._node_labels(kube)
        reports = self.reconcile(objs, labels, kube.read_secret)
        for report in reports:
            try:
                self._write_status(kube, report)
            except NearpathError as exc:
                log.warning(
                    "could not write status", extra={"vg": f"{report.namespace}/{report.name}", "error": exc.message}
                )
        self.release_deleted(kube, objs, labels)
        return reports

    def release_deleted(self, kube: KubeApi, objs: Sequence[Obj], labels: Mapping[str, str]) -> int:
        """Erase the disks of deleted groups nobody serves any more (target/release.py); how many."""
        served = {t.iqn for t in self.edge.list_targets()}
        done = 0
        for obj in objs:
            try:
                vg = parse_volume_group(obj)
            except NearpathError:
                continue
            if not release.due(vg, obj, self.node, labels, served):
                continue
            with self.lock:
                done += release.release(kube, vg, obj, functools.partial(self._erase, vg))
        return done

    def _erase(self, vg: VolumeGroup) -> list[WipeResult] | None:
        return release.erase_group(vg, self.node, self.runner, self.prober, self.path_policy, self.full_zero_limit)

    def _node_labels(self, kube: KubeApi) -> dict[str, str]:
        for node in kube.list_nodes():
            if node.get("metadata", {}).get("name") == self.node:
                return dict(node["metadata"].get("labels") or {})
        log.warning("node not found in the API; using no labels", extra={"node": self.node})
        return {}

    def _write_status(self, kube: KubeApi, report: GroupReport) -> None:
        current = None
        for entry in (report.obj.get("status") or {}).get("targets", []) or []:
            if entry.get("node") == self.node:
                current = entry
        if report.entry is None:
            if current is not None:
                kube.apply_volume_group_status(
                    report.namespace, report.name, {"targets": []}, target_field_manager(self.node)
                )
            return
        wire = report.entry.to_wire()
        if current is not None and _without_time(current) == _without_time(wire):
            return
        kube.apply_volume_group_status(
            report.namespace, report.name, {"targets": [wire]}, target_field_manager(self.node)
        )

    def renew_lease(
        self, kube: KubeApi, namespace: str, duration_seconds: int, timeout_seconds: float | None = None
    ) -> None:
        kube.apply_lease(
            namespace,
            target_lease_name(self.node),
            holder=self.node,
            duration_seconds=duration_seconds,
            labels=target_lease_labels(self.node),
            field_manager=target_field_manager(self.node),
            timeout_seconds=timeout_seconds,
        )


def _without_time(entry: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in entry.items() if k != "lastUpdateTime"}
