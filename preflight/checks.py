"""Every check a role needs, in the order an admin would fix them."""

from __future__ import annotations

from nearpath.preflight import checks_host, checks_initiator, checks_kernel, checks_multipath
from nearpath.preflight.facts import HostFacts
from nearpath.preflight.model import CheckResult, Role


def run_checks(facts: HostFacts, role: Role) -> list[CheckResult]:
    results = checks_kernel.check_modules(facts, role)
    if role.includes(Role.TARGET):
        results.append(checks_kernel.check_configfs(facts))
    if role.includes(Role.NODE):
        results += [
            checks_initiator.check_iscsid(facts),
            checks_initiator.check_multipathd(facts),
            checks_initiator.check_iscsi_versions(facts),
            checks_initiator.check_initiator_name(facts),
        ]
    results += checks_multipath.check_multipath_config(facts, role)
    results += [checks_host.check_lvm(facts), checks_host.check_mdadm(facts), checks_host.check_time_sync(facts)]
    return results
