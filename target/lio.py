"""The LIO edge: every read and write of the kernel target goes through :class:`LioEdge`.

:class:`nearpath.target.rtslib_lio.RtslibLio` implements it with rtslib-fb (imported lazily: only
the agent on a node needs configfs). :class:`nearpath.target.fake_lio.FakeLio` implements it in
memory for unit tests. The edge is deliberately dumb: it reports what exists (the ``*State``
records here) and performs single, named operations; deciding what to change is
:mod:`nearpath.target.converge`'s job.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from nearpath.core.chap import NO_CHAP, ChapCredentials
from nearpath.core.errors import NearpathError
from nearpath.target.model import DesiredBackstore, Portal

# The backstore attributes the agent manages (and therefore reads back).
MANAGED_ATTRIBUTES = (
    "emulate_caw",
    "emulate_3pc",
    "emulate_tpu",
    "emulate_tpws",
    "max_unmap_lba_count",
    "max_unmap_block_desc_count",
    "unmap_granularity",
    "unmap_granularity_alignment",
)
TPG_ATTRIBUTES = (
    "authentication",
    "generate_node_acls",
    "cache_dynamic_acls",
    "demo_mode_write_protect",
    "prod_mode_write_protect",
)


class LioError(NearpathError):
    """The kernel target refused an operation (the message names object and operation)."""


@dataclass(frozen=True)
class AluaGroupState:
    name: str
    group_id: int
    state_code: int
    access_type: int


@dataclass(frozen=True)
class BackstoreState:
    name: str
    kind: str
    """rtslib plugin name: block, fileio, ramdisk, pscsi, user."""
    path: str
    size_bytes: int
    serial: str
    attributes: dict[str, str] = field(default_factory=dict)
    alua_groups: dict[str, AluaGroupState] = field(default_factory=dict)


@dataclass(frozen=True)
class SessionState:
    initiator: str
    session_id: int
    state: str
    addresses: tuple[str, ...] = ()

    @property
    def logged_in(self) -> bool:
        return self.state.upper() == "LOGGED_IN"


@dataclass(frozen=True)
class AclState:
    initiator: str
    mapped_luns: dict[int, int] = field(default_factory=dict)
    """mapped LUN -> TPG LUN."""
    chap: ChapCredentials = NO_CHAP
    session: SessionState | None = None


@dataclass(frozen=True)
class LunState:
    lun: int
    backstore: str
    alua_group: str


@dataclass(frozen=True)
class TargetState:
    iqn: str
    has_tpg: bool
    enabled: bool = False
    portals: frozenset[Portal] = frozenset()
    attributes: dict[str, str] = field(default_factory=dict)
    luns: dict[int, LunState] = field(default_factory=dict)
    acls: dict[str, AclState] = field(default_factory=dict)

    def sessions(self) -> list[SessionState]:
        return [a.session for a in self.acls.values() if a.session is not None and a.session.logged_in]


@dataclass(frozen=True)
class DiscoveryAuthState:
    enabled: bool
    chap: ChapCredentials = NO_CHAP


@dataclass(frozen=True)
class LunStats:
    iqn: str
    lun: int
    backstore: str
    commands: int
    read_bytes: int
    write_bytes: int


class LioEdge(Protocol):
    def prepare(self, dbroot: str = "") -> str:
        """Load the target modules, create ``<dbroot>/pr`` (PERSISTENT RESERVE); return the dbroot."""
        ...

    # reads
    def list_backstores(self) -> list[BackstoreState]: ...
    def list_targets(self) -> list[TargetState]: ...
    def get_discovery_auth(self) -> DiscoveryAuthState: ...
    def read_lun_stats(self) -> list[LunStats]: ...

    # backstores and ALUA groups
    def create_backstore(self, spec: DesiredBackstore) -> None: ...
    def delete_backstore(self, name: str) -> None: ...
    def set_backstore_attribute(self, name: str, key: str, value: str) -> None: ...
    def create_alua_group(self, backstore: str, name: str, group_id: int) -> None: ...
    def set_alua_group(self, backstore: str, name: str, state_code: int, access_type: int) -> None: ...
    def delete_alua_group(self, backstore: str, name: str) -> None: ...

    # targets (TPG 1 of each)
    def create_target(self, iqn: str) -> None:
        """Create the target and its TPG, disabled."""
        ...

    def delete_target(self, iqn: str) -> None: ...
    def set_tpg_enabled(self, iqn: str, enabled: bool) -> None: ...
    def set_tpg_attribute(self, iqn: str, key: str, value: str) -> None: ...
    def create_lun(self, iqn: str, lun: int, backstore: str) -> None: ...
    def delete_lun(self, iqn: str, lun: int) -> None: ...
    def set_lun_alua_group(self, iqn: str, lun: int, group: str) -> None: ...
    def create_portal(self, iqn: str, portal: Portal) -> None: ...
    def delete_portal(self, iqn: str, portal: Portal) -> None: ...
    def create_acl(self, iqn: str, initiator: str) -> None: ...
    def delete_acl(self, iqn: str, initiator: str) -> None: ...
    def set_acl_chap(self, iqn: str, initiator: str, chap: ChapCredentials) -> None: ...
    def create_mapped_lun(self, iqn: str, initiator: str, mapped_lun: int, tpg_lun: int) -> None: ...
    def delete_mapped_lun(self, iqn: str, initiator: str, mapped_lun: int) -> None: ...
    def set_discovery_auth(self, enabled: bool, chap: ChapCredentials) -> None: ...
