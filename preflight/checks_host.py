"""Host-wide checks: LVM and mdadm auto-activation on nearpath devices, time synchronisation."""

from __future__ import annotations

import re

from nearpath.preflight import requirements as req
from nearpath.preflight.facts import HostFacts
from nearpath.preflight.model import CheckResult, passed, warned

_LVM_SETTING_RE = re.compile(r"^\s*(\w+)\s*=\s*(.*?)\s*$")
_LVM_PATTERN_RE = re.compile(r'"([ar])(.)(.*?)\2"')
LVM_FIX = (
    "in /etc/lvm/lvm.conf devices { global_filter = [ "
    '"r|^/dev/mapper/36001405|", "r|^/dev/disk/by-id/(wwn-0x|scsi-3)6001405|" ] } '
    "(or use_devicesfile = 1), then update-initramfs -u"
)


def _lvm_settings(text: str) -> dict[str, str]:
    out = {}
    for line in text.splitlines():
        match = _LVM_SETTING_RE.match(line)
        if match:
            out[match.group(1)] = match.group(2)
    return out


def _rejects_nearpath(filter_value: str) -> bool:
    """Whether the first pattern matching each nearpath device name rejects it."""
    patterns = [(kind, body) for kind, _sep, body in _LVM_PATTERN_RE.findall(filter_value)]
    for device in req.SAMPLE_DEVICE_NAMES:
        first = next((kind for kind, body in patterns if _search(body, device)), None)
        if first != "r":
            return False
    return bool(patterns)


def _search(pattern: str, value: str) -> bool:
    try:
        return re.search(pattern, value) is not None
    except re.error:
        return False


def check_lvm(facts: HostFacts) -> CheckResult:
    name = "LVM auto-activation"
    outcome = facts["lvmconfig"]
    if outcome.missing:
        return passed(name, "LVM is not installed: nothing auto-activates volumes on nearpath devices")
    if not outcome.ok:
        return warned(name, f"cannot read the LVM configuration: {outcome.detail()}", LVM_FIX)
    settings = _lvm_settings(outcome.stdout)
    if settings.get("use_devicesfile") == "1":
        return passed(name, "LVM only scans devices listed in its devices file")
    if settings.get("event_activation") == "0":
        return passed(name, "event-based auto-activation is off (event_activation = 0)")
    if "auto_activation_volume_list" in settings:
        return passed(name, "auto-activation is restricted by auto_activation_volume_list")
    for key in ("global_filter", "filter"):
        if key in settings and _rejects_nearpath(settings[key]):
            return passed(name, f"devices/{key} rejects nearpath devices")
    return warned(
        name,
        "LVM scans and auto-activates volume groups on every disk: a PV inside a nearpath volume (a VM's "
        "disk) would be activated on the host, which then holds the device open and unstage fails",
        LVM_FIX,
    )


def check_mdadm(facts: HostFacts) -> CheckResult:
    name = "mdadm auto-assembly"
    if facts["mdadm_version"].missing:
        return passed(name, "mdadm is not installed: nothing auto-assembles arrays on nearpath devices")
    for line in facts["mdadm_conf"].stdout.splitlines():
        words = line.split()
        if words and words[0].upper() == "AUTO" and "-all" in words[1:]:
            return passed(name, "mdadm.conf has AUTO -all")
    return warned(
        name,
        "mdadm assembles any md superblock it sees: an array inside a nearpath volume (or on a target "
        "node's `replicated` legs) would be assembled on the host and hold the device",
        f"add `AUTO -all` to {req.MDADM_CONF_FILES[0]}, then update-initramfs -u",
    )


def check_time_sync(facts: HostFacts) -> CheckResult:
    name = "time sync"
    why = "Lease expiry is judged across nodes: a skewed clock fails over healthy targets or misses dead ones"
    fix = "enable NTP: systemctl enable --now systemd-timesyncd (or chrony)"
    ntp = facts["timedatectl"]
    if ntp.ok and ntp.stdout.strip() == "yes":
        return passed(name, "synchronised (timedatectl)")
    chrony = facts["chronyc"]
    if chrony.ok and re.search(r"Leap status\s*:\s*Normal", chrony.stdout):
        return passed(name, "synchronised (chronyc)")
    if ntp.ok and ntp.stdout.strip() == "no":
        return warned(name, f"the clock is not synchronised: {why}", fix)
    if ntp.missing and chrony.missing:
        return warned(name, f"cannot tell (neither timedatectl nor chronyc): {why}", fix)
    return warned(name, f"not confirmed synchronised ({ntp.detail()}): {why}", fix)
