"""The one poll helper of the test tiers."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class WaitTimeout(AssertionError):
    """What a test waited for did not happen in time (a test failure, not an error)."""


def wait_for(what: str, check: Callable[[], T], timeout_s: float, interval_s: float = 0.25) -> T:
    """Call ``check`` until it returns something truthy and return that; after ``timeout_s``
    raise :class:`WaitTimeout` naming ``what`` and the last value seen."""
    deadline = time.monotonic() + timeout_s
    while True:
        last = check()
        if last:
            return last
        if time.monotonic() >= deadline:
            raise WaitTimeout(f"{what}: not reached within {timeout_s:g} s (last: {str(last)[:300]})")
        time.sleep(interval_s)
