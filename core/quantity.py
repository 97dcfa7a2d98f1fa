"""Kubernetes resource quantities for byte sizes ("10Gi", "500M", 1073741824)."""

from __future__ import annotations

import re
from decimal import Decimal

from nearpath.core.errors import InvalidArgument

# The subset of Kubernetes quantities that make sense for sizes: no sign, no exponent,
# no milli units.
QUANTITY_PATTERN = r"^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$"
_QUANTITY_RE = re.compile(QUANTITY_PATTERN)

_MULTIPLIERS: dict[str, int] = {
    "": 1,
    "Ki": 1 << 10,
    "Mi": 1 << 20,
    "Gi": 1 << 30,
    "Ti": 1 << 40,
    "Pi": 1 << 50,
    "Ei": 1 << 60,
    "k": 10**3,
    "M": 10**6,
    "G": 10**9,
    "T": 10**12,
    "P": 10**15,
    "E": 10**18,
}

MI = 1 << 20
GI = 1 << 30


def is_quantity(value: object) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return value >= 0
    return isinstance(value, str) and _QUANTITY_RE.match(value) is not None


def parse_bytes(value: int | str) -> int:
    """Bytes in a quantity; fractional bytes round up (as Kubernetes does)."""
    if isinstance(value, bool):
        raise InvalidArgument(f"not a quantity: {value!r}")
    if isinstance(value, int):
        if value < 0:
            raise InvalidArgument(f"quantity must not be negative: {value}")
        return value
    match = _QUANTITY_RE.match(value)
    if match is None:
        raise InvalidArgument(f"not a quantity (e.g. 10Gi, 500Mi, 1073741824): {value!r}")
    suffix = match.group(2) or ""
    number = Decimal(value[: len(value) - len(suffix)])
    scaled = number * _MULTIPLIERS[suffix]
    whole = int(scaled)
    return whole if whole == scaled else whole + 1


def format_bytes(size: int) -> str:
    """The shortest exact binary-suffixed quantity for ``size`` bytes."""
    for suffix in ("Ei", "Pi", "Ti", "Gi", "Mi", "Ki"):
        unit = _MULTIPLIERS[suffix]
        if size >= unit and size % unit == 0:
            return f"{size // unit}{suffix}"
    return str(size)
