"""Time as nearpath writes and reads it: UTC, RFC 3339 with a ``Z`` (the Kubernetes form)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

Precision = Literal["seconds", "milliseconds", "microseconds"]


def utc_now() -> datetime:
    """The current time, timezone-aware in UTC (every component's default clock)."""
    return datetime.now(UTC)


def rfc3339(moment: datetime, precision: Precision = "microseconds") -> str:
    """``2025-11-02T10:00:00.123456Z``: Kubernetes' MicroTime (``seconds``: its Time)."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.isoformat(timespec=precision).replace("+00:00", "Z")


def now_rfc3339() -> str:
    return rfc3339(utc_now())


def parse_time(value: str | None) -> datetime | None:
    """An RFC 3339 time as the API server writes it; None for an empty value."""
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))
