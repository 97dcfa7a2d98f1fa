"""Initiator-side checks: iscsid, multipathd, open-iscsi versions, the initiator name."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from nearpath.core import identifiers as ids
from nearpath.preflight import requirements as req
from nearpath.preflight.facts import HostFacts
from nearpath.preflight.model import CheckResult, failed, passed, warned

_VERSION_RE = re.compile(r"version\s+(\S+)")


def check_iscsid(facts: HostFacts) -> CheckResult:
    name = "iscsid"
    pids = facts["iscsid_pids"]
    sockets = facts["unix_sockets"].stdout
    fix = "apt-get install open-iscsi (RHEL: iscsi-initiator-utils); systemctl enable --now iscsid.socket iscsid"
    if not pids.ok or not pids.stdout.strip():
        return failed(name, "iscsid is not running: iSCSI logins need it", fix)
    if req.ISCSID_SOCKET not in sockets:
        return failed(
            name,
            f"iscsid runs but its socket {req.ISCSID_SOCKET} is not in the host's network namespace "
            "(is iscsid running inside a container?)",
            "run iscsid on the host: " + fix,
        )
    return passed(name, f"running (pid {pids.stdout.split()[0]}), socket reachable")


def check_multipathd(facts: HostFacts) -> CheckResult:
    name = "multipathd"
    status = facts["multipathd_status"]
    fix = (
        "apt-get install multipath-tools (RHEL: device-mapper-multipath; mpathconf --enable); "
        "systemctl enable --now multipathd"
    )
    if status.missing:
        return failed(name, "multipathd is not installed", fix)
    text = (status.stdout + status.stderr).lower()
    if not status.ok or "can't connect" in text or "error" in text or "not running" in text:
        return failed(name, f"multipathd does not answer: {status.detail()}", fix)
    return passed(name, "running and answering `multipathd show status`")


def _version(text: str) -> str | None:
    match = _VERSION_RE.search(text)
    return match.group(1) if match else None


def check_iscsi_versions(facts: HostFacts) -> CheckResult:
    name = "open-iscsi version"
    adm, daemon = facts["iscsiadm_version"], facts["iscsid_version"]
    if adm.missing:
        return failed(name, "iscsiadm is not installed", "apt-get install open-iscsi (RHEL: iscsi-initiator-utils)")
    adm_version = _version(adm.stdout + adm.stderr)
    daemon_version = _version(daemon.stdout + daemon.stderr) if daemon.ok else None
    if adm_version is None:
        return failed(name, f"cannot tell iscsiadm's version: {adm.detail()}", "reinstall open-iscsi")
    if daemon_version is None:
        return warned(
            name,
            f"iscsiadm {adm_version}; iscsid's version unknown ({daemon.detail()})",
            "install iscsiadm and iscsid from the same open-iscsi package",
        )
    if daemon_version != adm_version:
        return failed(
            name,
            f"iscsiadm {adm_version} and iscsid {daemon_version} differ: their IPC is version-specific",
            "install iscsiadm and iscsid from one open-iscsi package, then restart iscsid",
        )
    return passed(name, f"iscsiadm and iscsid {adm_version}")


def initiator_name(facts: HostFacts) -> str | None:
    outcome = facts["initiator_name"]
    if not outcome.ok:
        return None
    for line in outcome.stdout.splitlines():
        key, sep, value = line.strip().partition("=")
        if sep and key.strip() == "InitiatorName":
            return value.strip()
    return None


def check_initiator_name(facts: HostFacts) -> CheckResult:
    name = "initiator name"
    path = req.INITIATOR_NAME_FILE
    fix = f'give this host its own name: echo "InitiatorName=$(iscsi-iname)" > {path}; systemctl restart iscsid'
    if not facts["initiator_name"].ok:
        return failed(name, f"{path} cannot be read ({facts['initiator_name'].detail()})", fix)
    value = initiator_name(facts)
    if value is None:
        return failed(name, f"{path} has no InitiatorName= line (GenerateName not processed yet?)", fix)
    if not ids.is_initiator_name(value):
        return failed(name, f"{path} holds {value!r}, not a valid iSCSI name", fix)
    if value in req.PLACEHOLDER_INITIATOR_NAMES or value.endswith(":"):
        return failed(name, f"{value} is the package's placeholder, not a name unique to this host", fix)
    return passed(name, value)


@dataclass(frozen=True)
class PeerInitiator:
    node: str
    initiator: str
    boot_id: str
    """The kernel's boot id: nodes that share one kernel (kind) share its initiator legitimately."""


def check_unique_initiator(me: PeerInitiator, peers: Sequence[PeerInitiator]) -> CheckResult:
    """Duplicates across nodes (cloned images): targets then mix the nodes' sessions and ACLs."""
    name = "initiator name unique"
    clashes = sorted(
        p.node for p in peers if p.node != me.node and p.initiator == me.initiator and p.boot_id != me.boot_id
    )
    if clashes:
        return failed(
            name,
            f"{me.initiator} is also the initiator name of {', '.join(clashes)}: targets would take one "
            "node's sessions for the other's (logins kick each other out, ACLs grant both)",
            f"generate a new name on every clone: echo InitiatorName=$(iscsi-iname) > {req.INITIATOR_NAME_FILE}; "
            "systemctl restart iscsid",
        )
    return passed(name, f"no other node reports {me.initiator}")
