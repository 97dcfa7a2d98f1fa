"""dm-multipath configuration checks: settings in /etc/multipath.conf that break nearpath."""

from __future__ import annotations

from nearpath.preflight import requirements as req
from nearpath.preflight.facts import HostFacts
from nearpath.preflight.model import CheckResult, Role, failed, passed, warned
from nearpath.preflight.multipath_config import Section, device_matches, matches, parse

NAME = "multipath.conf"
LIO_PROPERTIES = ("ID_WWN", "ID_SERIAL", "SCSI_IDENT_LUN_NAA_REGEXT")


def check_multipath_config(facts: HostFacts, role: Role) -> list[CheckResult]:
    outcome = facts["multipath_config"]
    attaches = role.includes(Role.NODE)
    if outcome.missing and not attaches:
        return [passed(f"{NAME} find_multipaths", "multipath-tools is not installed: nothing claims served disks")]
    if outcome.missing:
        fix = "install multipath-tools (RHEL: device-mapper-multipath)"
        return [failed(NAME, "multipath-tools is not installed", fix)]
    if not outcome.ok:
        return [failed(NAME, f"cannot read the multipath configuration: {outcome.detail()}", "fix /etc/multipath.conf")]
    root = parse(outcome.stdout)
    results = [_config_dir(root), _friendly_names(root), _blacklist(root)] if attaches else []
    if role.includes(Role.TARGET):
        results.append(_find_multipaths(root))
    return results


def _config_dir(root: Section) -> CheckResult:
    name = f"{NAME} config_dir"
    found = root.section("defaults").get("config_dir") or req.MULTIPATH_DROPIN_DIR
    if found.rstrip("/") != req.MULTIPATH_DROPIN_DIR:
        return failed(
            name,
            f"config_dir is {found}: multipathd ignores the drop-in the node plugin writes "
            f"to {req.MULTIPATH_DROPIN_DIR}",
            f'remove config_dir from /etc/multipath.conf (or set config_dir "{req.MULTIPATH_DROPIN_DIR}")',
        )
    return passed(name, f"drop-ins are read from {found}")


def _friendly_names(root: Section) -> CheckResult:
    name = f"{NAME} user_friendly_names"
    forced = root.section("overrides").get("user_friendly_names")
    if forced in ("yes", "1"):
        return failed(
            name,
            "the overrides section sets user_friendly_names yes: volumes would appear as /dev/mapper/mpathN, "
            "the node plugin finds them as /dev/mapper/<WWID>",
            "remove user_friendly_names from the overrides section (nearpath's drop-in sets it to no for LIO-ORG)",
        )
    return passed(name, "LIO devices are named by WWID")


def _blacklist(root: Section) -> CheckResult:
    name = f"{NAME} blacklist"
    black, allow = root.section("blacklist"), root.section("blacklist_exceptions")
    hidden: list[str] = []
    fixes: list[str] = []
    for key, value, fix in (
        ("devnode", req.SAMPLE_SCSI_DISK, 'devnode "^sd[a-z]+"'),
        ("wwid", req.SAMPLE_WWID, 'wwid "^36001405"'),
    ):
        listed = [p for p in black.values(key) if matches(p, value)]
        if listed and not any(matches(p, value) for p in allow.values(key)):
            hidden.append(f'{key} "{listed[0]}" matches {value}')
            fixes.append(fix)
    products = req.LIO_PRODUCTS
    listed_devices = [
        d for d in black.sections("device") if any(device_matches(d, req.LIO_VENDOR, p) for p in products)
    ]
    excepted = any(device_matches(d, req.LIO_VENDOR, p) for d in allow.sections("device") for p in products)
    if listed_devices and not excepted:
        hidden.append(f'device vendor "{listed_devices[0].get("vendor")}" matches {req.LIO_VENDOR}')
        fixes.append(f'device {{ vendor "{req.LIO_VENDOR}" product ".*" }}')
    wanted_props = allow.values("property")
    if wanted_props and not any(matches(p, prop) for p in wanted_props for prop in LIO_PROPERTIES):
        hidden.append(f"blacklist_exceptions property {wanted_props} matches none of {', '.join(LIO_PROPERTIES)}")
        fixes.append('property "(SCSI_IDENT_|ID_WWN)"')
    if hidden:
        return failed(
            name,
            "the blacklist hides nearpath's LIO devices from multipathd: " + "; ".join(hidden),
            "add to /etc/multipath.conf: blacklist_exceptions { " + " ".join(fixes) + " }, then multipathd reconfigure",
        )
    return passed(name, "LIO-ORG devices are not blacklisted")


def _find_multipaths(root: Section) -> CheckResult:
    name = f"{NAME} find_multipaths"
    value = root.section("defaults").get("find_multipaths") or "strict"
    if value in ("no", "off", "greedy", "0"):
        return warned(
            name,
            f"find_multipaths {value}: multipathd claims every disk that is not blacklisted, including block "
            "devices this node's target exports (`shared` backing); LIO cannot open a disk multipath holds",
            'set find_multipaths "strict" (or "yes"/"smart") in defaults: nearpath adds its own WWIDs '
            "with `multipath -a`",
        )
    return passed(name, f"find_multipaths {value}")
