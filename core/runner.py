"""The one way nearpath runs host commands.

Every call states its argv (a list: no shell), its timeout and the exit codes it accepts.
Secrets passed in ``secrets`` are masked in logs, in errors and in the returned result's
``argv``. A command that exits with an unaccepted code raises :class:`CommandFailed`; one
that runs past its timeout is killed and raises :class:`CommandTimeout`.
"""

from __future__ import annotations

import logging
import subprocess
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from nearpath.core.errors import CommandFailed, CommandTimeout
from nearpath.core.masking import mask_argv, mask_text

log = logging.getLogger("nearpath.runner")


@dataclass(frozen=True)
class CommandResult:
    argv: list[str]
    """The argv as run, with secrets masked."""
    returncode: int
    stdout: str
    stderr: str
    duration_seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.returncode == 0


class Runner(Protocol):
    def run(
        self,
        argv: Sequence[str],
        *,
        timeout: float,
        ok_codes: Iterable[int] = (0,),
        secrets: Iterable[str] = (),
        input: str | None = None,
        env: Mapping[str, str] | None = None,
    ) -> CommandResult: ...


class HostRunner:
    """Runs commands on this host with :mod:`subprocess`."""

    def run(
        self,
        argv: Sequence[str],
        *,
        timeout: float,
        ok_codes: Iterable[int] = (0,),
        secrets: Iterable[str] = (),
        input: str | None = None,
        env: Mapping[str, str] | None = None,
    ) -> CommandResult:
        secret_list = [s for s in secrets if s]
        accepted = frozenset(ok_codes)
        shown = mask_argv(argv, secret_list)
        started = time.monotonic()
        try:
            proc = subprocess.run(
                list(argv),
                input=input,
                capture_output=True,
                text=True,
                timeout=timeout,
                env=dict(env) if env is not None else None,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            out = _text(exc.stdout)
            err = _text(exc.stderr)
            log.warning("command timed out", extra={"argv": shown, "timeout_seconds": timeout})
            # from None: the subprocess error carries the unmasked argv and output.
            raise timed_out(shown, timeout, mask_text(out, secret_list), mask_text(err, secret_list)) from None
        except FileNotFoundError as exc:
            raise CommandFailed(
                f"{shown[0]}: command not found", argv=shown, returncode=127, stdout="", stderr=""
            ) from exc
        duration = time.monotonic() - started
        result = CommandResult(
            argv=shown,
            returncode=proc.returncode,
            stdout=mask_text(proc.stdout, secret_list),
            stderr=mask_text(proc.stderr, secret_list),
            duration_seconds=duration,
        )
        log.debug(
            "command finished",
            extra={"argv": shown, "returncode": proc.returncode, "duration_seconds": round(duration, 3)},
        )
        return check_exit(result, accepted)


def check_exit(result: CommandResult, accepted: frozenset[int]) -> CommandResult:
    """``result`` if its exit code is accepted, else :class:`CommandFailed` with the output's last line."""
    if result.returncode in accepted:
        return result
    detail = (result.stderr or result.stdout).strip().splitlines()
    tail = detail[-1] if detail else ""
    raise CommandFailed(
        f"{result.argv[0]} exited with {result.returncode}: {tail}",
        argv=result.argv,
        returncode=result.returncode,
        stdout=result.stdout,
        stderr=result.stderr,
    )


def timed_out(shown: list[str], timeout: float, stdout: str, stderr: str) -> CommandTimeout:
    """The error for a command (masked argv ``shown``) killed after ``timeout`` seconds."""
    return CommandTimeout(
        f"{shown[0]} did not finish within {timeout:g} s", argv=shown, returncode=None, stdout=stdout, stderr=stderr
    )


def _text(data: bytes | str | None) -> str:
    if data is None:
        return ""
    if isinstance(data, bytes):
        return data.decode(errors="replace")
    return data
