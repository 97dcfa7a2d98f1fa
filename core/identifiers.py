"""Names nearpath derives, and the syntax of names it accepts.

Naming scheme (documented in the README; the agent owns exactly these objects):

- target IQN per VolumeGroup per node:
  ``iqn.2025-11.io.nearpath:<namespace>:<name>:<node>``; when that would exceed the
  223-byte IQN limit, ``<node>`` becomes ``n-`` plus 16 hex digits of its SHA-256.
- LIO backstore per disk: ``np_<namespace>_<name>_<disk>`` (Kubernetes names hold no
  ``_``), or ``np_`` plus 24 hex digits of a hash when longer than 64 characters.
- ALUA target port group per node: ``np_pg<id>``, id >= 2 (id 1 is LIO's default group),
  unique per node within a VolumeGroup so initiators never merge two nodes' groups.
- unit serial per disk: 32 hex digits of SHA-256(uid/disk) unless the spec sets one. LIO
  builds the NAA identifier from the first 25 hex digits of the serial, so serials are
  unique in those; the multipath WWID is ``36001405`` followed by those 25 digits.
"""

from __future__ import annotations

import hashlib
import re

IQN_PREFIX = "iqn.2025-11.io.nearpath"
BACKSTORE_PREFIX = "np_"
PORT_GROUP_PREFIX = "np_pg"
LIO_NAA_PREFIX = "6001405"  # NAA 6, LIO's IEEE company id 0x001405
SERIAL_NAA_DIGITS = 25
MAX_IQN_LENGTH = 223
MIN_PORT_GROUP_ID = 2
MAX_PORT_GROUP_ID = 65535

DNS_LABEL_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
DNS_SUBDOMAIN_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
# RFC 3720/3721 initiator names: iqn.YYYY-MM.reversed.domain[:anything], eui.<16 hex>,
# naa.<16 or 32 hex>. IQNs are normalised to lower case.
IQN_PATTERN = (
    r"^iqn\.[0-9]{4}-(0[1-9]|1[0-2])\.[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*(:[a-z0-9.:_-]+)?$"
)
EUI_PATTERN = r"^eui\.[0-9a-fA-F]{16}$"
NAA_PATTERN = r"^naa\.([0-9a-fA-F]{16}|[0-9a-fA-F]{32})$"
INITIATOR_PATTERN = (
    r"^(iqn\.[0-9]{4}-(0[1-9]|1[0-2])\.[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*"
    r"(:[a-z0-9.:_-]+)?|eui\.[0-9a-fA-F]{16}|naa\.([0-9a-fA-F]{16}|[0-9a-fA-F]{32}))$"
)
SERIAL_PATTERN = r"^[0-9a-f]{25,32}$"

_INITIATOR_RE = re.compile(INITIATOR_PATTERN)
_DNS_LABEL_RE = re.compile(DNS_LABEL_PATTERN)
_DNS_SUBDOMAIN_RE = re.compile(DNS_SUBDOMAIN_PATTERN)


def is_initiator_name(name: str) -> bool:
    return len(name) <= MAX_IQN_LENGTH and _INITIATOR_RE.match(name) is not None


def is_dns_label(name: str) -> bool:
    return len(name) <= 63 and _DNS_LABEL_RE.match(name) is not None


def is_dns_subdomain(name: str) -> bool:
    return len(name) <= 253 and _DNS_SUBDOMAIN_RE.match(name) is not None


def _hex(text: str, digits: int) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:digits]


def target_iqn(namespace: str, name: str, node: str) -> str:
    iqn = f"{IQN_PREFIX}:{namespace}:{name}:{node}"
    if len(iqn) <= MAX_IQN_LENGTH:
        return iqn
    return f"{IQN_PREFIX}:{namespace}:{name}:n-{_hex(node, 16)}"


def is_nearpath_iqn(iqn: str) -> bool:
    return iqn.startswith(IQN_PREFIX + ":")


def is_node_iqn(iqn: str, node: str) -> bool:
    """Whether ``iqn`` is a nearpath target IQN of ``node`` (its last component names the node).

    Agents that share one configfs (kind's nodes are containers of one kernel) must only ever
    remove their own node's targets.
    """
    if not is_nearpath_iqn(iqn):
        return False
    last = iqn.rsplit(":", 1)[-1]
    return last == node or last == f"n-{_hex(node, 16)}"


def backstore_name(namespace: str, name: str, disk: str) -> str:
    plain = f"{BACKSTORE_PREFIX}{namespace}_{name}_{disk}"
    if len(plain) <= 64:
        return plain
    return BACKSTORE_PREFIX + _hex(f"{namespace}/{name}/{disk}", 24)


def is_nearpath_backstore(name: str) -> bool:
    return name.startswith(BACKSTORE_PREFIX)


def port_group_name(port_group_id: int) -> str:
    return f"{PORT_GROUP_PREFIX}{port_group_id}"


def default_serial(uid: str, disk: str) -> str:
    """The unit serial of a disk: stable for the VolumeGroup's lifetime, same on every node."""
    return _hex(f"{uid}/{disk}", 32)


def wwid_for_serial(serial: str) -> str:
    """The SCSI WWID (as udev and dm-multipath print it) LIO derives from a unit serial."""
    digits = "".join(c for c in serial.lower() if c in "0123456789abcdef")[:SERIAL_NAA_DIGITS]
    return "3" + LIO_NAA_PREFIX + digits.ljust(SERIAL_NAA_DIGITS, "0")
