"""Domain errors shared by every component.

Each error carries a :class:`ErrorKind`; the CSI driver maps kinds to gRPC codes in one
place and the operator/agent turn them into conditions. Messages are written for a storage
admin: they say what is wrong and, where possible, what to do about it. They never hold
secrets.
"""

from __future__ import annotations

import enum
from collections.abc import Callable


class ErrorKind(enum.Enum):
    INVALID_ARGUMENT = "InvalidArgument"
    NOT_FOUND = "NotFound"
    ALREADY_EXISTS = "AlreadyExists"
    FAILED_PRECONDITION = "FailedPrecondition"
    OUT_OF_RANGE = "OutOfRange"
    ABORTED = "Aborted"
    UNAVAILABLE = "Unavailable"
    DEADLINE_EXCEEDED = "DeadlineExceeded"
    RESOURCE_EXHAUSTED = "ResourceExhausted"
    UNIMPLEMENTED = "Unimplemented"
    INTERNAL = "Internal"


class NearpathError(Exception):
    """Base of every error nearpath raises on purpose."""

    kind: ErrorKind = ErrorKind.INTERNAL

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidArgument(NearpathError):
    kind = ErrorKind.INVALID_ARGUMENT


class InvalidSpec(InvalidArgument):
    """A VolumeGroup (or another API object) does not validate.

    ``field_errors`` holds ``(field path, message)`` pairs, paths rendered the way the API
    server renders them (``spec.disks[0].size``).
    """

    def __init__(self, field_errors: list[tuple[str, str]]) -> None:
        self.field_errors = field_errors
        super().__init__("; ".join(f"{path}: {msg}" for path, msg in field_errors))


class NotFound(NearpathError):
    kind = ErrorKind.NOT_FOUND


class AlreadyExists(NearpathError):
    kind = ErrorKind.ALREADY_EXISTS


class FailedPrecondition(NearpathError):
    kind = ErrorKind.FAILED_PRECONDITION


class OutOfRange(NearpathError):
    kind = ErrorKind.OUT_OF_RANGE


class Aborted(NearpathError):
    """Another operation on the same object is in flight; retry later."""

    kind = ErrorKind.ABORTED


class Conflict(NearpathError):
    """The object changed since it was read (resourceVersion mismatch); re-read and retry."""

    kind = ErrorKind.ABORTED


class Unavailable(NearpathError):
    kind = ErrorKind.UNAVAILABLE


class DeadlineExceeded(NearpathError):
    kind = ErrorKind.DEADLINE_EXCEEDED


class ResourceExhausted(NearpathError):
    kind = ErrorKind.RESOURCE_EXHAUSTED


class Unimplemented(NearpathError):
    kind = ErrorKind.UNIMPLEMENTED


class CommandError(NearpathError):
    """A host command failed or timed out. ``argv`` is already masked."""

    kind = ErrorKind.INTERNAL

    def __init__(self, message: str, *, argv: list[str], returncode: int | None, stdout: str, stderr: str) -> None:
        super().__init__(message)
        self.argv = argv
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr


class CommandFailed(CommandError):
    """The command exited with a code the call site did not accept."""


class CommandTimeout(CommandError):
    """The command did not finish within its timeout and was killed."""

    kind = ErrorKind.DEADLINE_EXCEEDED


class CleanupFailed(NearpathError):
    """Some steps of a cleanup failed while the others ran (os-brick's way: clean up everything
    that can be, then report every failure at once). ``failures`` lists ``(step, error)`` in the
    order they happened; the kind is the failures' common kind (else INTERNAL)."""

    def __init__(self, what: str, failures: list[tuple[str, Exception]]) -> None:
        self.failures = failures
        steps = "; ".join(f"{step}: {_describe(err)}" for step, err in failures)
        super().__init__(f"{what}: {len(failures)} step(s) failed, the others were done ({steps})")
        kinds = {err.kind if isinstance(err, NearpathError) else ErrorKind.INTERNAL for _step, err in failures}
        self.kind = kinds.pop() if len(kinds) == 1 else ErrorKind.INTERNAL


class Cleanup:
    """Runs cleanup steps past their failures and raises one :class:`CleanupFailed` at the end."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.failures: list[tuple[str, Exception]] = []

    def step(self, name: str, action: Callable[[], object]) -> bool:
        """Run ``action``; on a :class:`NearpathError` or ``OSError`` record it and go on. True if it worked."""
        try:
            action()
        except (NearpathError, OSError) as exc:
            self.failures.append((name, exc))
            return False
        return True

    def raise_failures(self) -> None:
        if self.failures:
            raise CleanupFailed(self.what, self.failures) from self.failures[0][1]


def _describe(err: Exception) -> str:
    return err.message if isinstance(err, NearpathError) else f"{type(err).__name__}: {err}"
