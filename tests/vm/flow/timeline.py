"""The I/O completion timeline of one failover case, for pictures: when each write completed (the
workload's log, consumer clock), the fault instant, and when the kernel failed a path over
(dm-multipath's "Failing path" messages in the consumer's kernel log, same clock: both count
seconds since boot in a guest that never suspends)."""

from __future__ import annotations

import re
from dataclasses import dataclass

_FAILING = re.compile(r"^\[\s*(\d+\.\d+)\].*multipath.*[Ff]ailing path")


@dataclass(frozen=True)
class Timeline:
    t_fault: float
    completions: tuple[float, ...]
    errors: tuple[float, ...]
    path_failures: tuple[float, ...]

    def latencies(self) -> list[tuple[float, float]]:
        """(completion time relative to the fault, seconds since the previous completion): the
        workload is one closed-loop writer, so that is each write's latency."""
        out = []
        for before, after in zip(self.completions, self.completions[1:], strict=False):
            out.append((after - self.t_fault, after - before))
        return out

    def resumed_after(self) -> float | None:
        """End of the longest gap at or after the fault, relative to it: I/O runs on the new path."""
        pairs = [(b - a, b) for a, b in zip(self.completions, self.completions[1:], strict=False) if b >= self.t_fault]
        return max(pairs)[1] - self.t_fault if pairs else None


def parse(log: str, t_fault: float, kernel_log: str = "") -> Timeline:
    oks: list[float] = []
    errs: list[float] = []
    for line in log.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[1] == "ok":
            oks.append(float(parts[0]))
        elif len(parts) >= 2 and parts[1] == "err":
            errs.append(float(parts[0]))
    failing = []
    for line in kernel_log.splitlines():
        match = _FAILING.match(line)
        if match and oks and oks[0] <= float(match.group(1)) <= oks[-1]:
            failing.append(float(match.group(1)))
    return Timeline(t_fault, tuple(oks), tuple(errs), tuple(failing))
