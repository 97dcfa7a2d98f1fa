"""The one way tests start and stop processes (control plane, nearpath components, csi-sanity's driver).

:func:`start_process` starts a child in its own session (a Ctrl-C in the terminal reaches pytest
alone, which then stops children in order), output appended to a log file, with
``PR_SET_PDEATHSIG`` so even a SIGKILLed pytest leaves nothing behind; every PID is recorded in
:data:`STARTED_PROCESSES` (the control-plane plugin checks at session end that none survived).
:func:`start_nearpath` runs ``python -m nearpath ...`` from this checkout. The one stop rule is
:meth:`Proc.terminate`: SIGTERM, wait ``grace_s``, then SIGKILL.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]

STARTED_PROCESSES: dict[int, str] = {}
"""PID -> executable of every process the tests started in this interpreter."""

_PR_SET_PDEATHSIG = 1


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path
    exe: str

    @property
    def pid(self) -> int:
        return self.popen.pid

    def running(self) -> bool:
        return self.popen.poll() is None

    def tail(self, lines: int = 40) -> str:
        try:
            text = self.log.read_text(errors="replace")
        except FileNotFoundError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def terminate(self, grace_s: float = 10.0) -> int | None:
        """SIGTERM, then SIGKILL after ``grace_s``; the exit code (None when it had to be killed)."""
        if self.popen.poll() is not None:
            return self.popen.returncode
        self.popen.send_signal(signal.SIGTERM)
        try:
            return self.popen.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait(timeout=10.0)
            return None


def _die_with_parent() -> None:
    """In the child before exec: get SIGKILL when the starting thread dies, so even a
    SIGKILLed pytest leaves no process behind (start from the main thread)."""
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def start_process(
    name: str, argv: Sequence[str], log: Path, env: Mapping[str, str] | None = None, cwd: Path | None = None
) -> Proc:
    with log.open("ab") as out:
        popen = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent,  # noqa: PLW1509 - only calls prctl
            env=dict(env) if env is not None else None,
            cwd=cwd,
        )
    STARTED_PROCESSES[popen.pid] = argv[0]
    return Proc(name, popen, log, argv[0])


def start_nearpath(name: str, args: Sequence[str], log: Path, env: Mapping[str, str] | None = None) -> Proc:
    """``python -m nearpath <args>`` from this checkout (on PYTHONPATH), with ``env`` added."""
    full_env = {**os.environ, **(env or {}), "PYTHONPATH": str(REPO_ROOT)}
    return start_process(name, [sys.executable, "-m", "nearpath", *args], log, full_env, cwd=REPO_ROOT)
