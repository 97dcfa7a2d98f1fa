"""Facts about a host, gathered through the core runner (nothing else touches the host).

Every fact is the outcome of one command; the checks parse them. A command that is missing
(exit 127), fails or times out is a fact too: the checks decide what it means. In a pod the
runner is wrapped by :class:`~nearpath.preflight.hostexec.HostNamespaceRunner`, so the same
commands see the host's files, processes, sockets and daemons.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from nearpath.core.errors import CommandFailed, CommandTimeout
from nearpath.core.runner import Runner
from nearpath.preflight import requirements as req
from nearpath.preflight.model import Role

ANY_CODE = range(256)
NOT_FOUND = 127


@dataclass(frozen=True)
class Outcome:
    argv: tuple[str, ...]
    returncode: int | None
    """None: the command timed out."""
    stdout: str = ""
    stderr: str = ""

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    @property
    def missing(self) -> bool:
        return self.returncode == NOT_FOUND

    def detail(self) -> str:
        """One line saying what went wrong (for messages)."""
        if self.returncode is None:
            return f"`{' '.join(self.argv)}` timed out"
        lines = (self.stderr.strip() or self.stdout.strip()).splitlines()
        tail = lines[-1] if lines else "no output"
        return f"`{' '.join(self.argv)}` exited with {self.returncode}: {tail}"


# fact name -> (roles that need it, argv)
COMMANDS: dict[str, tuple[tuple[Role, ...], tuple[str, ...]]] = {
    "modules": ((Role.TARGET, Role.NODE), ("cat", "/proc/modules")),
    "kernel_release": ((Role.TARGET, Role.NODE), ("uname", "-r")),
    "mounts": ((Role.TARGET,), ("cat", "/proc/mounts")),
    "unix_sockets": ((Role.NODE,), ("cat", "/proc/net/unix")),
    "iscsid_pids": ((Role.NODE,), ("pgrep", "-x", "iscsid")),
    "multipathd_status": ((Role.NODE,), ("multipathd", "show", "status")),
    "iscsiadm_version": ((Role.NODE,), ("iscsiadm", "--version")),
    "iscsid_version": ((Role.NODE,), ("iscsid", "--version")),
    "initiator_name": ((Role.NODE,), ("cat", req.INITIATOR_NAME_FILE)),
    "multipath_config": ((Role.TARGET, Role.NODE), ("multipath", "-t")),
    "boot_id": ((Role.NODE,), ("cat", "/proc/sys/kernel/random/boot_id")),
    "lvmconfig": ((Role.TARGET, Role.NODE), ("lvmconfig",)),
    "mdadm_version": ((Role.TARGET, Role.NODE), ("mdadm", "--version")),
    "mdadm_conf": ((Role.TARGET, Role.NODE), ("cat", *req.MDADM_CONF_FILES)),
    "timedatectl": ((Role.TARGET, Role.NODE), ("timedatectl", "show", "--property=NTPSynchronized", "--value")),
    "chronyc": ((Role.TARGET, Role.NODE), ("chronyc", "-n", "tracking")),
}


@dataclass(frozen=True)
class HostFacts:
    outcomes: Mapping[str, Outcome]
    module_loads: Mapping[str, Outcome] = field(default_factory=dict)
    """``modprobe`` of each needed module that was neither loaded nor built in (when loading)."""

    def __getitem__(self, name: str) -> Outcome:
        return self.outcomes[name]

    def loaded_modules(self) -> set[str]:
        return {line.split()[0] for line in self["modules"].stdout.splitlines() if line.strip()}

    def builtin_modules(self) -> set[str]:
        builtin = self.outcomes.get("modules_builtin")
        if builtin is None or not builtin.ok:
            return set()
        names = set()
        for line in builtin.stdout.splitlines():
            base = line.strip().rsplit("/", 1)[-1]
            if base.endswith(".ko"):
                names.add(base[: -len(".ko")].replace("-", "_"))
        return names


def run_one(runner: Runner, argv: tuple[str, ...], timeout: float) -> Outcome:
    try:
        res = runner.run(list(argv), timeout=timeout, ok_codes=ANY_CODE)
    except CommandTimeout as exc:
        return Outcome(argv, None, exc.stdout, exc.stderr)
    except CommandFailed as exc:  # not found (the runner reports 127)
        return Outcome(argv, exc.returncode if exc.returncode is not None else NOT_FOUND, exc.stdout, exc.stderr)
    return Outcome(argv, res.returncode, res.stdout, res.stderr)


def gather(runner: Runner, role: Role, *, load_modules: bool, timeout: float = 20.0) -> HostFacts:
    """Run the commands ``role`` needs; with ``load_modules``, modprobe needed modules not loaded yet."""
    outcomes: dict[str, Outcome] = {}
    for name, (roles, argv) in COMMANDS.items():
        if any(role.includes(r) for r in roles):
            outcomes[name] = run_one(runner, argv, timeout)
    release = outcomes["kernel_release"].stdout.strip()
    if outcomes["kernel_release"].ok and release:
        argv = ("cat", f"/lib/modules/{release}/modules.builtin")
        outcomes["modules_builtin"] = run_one(runner, argv, timeout)
    facts = HostFacts(outcomes)
    loads: dict[str, Outcome] = {}
    if load_modules:
        present = facts.loaded_modules() | facts.builtin_modules()
        wanted = {**req.modules_for(role), **req.optional_modules_for(role)}
        for module in wanted:
            if module not in present:
                loads[module] = run_one(runner, ("modprobe", module), timeout)
    return HostFacts(outcomes, loads)
