"""The target agent's vocabulary: LIO codes, portals, device facts and the desired-state records.

Shared by the planner (:mod:`nearpath.target.desired`), the converger, the LIO edge
(:mod:`nearpath.target.lio` and its implementations), the device probe and the metrics, so the
edge and the probe never import the planner. Pure data: no I/O.
"""

from __future__ import annotations

import enum
import ipaddress
from dataclasses import dataclass

from nearpath.core.api import AluaMode, AluaState
from nearpath.core.chap import NO_CHAP, ChapCredentials
from nearpath.core.contract import ISCSI_PORT
from nearpath.core.errors import FailedPrecondition, InvalidArgument

TPG_TAG = 1

# SPC-4 asymmetric access state codes as LIO's alua_access_state takes them.
ALUA_STATE_CODES: dict[AluaState, int] = {
    AluaState.ACTIVE_OPTIMIZED: 0,
    AluaState.ACTIVE_NON_OPTIMIZED: 1,
    AluaState.STANDBY: 2,
    AluaState.UNAVAILABLE: 3,
    AluaState.OFFLINE: 14,
}
ALUA_STATES_BY_CODE = {code: state for state, code in ALUA_STATE_CODES.items()}
# alua_access_type: 1 implicit only; 3 implicit and explicit (SET TARGET PORT GROUPS allowed).
# LIO refuses configfs (implicit) state changes unless the implicit bit is set.
ALUA_ACCESS_TYPES: dict[AluaMode, int] = {AluaMode.IMPLICIT: 1, AluaMode.EXPLICIT: 3}

# Block limits nearpath reports for thin (UNMAP-capable) backstores, instead of inheriting
# the device's (a virtio disk advertises limits some initiators reject). Mirrors LIO's own
# fileio defaults; several descriptors per UNMAP are fine for both backends.
THIN_LIMITS: tuple[tuple[str, str], ...] = (
    ("max_unmap_lba_count", "8192"),
    ("max_unmap_block_desc_count", "16"),
    ("unmap_granularity", "1"),
    ("unmap_granularity_alignment", "0"),
)


class BackstoreKind(enum.StrEnum):
    BLOCK = "block"
    FILEIO = "fileio"


class TargetConfigError(FailedPrecondition):
    """The VolumeGroup cannot be served on this node as specified; the message says why."""


@dataclass(frozen=True)
class DeviceFacts:
    """What the agent found at a disk's path on this node."""

    exists: bool
    is_block: bool = False
    size_bytes: int = 0
    discard: bool = False
    """Block device that supports discard (UNMAP can be passed down)."""


@dataclass(frozen=True, order=True)
class Portal:
    ip: str
    port: int = ISCSI_PORT

    def __str__(self) -> str:
        host = f"[{self.ip}]" if ":" in self.ip else self.ip
        return f"{host}:{self.port}"

    @classmethod
    def parse(cls, text: str) -> Portal:
        """``ip``, ``ip:port``, ``[v6]`` or ``[v6]:port``."""
        value = text.strip()
        port = ISCSI_PORT
        if value.startswith("["):
            host, _, rest = value[1:].partition("]")
            if rest.startswith(":"):
                port = int(rest[1:])
        elif value.count(":") == 1:
            host, _, port_text = value.partition(":")
            port = int(port_text)
        else:
            host = value
        try:
            ipaddress.ip_address(host)
        except ValueError as exc:
            raise InvalidArgument(f"portal {text!r}: {host!r} is not an IP address") from exc
        if not 0 < port < 65536:
            raise InvalidArgument(f"portal {text!r}: port out of range")
        return cls(host, port)


@dataclass(frozen=True)
class DesiredBackstore:
    name: str
    kind: BackstoreKind
    path: str
    size_bytes: int
    serial: str
    attributes: tuple[tuple[str, str], ...]
    """In the order they must be written (limits before emulate_tpu)."""


@dataclass(frozen=True)
class DesiredAluaGroup:
    name: str
    group_id: int
    state: AluaState
    access_type: int

    @property
    def state_code(self) -> int:
        return ALUA_STATE_CODES[self.state]


@dataclass(frozen=True)
class DesiredLun:
    lun: int
    backstore: str


@dataclass(frozen=True)
class DesiredAcl:
    initiator: str
    mapped_luns: tuple[int, ...]
    chap: ChapCredentials = NO_CHAP


@dataclass(frozen=True)
class DesiredTarget:
    vg_key: str
    iqn: str
    backstores: tuple[DesiredBackstore, ...]
    alua_group: DesiredAluaGroup
    luns: tuple[DesiredLun, ...]
    acls: tuple[DesiredAcl, ...]
    portals: tuple[Portal, ...]
    tpg_attributes: tuple[tuple[str, str], ...]
    discovery_auth: ChapCredentials | None = None
    """Credentials for SendTargets discovery if the group asks for discovery authentication."""

    def secrets(self) -> list[str]:
        out = [s for acl in self.acls for s in acl.chap.secrets()]
        if self.discovery_auth is not None:
            out += self.discovery_auth.secrets()
        return out
