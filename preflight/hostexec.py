"""Run host commands from a pod: enter the namespaces of the host's PID 1.

The node plugin's and the target's init containers mount the host's ``/proc`` (or use
hostPID); ``nsenter`` into PID 1's mount, UTS, IPC and network namespaces then runs the host's
own binaries on the host's files, and reaches iscsid's and multipathd's abstract sockets the
way the node plugin's host-tool wrappers do.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from nearpath.core.runner import CommandResult, Runner

HOST_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def nsenter_prefix(host_proc: str) -> list[str]:
    ns = f"{host_proc.rstrip('/')}/1/ns"
    return [
        "nsenter",
        f"--mount={ns}/mnt",
        f"--uts={ns}/uts",
        f"--ipc={ns}/ipc",
        f"--net={ns}/net",
        "--",
        "env",
        f"PATH={HOST_PATH}",
    ]


class HostNamespaceRunner:
    """A :class:`~nearpath.core.runner.Runner` that runs every command in the host's namespaces."""

    def __init__(self, inner: Runner, host_proc: str) -> None:
        self.inner = inner
        self.prefix = nsenter_prefix(host_proc)

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
        return self.inner.run(
            [*self.prefix, *argv], timeout=timeout, ok_codes=ok_codes, secrets=secrets, input=input, env=env
        )
