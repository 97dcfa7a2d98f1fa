"""The one kubectl wrapper of the test tiers (control plane, csi-sanity, e2e)."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from pathlib import Path


class KubectlError(AssertionError):
    """A kubectl command that had to succeed failed (a test failure)."""


def run_kubectl(
    binary: str | Path,
    kubeconfig: str | Path,
    args: Sequence[str],
    *,
    input: str | None = None,
    timeout: float = 60.0,
    check: bool = False,
    request_timeout: bool = True,
    options: Sequence[str] = (),
) -> subprocess.CompletedProcess[str]:
    """``kubectl --kubeconfig=K [--request-timeout] [options] args``; text output captured.

    ``request_timeout`` bounds each API request by ``timeout`` (off for ``exec``/``logs -f``,
    which stream); the process itself gets 15 s more. ``check`` raises :class:`KubectlError`
    with stderr on a non-zero exit.
    """
    cmd = [str(binary), f"--kubeconfig={kubeconfig}", *options]
    if request_timeout:
        cmd.append(f"--request-timeout={int(timeout)}s")
    cmd += list(args)
    proc = subprocess.run(cmd, input=input, capture_output=True, text=True, timeout=timeout + 15, check=False)
    if check and proc.returncode != 0:
        raise KubectlError(f"kubectl {' '.join(args)} failed ({proc.returncode}): {proc.stderr.strip()[:2000]}")
    return proc
