"""The preflight's vocabulary: roles, check results and the report."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import asdict, dataclass


class Role(enum.StrEnum):
    TARGET = "target"
    """A node that serves VolumeGroups (the LIO target agent)."""
    NODE = "node"
    """A node that attaches volumes (the CSI node plugin)."""
    ALL = "all"

    def includes(self, other: Role) -> bool:
        return self is Role.ALL or self is other


class Status(enum.StrEnum):
    PASS = "pass"  # noqa: S105 (a status, not a password)
    WARN = "warn"
    """A risk nearpath works with, but an admin should fix."""
    FAIL = "fail"
    """The data path cannot work on this host."""


@dataclass(frozen=True)
class CheckResult:
    name: str
    status: Status
    message: str
    fix: str = ""
    """How to fix it (empty when it passed)."""

    def line(self) -> str:
        text = f"{self.status.value.upper():4}  {self.name}: {self.message}"
        return f"{text}\n      fix: {self.fix}" if self.fix else text


def passed(name: str, message: str) -> CheckResult:
    return CheckResult(name, Status.PASS, message)


def warned(name: str, message: str, fix: str) -> CheckResult:
    return CheckResult(name, Status.WARN, message, fix)


def failed(name: str, message: str, fix: str) -> CheckResult:
    return CheckResult(name, Status.FAIL, message, fix)


@dataclass(frozen=True)
class Report:
    node: str
    role: Role
    results: tuple[CheckResult, ...]

    def with_results(self, extra: Sequence[CheckResult]) -> Report:
        return Report(self.node, self.role, (*self.results, *extra))

    def problems(self, strict: bool = False) -> list[CheckResult]:
        """Results that make the preflight fail (warnings too when ``strict``)."""
        bad = {Status.FAIL, Status.WARN} if strict else {Status.FAIL}
        return [r for r in self.results if r.status in bad]

    def status(self) -> Status:
        found = {r.status for r in self.results}
        for status in (Status.FAIL, Status.WARN):
            if status in found:
                return status
        return Status.PASS

    def summary(self) -> str:
        failing = [r.name for r in self.results if r.status is not Status.PASS]
        if not failing:
            return f"all {len(self.results)} checks passed"
        counts = {s: sum(r.status is s for r in self.results) for s in Status}
        return (
            f"{counts[Status.FAIL]} failed, {counts[Status.WARN]} warned, {counts[Status.PASS]} passed: "
            + ", ".join(failing)
        )

    def text(self) -> str:
        head = f"nearpath preflight on {self.node or 'this host'} (role {self.role.value}): {self.summary()}"
        return "\n".join([head, *(r.line() for r in self.results)]) + "\n"

    def to_dict(self) -> dict[str, object]:
        return {
            "node": self.node,
            "role": self.role.value,
            "status": self.status().value,
            "results": [{**asdict(r), "status": r.status.value} for r in self.results],
        }
