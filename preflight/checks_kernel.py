"""Kernel checks: modules (loaded, built in, or loadable) and configfs."""

from __future__ import annotations

from nearpath.preflight import requirements as req
from nearpath.preflight.facts import HostFacts
from nearpath.preflight.model import CheckResult, Role, Status, failed, passed, warned

PERSIST = "/etc/modules-load.d/nearpath.conf"


def check_modules(facts: HostFacts, role: Role) -> list[CheckResult]:
    if not facts["modules"].ok:
        return [
            failed(
                "kernel modules",
                f"cannot read the loaded modules: {facts['modules'].detail()}",
                "run the preflight as root with the host's /proc",
            )
        ]
    present = facts.loaded_modules() | facts.builtin_modules()
    wanted = [(m, why, Status.FAIL) for m, why in req.modules_for(role).items()]
    wanted += [(m, why, Status.WARN) for m, why in req.optional_modules_for(role).items()]
    return [_module(facts, module, why, severity, present) for module, why, severity in wanted]


def _module(facts: HostFacts, module: str, why: str, severity: Status, present: set[str]) -> CheckResult:
    name = f"kernel module {module}"
    if module in present:
        return passed(name, f"loaded ({why})")
    load = facts.module_loads.get(module)
    if load is not None and load.ok:
        return passed(name, f"loaded by the preflight ({why}); to load it at boot: echo {module} >> {PERSIST}")
    fix = (
        f"install the running kernel's modules (Debian: linux-image-$(uname -r); Ubuntu: "
        f"linux-modules-extra-$(uname -r)), remove any blacklist/install override of {module} in "
        f"/etc/modprobe.d, then `modprobe {module}` and `echo {module} >> {PERSIST}`"
    )
    if load is None:
        message = f"not loaded ({why} needs it)"
        fix = f"modprobe {module} && echo {module} >> {PERSIST}"
    else:
        message = f"not loaded and cannot be loaded ({why} needs it): {load.detail()}"
    if severity is Status.WARN:
        return warned(name, message + "; only later backings use it", fix)
    return failed(name, message, fix)


def check_configfs(facts: HostFacts) -> CheckResult:
    name = "configfs"
    mounts = facts["mounts"]
    if not mounts.ok:
        return failed(name, f"cannot read the mount table: {mounts.detail()}", "run the preflight as root")
    for line in mounts.stdout.splitlines():
        fields = line.split()
        if len(fields) >= 3 and fields[2] == "configfs" and fields[1] == req.CONFIGFS_MOUNT:
            return passed(name, f"mounted at {req.CONFIGFS_MOUNT}")
    return failed(
        name,
        f"configfs is not mounted at {req.CONFIGFS_MOUNT}: LIO is configured through it",
        f"mount -t configfs none {req.CONFIGFS_MOUNT} (systemd: systemctl start sys-kernel-config.mount)",
    )
