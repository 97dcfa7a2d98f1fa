"""The host-command runner and its fake."""

from __future__ import annotations

import pytest

from nearpath.core.errors import CommandFailed, CommandTimeout
from nearpath.core.fake_runner import FakeRunner
from nearpath.core.runner import HostRunner

pytestmark = pytest.mark.unit


def test_runs_argv_without_a_shell() -> None:
    result = HostRunner().run(["echo", "a; echo b"], timeout=10)
    assert result.stdout == "a; echo b\n"
    assert result.ok


def test_unaccepted_exit_code_raises_with_masked_argv_and_output() -> None:
    with pytest.raises(CommandFailed) as caught:
        HostRunner().run(["sh", "-c", "echo s3cr3tpass >&2; exit 3", "s3cr3tpass"], timeout=10, secrets=["s3cr3tpass"])
    err = caught.value
    assert err.returncode == 3
    assert "s3cr3tpass" not in " ".join(err.argv) + err.stderr + err.message
    assert "***" in err.stderr


def test_accepted_codes_are_stated_at_the_call_site() -> None:
    result = HostRunner().run(["sh", "-c", "exit 21"], timeout=10, ok_codes=(0, 21))
    assert result.returncode == 21


def test_timeout_kills_and_raises() -> None:
    with pytest.raises(CommandTimeout):
        HostRunner().run(["sleep", "5"], timeout=0.2)


def test_missing_command_is_a_clear_error() -> None:
    with pytest.raises(CommandFailed, match="command not found"):
        HostRunner().run(["nearpath-no-such-command"], timeout=5)


def test_fake_runner_records_and_answers_by_prefix() -> None:
    fake = FakeRunner(strict=True)
    fake.on("iscsiadm", "-m", "session", rc=21, times=1)
    fake.on("iscsiadm", "-m", "session", stdout="tcp: [1] 10.0.0.1:3260,1 iqn.x (non-flash)\n")
    with pytest.raises(CommandFailed):
        fake.run(["iscsiadm", "-m", "session"], timeout=5)
    assert fake.run(["iscsiadm", "-m", "session"], timeout=5, ok_codes=(0, 21)).stdout.startswith("tcp:")
    assert fake.commands("iscsiadm") == [["iscsiadm", "-m", "session"]] * 2
    with pytest.raises(AssertionError, match="unexpected command"):
        fake.run(["multipath", "-ll"], timeout=5)


def test_fake_runner_masks_secrets_in_results() -> None:
    fake = FakeRunner().on("iscsiadm", stdout="password = hunter2hunter2")
    result = fake.run(["iscsiadm", "-v", "hunter2hunter2"], timeout=5, secrets=["hunter2hunter2"])
    assert "hunter2hunter2" not in result.stdout + " ".join(result.argv)
    assert fake.calls[0].secrets == ("hunter2hunter2",)


def test_fake_runner_timeouts() -> None:
    fake = FakeRunner().on("multipath", timeout=True)
    with pytest.raises(CommandTimeout):
        fake.run(["multipath", "-r"], timeout=1)
