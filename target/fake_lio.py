"""An in-memory :class:`~nearpath.target.lio.LioEdge` for unit tests.

Lookups of missing objects raise :class:`~nearpath.core.errors.NotFound`, refused changes
:class:`~nearpath.target.lio.LioError`, as :class:`~nearpath.target.rtslib_lio.RtslibLio` does
(``tests/vm/test_lio_contract.py`` compares the two on the kernel's LIO). It keeps LIO's rules
that matter to the agent (a backstore with LUNs cannot go, a LUN needs its backstore and ALUA
group, names are unique), records every mutation in ``mutations``, and notes in ``violations``
every moment a TPG was enabled without a LUN (initiators fail hard then). Tests seed foreign
objects (not nearpath's) with :meth:`add_foreign_backstore` and :meth:`add_foreign_target`, and
sessions with :meth:`login`.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

from nearpath.core.chap import NO_CHAP, ChapCredentials
from nearpath.core.errors import NotFound
from nearpath.target.lio import (
    AclState,
    AluaGroupState,
    BackstoreState,
    DiscoveryAuthState,
    LioError,
    LunState,
    LunStats,
    SessionState,
    TargetState,
)
from nearpath.target.model import DesiredBackstore, Portal

DEFAULT_ATTRIBUTES = {
    "emulate_caw": "1",
    "emulate_3pc": "1",
    "emulate_tpu": "0",
    "emulate_tpws": "0",
    "max_unmap_lba_count": "0",
    "max_unmap_block_desc_count": "0",
    "unmap_granularity": "0",
    "unmap_granularity_alignment": "0",
}
DEFAULT_TPG_ATTRIBUTES = {
    "authentication": "0",
    "generate_node_acls": "0",
    "cache_dynamic_acls": "0",
    "demo_mode_write_protect": "1",
    "prod_mode_write_protect": "0",
}


@dataclass
class _Group:
    group_id: int
    state_code: int = 0
    access_type: int = 3


@dataclass
class _Backstore:
    kind: str
    path: str
    size_bytes: int
    serial: str
    attributes: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_ATTRIBUTES))
    groups: dict[str, _Group] = field(default_factory=dict)


@dataclass
class _Acl:
    mapped: dict[int, int] = field(default_factory=dict)
    chap: ChapCredentials = NO_CHAP
    session: SessionState | None = None


@dataclass
class _Target:
    has_tpg: bool = True
    enabled: bool = False
    portals: set[Portal] = field(default_factory=set)
    attributes: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_TPG_ATTRIBUTES))
    luns: dict[int, tuple[str, str]] = field(default_factory=dict)  # lun -> (backstore, group)
    acls: dict[str, _Acl] = field(default_factory=dict)


@dataclass
class FakeLio:
    backstores: dict[str, _Backstore] = field(default_factory=dict)
    targets: dict[str, _Target] = field(default_factory=dict)
    discovery: DiscoveryAuthState = field(default_factory=lambda: DiscoveryAuthState(False))
    mutations: list[str] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    stats: dict[tuple[str, int], tuple[int, int, int]] = field(default_factory=dict)
    prepared_dbroot: str | None = None
    _fail: dict[str, LioError] = field(default_factory=dict)

    # test helpers ------------------------------------------------------------------------
    def fail_on(self, mutation_prefix: str, message: str = "injected failure") -> None:
        """Make every mutation whose record starts with ``mutation_prefix`` fail."""
        self._fail[mutation_prefix] = LioError(message)

    def add_foreign_backstore(self, name: str, path: str = "/dev/foreign", kind: str = "block") -> None:
        self.backstores[name] = _Backstore(kind, path, 1 << 30, "f" * 32)

    def add_foreign_target(self, iqn: str, backstore: str | None = None, initiator: str | None = None) -> None:
        target = _Target(enabled=True, portals={Portal("192.0.2.1")})
        if backstore:
            target.luns[0] = (backstore, "default_tg_pt_gp")
        if initiator:
            target.acls[initiator] = _Acl(mapped={0: 0} if backstore else {})
        self.targets[iqn] = target

    def login(self, iqn: str, initiator: str, session_id: int = 1) -> None:
        self.targets[iqn].acls[initiator].session = SessionState(initiator, session_id, "LOGGED_IN", ("10.0.0.9",))

    def snapshot(self) -> tuple[object, ...]:
        return copy.deepcopy((self.backstores, self.targets, self.discovery))

    # internals ---------------------------------------------------------------------------
    def _record(self, text: str) -> None:
        for prefix, error in self._fail.items():
            if text.startswith(prefix):
                raise LioError(f"{text}: {error.message}")
        self.mutations.append(text)

    def _check_enabled_has_luns(self, iqn: str) -> None:
        target = self.targets[iqn]
        if target.enabled and not target.luns:
            self.violations.append(f"{iqn} enabled without LUNs")

    def _target(self, iqn: str) -> _Target:
        if iqn not in self.targets or not self.targets[iqn].has_tpg:
            raise NotFound(f"target {iqn} (TPG 1) not found")
        return self.targets[iqn]

    def _acl(self, iqn: str, initiator: str) -> _Acl:
        acls = self._target(iqn).acls
        if initiator not in acls:
            raise NotFound(f"ACL {initiator} of {iqn} not found")
        return acls[initiator]

    def _so(self, name: str) -> _Backstore:
        if name not in self.backstores:
            raise NotFound(f"backstore {name} not found")
        return self.backstores[name]

    # reads -------------------------------------------------------------------------------
    def prepare(self, dbroot: str = "") -> str:
        self.prepared_dbroot = dbroot or "/var/target"
        return self.prepared_dbroot

    def list_backstores(self) -> list[BackstoreState]:
        return [
            BackstoreState(
                name=name,
                kind=b.kind,
                path=b.path,
                size_bytes=b.size_bytes,
                serial=b.serial,
                attributes=dict(b.attributes),
                alua_groups={
                    g: AluaGroupState(g, grp.group_id, grp.state_code, grp.access_type) for g, grp in b.groups.items()
                },
            )
            for name, b in sorted(self.backstores.items())
        ]

    def list_targets(self) -> list[TargetState]:
        out = []
        for iqn, t in sorted(self.targets.items()):
            if not t.has_tpg:
                out.append(TargetState(iqn, has_tpg=False))
                continue
            out.append(
                TargetState(
                    iqn=iqn,
                    has_tpg=True,
                    enabled=t.enabled,
                    portals=frozenset(t.portals),
                    attributes=dict(t.attributes),
                    luns={n: LunState(n, b, g) for n, (b, g) in t.luns.items()},
                    acls={i: AclState(i, dict(a.mapped), a.chap, a.session) for i, a in t.acls.items()},
                )
            )
        return out

    def get_discovery_auth(self) -> DiscoveryAuthState:
        return self.discovery

    def read_lun_stats(self) -> list[LunStats]:
        out = []
        for iqn, t in sorted(self.targets.items()):
            for lun, (backstore, _group) in sorted(t.luns.items()):
                cmds, rd, wr = self.stats.get((iqn, lun), (0, 0, 0))
                out.append(LunStats(iqn, lun, backstore, cmds, rd, wr))
        return out

    # backstores --------------------------------------------------------------------------
    def create_backstore(self, spec: DesiredBackstore) -> None:
        self._record(f"create_backstore {spec.name}")
        if spec.name in self.backstores:
            raise LioError(f"backstore {spec.name} exists")
        self.backstores[spec.name] = _Backstore(spec.kind.value, spec.path, spec.size_bytes, spec.serial)

    def delete_backstore(self, name: str) -> None:
        self._record(f"delete_backstore {name}")
        self._so(name)
        users = [iqn for iqn, t in self.targets.items() if any(b == name for b, _g in t.luns.values())]
        if users:
            raise LioError(f"backstore {name} still exported by {users}")
        del self.backstores[name]

    def set_backstore_attribute(self, name: str, key: str, value: str) -> None:
        self._record(f"set_backstore_attribute {name} {key}={value}")
        self._so(name).attributes[key] = value

    def create_alua_group(self, backstore: str, name: str, group_id: int) -> None:
        self._record(f"create_alua_group {backstore} {name}")
        so = self._so(backstore)
        if name in so.groups or any(g.group_id == group_id for g in so.groups.values()) or group_id < 2:
            raise LioError(f"ALUA group {name}/{group_id} conflicts on {backstore}")
        so.groups[name] = _Group(group_id)

    def set_alua_group(self, backstore: str, name: str, state_code: int, access_type: int) -> None:
        self._record(f"set_alua_group {backstore} {name} state={state_code} type={access_type}")
        group = self._so(backstore).groups[name]
        group.state_code, group.access_type = state_code, access_type

    def delete_alua_group(self, backstore: str, name: str) -> None:
        self._record(f"delete_alua_group {backstore} {name}")
        del self._so(backstore).groups[name]
        for t in self.targets.values():  # LIO moves members back to the default group
            for lun, (b, g) in list(t.luns.items()):
                if b == backstore and g == name:
                    t.luns[lun] = (b, "default_tg_pt_gp")

    # targets -----------------------------------------------------------------------------
    def create_target(self, iqn: str) -> None:
        self._record(f"create_target {iqn}")
        existing = self.targets.get(iqn)
        if existing is not None and existing.has_tpg:
            return  # lookup-or-create, as rtslib's mode="any"
        self.targets[iqn] = _Target()

    def delete_target(self, iqn: str) -> None:
        self._record(f"delete_target {iqn}")
        if iqn not in self.targets:
            raise LioError(f"target {iqn} not found")
        del self.targets[iqn]

    def set_tpg_enabled(self, iqn: str, enabled: bool) -> None:
        self._record(f"set_tpg_enabled {iqn} {enabled}")
        self._target(iqn).enabled = enabled
        self._check_enabled_has_luns(iqn)

    def set_tpg_attribute(self, iqn: str, key: str, value: str) -> None:
        self._record(f"set_tpg_attribute {iqn} {key}={value}")
        self._target(iqn).attributes[key] = value

    def create_lun(self, iqn: str, lun: int, backstore: str) -> None:
        self._record(f"create_lun {iqn} {lun}")
        target = self._target(iqn)
        self._so(backstore)
        if lun in target.luns:
            raise LioError(f"LUN {lun} of {iqn} exists")
        target.luns[lun] = (backstore, "default_tg_pt_gp")

    def delete_lun(self, iqn: str, lun: int) -> None:
        self._record(f"delete_lun {iqn} {lun}")
        target = self._target(iqn)
        if any(lun in a.mapped.values() for a in target.acls.values()):
            raise LioError(f"LUN {lun} of {iqn} is still mapped")
        del target.luns[lun]
        self._check_enabled_has_luns(iqn)

    def set_lun_alua_group(self, iqn: str, lun: int, group: str) -> None:
        self._record(f"set_lun_alua_group {iqn} {lun} {group}")
        target = self._target(iqn)
        backstore, _old = target.luns[lun]
        if group not in self._so(backstore).groups:
            raise LioError(f"ALUA group {group} not on {backstore}")
        target.luns[lun] = (backstore, group)

    def create_portal(self, iqn: str, portal: Portal) -> None:
        self._record(f"create_portal {iqn} {portal}")
        self._target(iqn).portals.add(portal)

    def delete_portal(self, iqn: str, portal: Portal) -> None:
        self._record(f"delete_portal {iqn} {portal}")
        self._target(iqn).portals.discard(portal)

    def create_acl(self, iqn: str, initiator: str) -> None:
        self._record(f"create_acl {iqn} {initiator}")
        target = self._target(iqn)
        if initiator in target.acls:
            raise LioError(f"ACL {initiator} exists")
        target.acls[initiator] = _Acl()

    def delete_acl(self, iqn: str, initiator: str) -> None:
        self._record(f"delete_acl {iqn} {initiator}")
        self._acl(iqn, initiator)
        del self._target(iqn).acls[initiator]

    def set_acl_chap(self, iqn: str, initiator: str, chap: ChapCredentials) -> None:
        self._record(f"set_acl_chap {iqn} {initiator} user={chap.username}")
        self._acl(iqn, initiator).chap = chap

    def create_mapped_lun(self, iqn: str, initiator: str, mapped_lun: int, tpg_lun: int) -> None:
        self._record(f"create_mapped_lun {iqn} {initiator} {mapped_lun}")
        if tpg_lun not in self._target(iqn).luns:
            raise NotFound(f"LUN {tpg_lun} of {iqn} not found")
        self._acl(iqn, initiator).mapped[mapped_lun] = tpg_lun

    def delete_mapped_lun(self, iqn: str, initiator: str, mapped_lun: int) -> None:
        self._record(f"delete_mapped_lun {iqn} {initiator} {mapped_lun}")
        del self._acl(iqn, initiator).mapped[mapped_lun]

    def set_discovery_auth(self, enabled: bool, chap: ChapCredentials) -> None:
        self._record(f"set_discovery_auth {enabled} user={chap.username}")
        self.discovery = DiscoveryAuthState(enabled, chap)
