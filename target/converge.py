"""Converge LIO to the desired state: read what exists, change only what differs.

Order of a target's changes (a TPG must never be enabled without its LUNs, and credentials
must be in place before authentication is demanded):

  backstores (+ attributes, ALUA group) -> target and TPG (disabled) -> LUNs (+ ALUA group)
  -> ACLs, CHAP and mapped LUNs -> authentication -> portals -> enable

Teardown runs the other way: the edge disables a TPG before deleting its target, then the
backstores go. Only objects under nearpath's naming scheme are touched; anything else in
LIO is left alone. Every function returns the list of changes it made: a second run with
the same desired state returns ``[]``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from nearpath.core import identifiers as ids
from nearpath.core.api import AluaState
from nearpath.core.chap import NO_CHAP, ChapCredentials
from nearpath.core.errors import NearpathError
from nearpath.target.lio import BackstoreState, LioEdge, TargetState
from nearpath.target.model import (
    ALUA_STATES_BY_CODE,
    BackstoreKind,
    DesiredBackstore,
    DesiredTarget,
    Portal,
)

log = logging.getLogger("nearpath.target.converge")


@dataclass
class ConvergeResult:
    changes: list[str] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)
    """VolumeGroup key -> why its target could not be converged."""
    warnings: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Observation:
    """What a target looks like now, for the VolumeGroup status."""

    ready: bool
    alua_state: AluaState | None
    sessions: int
    message: str


def _backstore_matches(actual: BackstoreState, want: DesiredBackstore) -> bool:
    if actual.kind != want.kind.value or actual.path != want.path or actual.serial != want.serial:
        return False
    return not (want.kind is BackstoreKind.FILEIO and actual.size_bytes != want.size_bytes)


def _attr_differs(actual: dict[str, str], key: str, value: str) -> bool:
    return actual.get(key, "").strip() != value


class _Changes:
    """Applies changes through the edge and records them."""

    def __init__(self, edge: LioEdge) -> None:
        self.edge = edge
        self.made: list[str] = []

    def do(self, text: str, func: object, *args: object) -> None:
        assert callable(func)
        func(*args)
        self.made.append(text)
        log.info("lio change", extra={"change": text})


def converge_target(
    edge: LioEdge,
    want: DesiredTarget,
    backstores: dict[str, BackstoreState],
    target: TargetState | None,
) -> list[str]:
    """Make ``want`` exist; ``backstores``/``target`` are the current state. Raises on failure."""
    run = _TargetRun(edge, want, backstores, target)
    run.backstores()
    run.tpg()
    run.luns()
    run.acls()
    run.finish()
    return run.changes.made


class _TargetRun:
    """One target's convergence, step by step, tracking what it changed on the way."""

    def __init__(
        self, edge: LioEdge, want: DesiredTarget, backstores: dict[str, BackstoreState], target: TargetState | None
    ) -> None:
        self.changes = _Changes(edge)
        self.edge = edge
        self.want = want
        self.iqn = want.iqn
        self.group = want.alua_group
        self.actual_backstores = backstores
        self.target = target if target is not None and target.has_tpg else None
        self.stale_target = target is not None and not target.has_tpg
        self.actual_luns = dict(self.target.luns) if self.target else {}
        self.acl_maps = {i: dict(a.mapped_luns) for i, a in self.target.acls.items()} if self.target else {}
        self.enabled = self.target.enabled if self.target else False
        self.tpg_attrs: dict[str, str] = dict(self.target.attributes) if self.target else {}
        self.recreated: set[str] = set()
        self.auth = dict(want.tpg_attributes).get("authentication", "0")

    def _unexport(self, lun: int) -> None:
        """Remove LUN ``lun`` (and its mappings) from the target."""
        for initiator, mapped in self.acl_maps.items():
            for m, tpg_lun in list(mapped.items()):
                if tpg_lun == lun:
                    self.changes.do(
                        f"unmap LUN {m} of {self.iqn} from {initiator}",
                        self.edge.delete_mapped_lun,
                        self.iqn,
                        initiator,
                        m,
                    )
                    del mapped[m]
        if self.enabled and set(self.actual_luns) == {lun}:
            self.changes.do(
                f"disable TPG {self.iqn} (replacing its only LUN)", self.edge.set_tpg_enabled, self.iqn, False
            )
            self.enabled = False
        self.changes.do(f"delete LUN {lun} of {self.iqn}", self.edge.delete_lun, self.iqn, lun)
        del self.actual_luns[lun]

    def backstores(self) -> None:
        edge, group = self.edge, self.group
        for b in self.want.backstores:
            actual = self.actual_backstores.get(b.name)
            if actual is not None and not _backstore_matches(actual, b):
                # Path, serial, kind or size changed: recreate; its LUNs go first (step 3 restores them).
                for n in [n for n, lun in self.actual_luns.items() if lun.backstore == b.name]:
                    self._unexport(n)
                self.changes.do(
                    f"delete backstore {b.name} (was {actual.kind} {actual.path})", edge.delete_backstore, b.name
                )
                actual = None
                self.recreated.add(b.name)
            if actual is None:
                self.changes.do(f"create {b.kind.value} backstore {b.name} on {b.path}", edge.create_backstore, b)
            attrs = actual.attributes if actual else {}
            groups = actual.alua_groups if actual else {}
            for key, value in b.attributes:
                if _attr_differs(attrs, key, value):
                    self.changes.do(f"set {key}={value} on {b.name}", edge.set_backstore_attribute, b.name, key, value)
            current = groups.get(group.name)
            if current is not None and current.group_id != group.group_id:
                self.changes.do(
                    f"delete ALUA group {group.name} on {b.name} (id changed)",
                    edge.delete_alua_group,
                    b.name,
                    group.name,
                )
                current = None
            if current is None:
                for g in groups.values():
                    if g.group_id == group.group_id and g.name != group.name:
                        self.changes.do(
                            f"delete ALUA group {g.name} on {b.name} (id reused)",
                            edge.delete_alua_group,
                            b.name,
                            g.name,
                        )
                self.changes.do(
                    f"create ALUA group {group.name} ({group.group_id}) on {b.name}",
                    edge.create_alua_group,
                    b.name,
                    group.name,
                    group.group_id,
                )
            if current is None or current.state_code != group.state_code or current.access_type != group.access_type:
                self.changes.do(
                    f"set ALUA group {group.name} on {b.name} to {group.state.value} (type {group.access_type})",
                    edge.set_alua_group,
                    b.name,
                    group.name,
                    group.state_code,
                    group.access_type,
                )

    def tpg(self) -> None:
        if self.target is None:
            if self.stale_target:
                self.changes.do(f"delete target {self.iqn} (no TPG)", self.edge.delete_target, self.iqn)
            self.changes.do(f"create target {self.iqn}", self.edge.create_target, self.iqn)
        for key, value in self.want.tpg_attributes:
            if key != "authentication" and _attr_differs(self.tpg_attrs, key, value):
                self.changes.do(
                    f"set {key}={value} on TPG {self.iqn}", self.edge.set_tpg_attribute, self.iqn, key, value
                )
        if self.auth == "0" and _attr_differs(self.tpg_attrs, "authentication", "0"):
            self.changes.do(
                f"set authentication=0 on TPG {self.iqn}", self.edge.set_tpg_attribute, self.iqn, "authentication", "0"
            )

    def luns(self) -> None:
        wanted = {lun.lun: lun.backstore for lun in self.want.luns}
        for n, backstore in sorted(wanted.items()):
            if n in self.actual_luns and self.actual_luns[n].backstore != backstore:
                self._unexport(n)
            if n not in self.actual_luns:
                self.changes.do(
                    f"create LUN {n} of {self.iqn} on {backstore}", self.edge.create_lun, self.iqn, n, backstore
                )
                current_group = ""
            else:
                current_group = self.actual_luns[n].alua_group
            if current_group != self.group.name:
                self.changes.do(
                    f"put LUN {n} of {self.iqn} in ALUA group {self.group.name}",
                    self.edge.set_lun_alua_group,
                    self.iqn,
                    n,
                    self.group.name,
                )
        for n in sorted(set(self.actual_luns) - set(wanted)):
            self._unexport(n)
        # Stale nearpath ALUA groups (the port group id changed) go once no LUN is in them.
        for b in self.want.backstores:
            actual = self.actual_backstores.get(b.name)
            if actual is None or b.name in self.recreated:
                continue
            for name, g in actual.alua_groups.items():
                if (
                    name != self.group.name
                    and name.startswith(ids.PORT_GROUP_PREFIX)
                    and g.group_id != self.group.group_id
                ):
                    self.changes.do(
                        f"delete stale ALUA group {name} on {b.name}", self.edge.delete_alua_group, b.name, name
                    )

    def acls(self) -> None:
        edge, iqn = self.edge, self.iqn
        wanted = {a.initiator: a for a in self.want.acls}
        for initiator in sorted(set(self.acl_maps) - set(wanted)):
            self.changes.do(f"delete ACL {initiator} of {iqn}", edge.delete_acl, iqn, initiator)
        for initiator, acl_want in sorted(wanted.items()):
            existing = self.target.acls.get(initiator) if self.target else None
            if existing is None:
                self.changes.do(f"create ACL {initiator} on {iqn}", edge.create_acl, iqn, initiator)
                chap: ChapCredentials = NO_CHAP
                mapped: dict[int, int] = {}
            else:
                chap, mapped = existing.chap, self.acl_maps.get(initiator, {})
            if chap != acl_want.chap:
                user = acl_want.chap.username or "-"
                self.changes.do(
                    f"set CHAP of ACL {initiator} on {iqn} (user {user})",
                    edge.set_acl_chap,
                    iqn,
                    initiator,
                    acl_want.chap,
                )
            for m, tpg_lun in sorted(mapped.items()):
                if m not in acl_want.mapped_luns or tpg_lun != m:
                    self.changes.do(
                        f"unmap LUN {m} of {iqn} from {initiator}", edge.delete_mapped_lun, iqn, initiator, m
                    )
                    del mapped[m]
            for m in acl_want.mapped_luns:
                if m not in mapped:
                    self.changes.do(
                        f"map LUN {m} of {iqn} to {initiator}", edge.create_mapped_lun, iqn, initiator, m, m
                    )

    def finish(self) -> None:
        edge, iqn = self.edge, self.iqn
        if self.auth != "0" and _attr_differs(self.tpg_attrs, "authentication", self.auth):
            self.changes.do(
                f"set authentication={self.auth} on TPG {iqn}", edge.set_tpg_attribute, iqn, "authentication", self.auth
            )
        portals: frozenset[Portal] = self.target.portals if self.target else frozenset()
        for portal in sorted(set(self.want.portals) - portals):
            self.changes.do(f"create portal {portal} on {iqn}", edge.create_portal, iqn, portal)
        for portal in sorted(portals - set(self.want.portals)):
            self.changes.do(f"delete portal {portal} of {iqn}", edge.delete_portal, iqn, portal)
        if not self.enabled:
            self.changes.do(f"enable TPG {iqn}", edge.set_tpg_enabled, iqn, True)


def remove_stale(
    edge: LioEdge,
    node: str,
    backstores: Iterable[BackstoreState],
    targets: Iterable[TargetState],
    keep_iqns: set[str],
    keep_backstores: set[str],
) -> list[str]:
    """Delete this node's nearpath targets and the backstores nobody wants; never touch foreign objects.

    Targets of other nodes (seen when nodes share one kernel's configfs, as kind's do) are
    foreign: their backstores count as in use.
    """
    changes = _Changes(edge)
    remaining: list[TargetState] = []
    for target in targets:
        if ids.is_node_iqn(target.iqn, node) and target.iqn not in keep_iqns:
            changes.do(f"delete target {target.iqn}", edge.delete_target, target.iqn)
        else:
            remaining.append(target)
    in_use = {lun.backstore for t in remaining for lun in t.luns.values()}
    for b in backstores:
        if ids.is_nearpath_backstore(b.name) and b.name not in keep_backstores:
            if b.name in in_use:
                log.warning("stale nearpath backstore still exported by a foreign target", extra={"backstore": b.name})
                continue
            changes.do(f"delete backstore {b.name}", edge.delete_backstore, b.name)
    return changes.made


def converge_discovery(edge: LioEdge, wanted: Sequence[DesiredTarget]) -> tuple[list[str], dict[str, str]]:
    """Discovery authentication is one setting per node in LIO.

    It is on when any served group asks for it, with the credentials of the first such group
    (by namespace/name); groups asking with other credentials get a warning. Off otherwise.
    """
    changes = _Changes(edge)
    warnings: dict[str, str] = {}
    askers = sorted((t for t in wanted if t.discovery_auth is not None), key=lambda t: t.vg_key)
    current = edge.get_discovery_auth()
    if askers:
        chosen = askers[0]
        creds = chosen.discovery_auth or NO_CHAP
        for other in askers[1:]:
            if other.discovery_auth != creds:
                warnings[other.vg_key] = (
                    f"discovery CHAP is node-wide in LIO: this node uses the credentials of {chosen.vg_key}"
                )
        if not current.enabled or current.chap != creds:
            changes.do(
                f"enable discovery authentication (credentials of {chosen.vg_key})",
                edge.set_discovery_auth,
                True,
                creds,
            )
    elif current.enabled or current.chap != NO_CHAP:
        changes.do("disable discovery authentication", edge.set_discovery_auth, False, NO_CHAP)
    return changes.made, warnings


def converge_all(
    edge: LioEdge,
    node: str,
    wanted: Sequence[DesiredTarget],
    protected_iqns: set[str],
    protected_backstores: set[str],
    manage_discovery: bool = True,
) -> ConvergeResult:
    """Converge every wanted target (errors isolated per group), then remove stale objects.

    ``protected_*`` are objects of groups whose desired state could not be computed (bad
    Secret, missing device): they are neither changed nor removed.
    """
    result = ConvergeResult()
    backstores = {b.name: b for b in edge.list_backstores()}
    targets = {t.iqn: t for t in edge.list_targets()}
    for want in sorted(wanted, key=lambda t: t.vg_key):
        try:
            result.changes += converge_target(edge, want, backstores, targets.get(want.iqn))
        except NearpathError as exc:
            result.errors[want.vg_key] = exc.message
            log.warning("could not converge target", extra={"vg": want.vg_key, "error": exc.message})
    keep_iqns = {t.iqn for t in wanted} | protected_iqns
    keep_backstores = {b.name for t in wanted for b in t.backstores} | protected_backstores
    try:
        result.changes += remove_stale(
            edge, node, edge.list_backstores(), edge.list_targets(), keep_iqns, keep_backstores
        )
    except NearpathError as exc:
        log.warning("could not remove stale LIO objects", extra={"error": exc.message})
        result.errors["(stale)"] = exc.message
    if manage_discovery:
        try:
            changes, warnings = converge_discovery(edge, [t for t in wanted if t.vg_key not in result.errors])
            result.changes += changes
            result.warnings.update(warnings)
        except NearpathError as exc:
            result.errors["(discovery)"] = exc.message
    return result


def observe(want: DesiredTarget, backstores: dict[str, BackstoreState], target: TargetState | None) -> Observation:
    """Whether ``want`` is served as asked, read back from LIO."""
    problems: list[str] = []
    alua: AluaState | None = None
    for b in want.backstores:
        actual = backstores.get(b.name)
        if actual is None or not _backstore_matches(actual, b):
            problems.append(f"backstore {b.name} missing or different")
            continue
        g = actual.alua_groups.get(want.alua_group.name)
        if g is None:
            problems.append(f"ALUA group {want.alua_group.name} missing on {b.name}")
            continue
        alua = ALUA_STATES_BY_CODE.get(g.state_code)
        if g.state_code != want.alua_group.state_code:
            problems.append(f"ALUA group on {b.name} is in state {g.state_code}")
    sessions = 0
    if target is None or not target.has_tpg:
        problems.append(f"target {want.iqn} missing")
    else:
        sessions = len(target.sessions())
        if not target.enabled:
            problems.append("TPG disabled")
        missing = [lun.lun for lun in want.luns if lun.lun not in target.luns]
        if missing:
            problems.append(f"LUNs {missing} missing")
        if set(target.portals) != set(want.portals):
            problems.append("portals differ")
    ready = not problems
    message = "; ".join(problems) if problems else f"serving {len(want.luns)} LUN(s) as {want.alua_group.state.value}"
    return Observation(ready, alua, sessions, message)
