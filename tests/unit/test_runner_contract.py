"""The fake runner behaves like the host runner: the same commands with the same outcomes give
the same results and the same errors (exit-code check, masking of secrets in argv and output,
timeouts). The host side runs real commands (``sh``, ``sleep``) on this machine; the fake is
told the outcome the real command has. A fake that disagrees fails here."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from nearpath.core.errors import CommandError
from nearpath.core.fake_runner import FakeRunner
from nearpath.core.runner import HostRunner

pytestmark = pytest.mark.unit

SECRET = "s3cret-pass-0001"


@dataclass(frozen=True)
class Case:
    script: str
    """What the real command does (``sh -c``)."""
    rc: int
    stdout: str
    stderr: str
    ok_codes: tuple[int, ...] = (0,)
    secrets: tuple[str, ...] = ()
    args: tuple[str, ...] = ()
    timeout: float = 10.0
    times_out: bool = False


CASES = {
    "success": Case("echo out; echo err >&2", 0, "out\n", "err\n"),
    "accepted non-zero exit": Case("echo partial; exit 3", 3, "partial\n", "", ok_codes=(0, 3)),
    "refused exit, last stderr line in the message": Case("echo one >&2; echo two >&2; exit 2", 2, "", "one\ntwo\n"),
    "refused exit, stdout when stderr is empty": Case("echo only-out; exit 1", 1, "only-out\n", ""),
    "secrets masked in argv, output and message": Case(
        'echo "user $1"; echo "bad password $1" >&2; exit 24',
        24,
        f"user {SECRET}\n",
        f"bad password {SECRET}\n",
        secrets=(SECRET,),
        args=(SECRET,),
    ),
    "timeout": Case("sleep 5", 0, "", "", timeout=0.5, times_out=True),
}


def observe(call: Any) -> tuple[Any, ...]:
    try:
        result = call()
    except CommandError as err:
        return ("error", type(err).__name__, str(err), err.argv, err.returncode, err.stdout, err.stderr)
    return ("result", result.argv, result.returncode, result.stdout, result.stderr)


def run_on(runner: Any, case: Case) -> tuple[Any, ...]:
    argv = ["sh", "-c", case.script, "contract", *case.args]
    return observe(lambda: runner.run(argv, timeout=case.timeout, ok_codes=case.ok_codes, secrets=case.secrets))


@pytest.mark.parametrize("name", sorted(CASES))
def test_fake_runner_answers_like_the_host_runner(name: str) -> None:
    case = CASES[name]
    fake = FakeRunner(strict=True).on("sh", rc=case.rc, stdout=case.stdout, stderr=case.stderr, timeout=case.times_out)
    real = run_on(HostRunner(), case)
    assert run_on(fake, case) == real
    if case.secrets:
        assert SECRET not in repr(real), "the host runner leaked a secret"
