"""VM tier: `nearpath preflight` on a real Debian host (real modules, configfs, iscsid,
multipathd, multipath-tools' own configuration reader): a complete host passes, and a host
missing each prerequisite in turn fails that check with what is missing and how to fix it.
One VM; each fault is injected on the real part and undone before the next.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.fixtures.vm import ClusterFactory
from tests.vm.harness import VM

pytestmark = [pytest.mark.vm, pytest.mark.full]  # long (7 min under TCG): make test-all

MODPROBE_BLOCK = "/etc/modprobe.d/np-preflight-test.conf"


def preflight(vm: VM, *args: str) -> tuple[int, dict[str, Any]]:
    res = vm.run(["python3", "-m", "nearpath", "preflight", "--json", *args], timeout=180)
    assert res.stdout.strip(), f"preflight printed nothing (rc {res.rc}): {res.stderr[-2000:]}"
    return res.rc, json.loads(res.stdout)


def by_status(report: dict[str, Any], status: str) -> dict[str, dict[str, Any]]:
    return {r["name"]: r for r in report["results"] if r["status"] == status}


def expect_failure(vm: VM, role: str, check: str, words: list[str], *args: str) -> None:
    rc, report = preflight(vm, "--role", role, *args)
    failed = by_status(report, "fail")
    assert rc == 1, report
    assert set(failed) == {check}, failed
    text = failed[check]["message"] + " " + failed[check]["fix"]
    for word in words:
        assert word in text, failed[check]
    assert failed[check]["fix"], failed[check]


def test_preflight_on_real_hosts(vm_cluster: ClusterFactory) -> None:
    (vm,) = vm_cluster(1)

    def sh(cmd: str) -> None:
        vm.run(cmd, timeout=120, check=True)

    # A complete host: every check passes or only warns (no NTP in the VM, mdadm without AUTO -all).
    for extra in ((), ("--host-proc", "/proc")):
        rc, report = preflight(vm, "--role", "all", *extra)
        assert rc == 0, by_status(report, "fail")
        assert by_status(report, "fail") == {}
        assert set(by_status(report, "warn")) <= {"time sync", "mdadm auto-assembly", "multipath.conf find_multipaths"}
        assert by_status(report, "pass")["iscsid"]["message"].startswith("running (pid ")
        assert by_status(report, "pass")["initiator name"]["message"] == vm.iqn

    # A kernel module that is not loaded and cannot be loaded.
    sh(f"rmmod iscsi_tcp && echo 'install iscsi_tcp /bin/false' > {MODPROBE_BLOCK}")
    expect_failure(vm, "node", "kernel module iscsi_tcp", ["cannot be loaded", "modprobe iscsi_tcp"])
    sh(f"rm {MODPROBE_BLOCK}")
    # ... not loaded, checking only: fails; allowed to load it: the preflight loads it.
    expect_failure(vm, "node", "kernel module iscsi_tcp", ["not loaded"], "--no-load-modules")
    rc, report = preflight(vm, "--role", "node")
    assert rc == 0 and "loaded by the preflight" in by_status(report, "pass")["kernel module iscsi_tcp"]["message"]
    assert vm.run("grep -q '^iscsi_tcp ' /proc/modules").rc == 0

    # configfs unmounted.
    sh("umount /sys/kernel/config")
    expect_failure(vm, "target", "configfs", ["not mounted", "mount -t configfs"])
    sh("mount -t configfs configfs /sys/kernel/config")

    # iscsid stopped (by pid: only the guest's own daemon).
    sh("kill $(pidof iscsid); for i in $(seq 50); do pidof iscsid >/dev/null || exit 0; sleep 0.1; done; exit 1")
    expect_failure(vm, "node", "iscsid", ["not running", "systemctl enable --now iscsid"])
    sh("iscsid")

    # multipathd stopped.
    sh("multipathd shutdown; for i in $(seq 50); do pidof multipathd >/dev/null || exit 0; sleep 0.1; done; exit 1")
    expect_failure(vm, "node", "multipathd", ["does not answer"])
    sh("multipathd")

    # multipath.conf that hides LIO devices, then one that renames maps.
    sh("cp /etc/multipath.conf /tmp/multipath.conf.orig")
    sh("printf 'blacklist {\\n    device {\\n        vendor \"LIO-ORG\"\\n    }\\n}\\n' >> /etc/multipath.conf")
    expect_failure(vm, "node", "multipath.conf blacklist", ["LIO-ORG", "blacklist_exceptions"])
    sh("cp /tmp/multipath.conf.orig /etc/multipath.conf")
    sh("printf 'overrides {\\n    user_friendly_names yes\\n}\\n' >> /etc/multipath.conf")
    expect_failure(vm, "node", "multipath.conf user_friendly_names", ["mpathN"])
    sh("cp /tmp/multipath.conf.orig /etc/multipath.conf")

    # The package's placeholder initiator name, then none at all.
    sh("cp /etc/iscsi/initiatorname.iscsi /tmp/initiatorname.orig")
    sh("echo 'InitiatorName=iqn.1993-08.org.debian:01:' > /etc/iscsi/initiatorname.iscsi")
    expect_failure(vm, "node", "initiator name", ["placeholder", "iscsi-iname"])
    sh("echo 'GenerateName=yes' > /etc/iscsi/initiatorname.iscsi")
    expect_failure(vm, "node", "initiator name", ["no InitiatorName= line"])
    sh("cp /tmp/initiatorname.orig /etc/iscsi/initiatorname.iscsi")

    # mdadm auto-assembly: a warning that --strict turns into a failure; AUTO -all clears it.
    sh("mkdir -p /etc/mdadm && touch /etc/mdadm/mdadm.conf && sed -i '/^AUTO/d' /etc/mdadm/mdadm.conf")
    rc, report = preflight(vm, "--role", "target", "--strict")
    assert rc == 1 and "mdadm auto-assembly" in by_status(report, "warn")
    sh("echo 'AUTO -all' >> /etc/mdadm/mdadm.conf")
    rc, report = preflight(vm, "--role", "target")
    assert rc == 0 and "mdadm auto-assembly" in by_status(report, "pass")

    # Everything restored: the complete host passes again.
    rc, report = preflight(vm, "--role", "all")
    assert rc == 0 and by_status(report, "fail") == {}
