"""The preflight's checks over facts gathered through the fake runner: a complete host passes,
a host missing each prerequisite fails that check with what is missing and how to fix it."""

from __future__ import annotations

import pytest

from nearpath.core.fake_runner import FakeRunner
from nearpath.preflight.checks import run_checks
from nearpath.preflight.facts import gather
from nearpath.preflight.model import CheckResult, Role, Status
from tests.unit.preflight.hosts import MULTIPATH_T, HostSpec, without_module

pytestmark = pytest.mark.unit


def results(spec: HostSpec, role: Role = Role.ALL, load: bool = True) -> dict[str, CheckResult]:
    facts = gather(spec.runner(), role, load_modules=load)
    out = run_checks(facts, role)
    names = [r.name for r in out]
    assert len(names) == len(set(names)), names
    return {r.name: r for r in out}


def problems(spec: HostSpec, role: Role = Role.ALL, load: bool = True) -> dict[str, CheckResult]:
    return {n: r for n, r in results(spec, role, load).items() if r.status is not Status.PASS}


def test_complete_host_passes_every_check() -> None:
    found = results(HostSpec())
    assert {n: r.status for n, r in found.items() if r.status is not Status.PASS} == {}
    assert "kernel module scsi_dh_alua" in found
    assert "configfs" in found
    assert "initiator name" in found
    assert found["initiator name"].message == "iqn.1993-08.org.debian:01:5e1f2a3b4c5d"


def test_roles_check_only_what_they_need() -> None:
    target = results(HostSpec(), Role.TARGET)
    node = results(HostSpec(), Role.NODE)
    assert "configfs" in target and "configfs" not in node
    assert "iscsid" in node and "iscsid" not in target
    assert "kernel module target_core_mod" in target and "kernel module target_core_mod" not in node
    assert "kernel module iscsi_tcp" in node and "kernel module iscsi_tcp" not in target
    assert "multipath.conf find_multipaths" in target and "multipath.conf find_multipaths" not in node
    assert "multipath.conf blacklist" in node and "multipath.conf blacklist" not in target


def test_missing_module_is_loaded_when_loading_is_allowed() -> None:
    spec = without_module(HostSpec(), "iscsi_tcp")
    runner = spec.runner()
    facts = gather(runner, Role.NODE, load_modules=True)
    assert runner.commands("modprobe") == [["modprobe", "iscsi_tcp"]]
    (result,) = [r for r in run_checks(facts, Role.NODE) if r.name == "kernel module iscsi_tcp"]
    assert result.status is Status.PASS
    assert "modules-load.d" in result.message


def test_missing_module_fails_without_loading() -> None:
    bad = problems(without_module(HostSpec(), "dm_multipath"), Role.NODE, load=False)
    assert set(bad) == {"kernel module dm_multipath"}
    assert bad["kernel module dm_multipath"].status is Status.FAIL
    assert "modprobe dm_multipath" in bad["kernel module dm_multipath"].fix


def test_module_that_cannot_be_loaded_fails_with_modprobe_message() -> None:
    spec = without_module(HostSpec(), "target_core_mod")
    spec.modprobe_errors["target_core_mod"] = "modprobe: FATAL: Module target_core_mod not found in directory"
    bad = problems(spec, Role.TARGET)
    result = bad["kernel module target_core_mod"]
    assert result.status is Status.FAIL
    assert "Module target_core_mod not found" in result.message
    assert "linux-modules-extra" in result.fix


def test_builtin_module_counts_as_present() -> None:
    spec = without_module(HostSpec(), "scsi_dh_alua")
    spec.set(
        ("cat", "/lib/modules/6.1.0-28-amd64/modules.builtin"),
        0,
        "kernel/drivers/scsi/device_handler/scsi_dh_alua.ko\n",
    )
    runner = spec.runner()
    facts = gather(runner, Role.NODE, load_modules=True)
    assert runner.commands("modprobe") == []
    assert all(r.status is Status.PASS for r in run_checks(facts, Role.NODE) if r.name.startswith("kernel module"))


def test_modules_of_later_backings_only_warn() -> None:
    spec = without_module(without_module(HostSpec(), "raid1"), "dm_thin_pool")
    spec.modprobe_errors.update(raid1="not found", dm_thin_pool="not found")
    bad = problems(spec, Role.TARGET)
    assert {n: r.status for n, r in bad.items()} == {
        "kernel module raid1": Status.WARN,
        "kernel module dm_thin_pool": Status.WARN,
    }


def test_configfs_not_mounted() -> None:
    spec = HostSpec().set(("cat", "/proc/mounts"), 0, "proc /proc proc rw 0 0\n")
    bad = problems(spec, Role.TARGET)
    assert set(bad) == {"configfs"}
    assert "mount -t configfs" in bad["configfs"].fix


def test_iscsid_stopped() -> None:
    spec = HostSpec().set(("pgrep", "-x", "iscsid"), 1)
    bad = problems(spec, Role.NODE)
    assert set(bad) == {"iscsid"}
    assert "not running" in bad["iscsid"].message
    assert "systemctl enable --now iscsid" in bad["iscsid"].fix


def test_iscsid_socket_in_another_network_namespace() -> None:
    spec = HostSpec().set(("cat", "/proc/net/unix"), 0, "Num RefCount Protocol Flags Type St Inode Path\n")
    bad = problems(spec, Role.NODE)
    assert set(bad) == {"iscsid"}
    assert "@ISCSIADM_ABSTRACT_NAMESPACE" in bad["iscsid"].message


def test_multipathd_not_answering() -> None:
    spec = HostSpec().set(("multipathd", "show", "status"), 1, "", "can't connect to socket")
    bad = problems(spec, Role.NODE)
    assert set(bad) == {"multipathd"}
    assert "can't connect" in bad["multipathd"].message


def test_open_iscsi_versions_differ() -> None:
    spec = HostSpec().set(("iscsid", "--version"), 0, "iscsid version 2.0.874\n")
    bad = problems(spec, Role.NODE)
    assert set(bad) == {"open-iscsi version"}
    assert "2.1.8" in bad["open-iscsi version"].message and "2.0.874" in bad["open-iscsi version"].message


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("GenerateName=yes\n", "no InitiatorName= line"),
        ("InitiatorName=iqn.1993-08.org.debian:01:\n", "placeholder"),
        ("InitiatorName=not an iqn\n", "not a valid iSCSI name"),
    ],
)
def test_initiator_name_missing_default_or_invalid(content: str, expected: str) -> None:
    spec = HostSpec().set(("cat", "/etc/iscsi/initiatorname.iscsi"), 0, content)
    bad = problems(spec, Role.NODE)
    assert set(bad) == {"initiator name"}
    assert expected in bad["initiator name"].message
    assert "iscsi-iname" in bad["initiator name"].fix


def test_initiator_name_file_absent() -> None:
    spec = HostSpec().set(("cat", "/etc/iscsi/initiatorname.iscsi"), 1, "", "No such file or directory")
    assert set(problems(spec, Role.NODE)) == {"initiator name"}


def _multipath(extra: str) -> HostSpec:
    return HostSpec().set(("multipath", "-t"), 0, MULTIPATH_T + extra)


@pytest.mark.parametrize(
    ("extra", "check", "expected"),
    [
        ('defaults {\n\tconfig_dir "/etc/multipath.d"\n}\n', "multipath.conf config_dir", "/etc/multipath.d"),
        ("overrides {\n\tuser_friendly_names yes\n}\n", "multipath.conf user_friendly_names", "mpathN"),
        ('blacklist {\n\tdevnode ".*"\n}\n', "multipath.conf blacklist", 'devnode ".*"'),
        ('blacklist {\n\twwid ".*"\n}\n', "multipath.conf blacklist", 'wwid ".*"'),
        ('blacklist {\n\tdevice {\n\t\tvendor "LIO-ORG"\n\t}\n}\n', "multipath.conf blacklist", "LIO-ORG"),
    ],
)
def test_multipath_conf_conflicts(extra: str, check: str, expected: str) -> None:
    bad = problems(_multipath(extra), Role.NODE)
    assert set(bad) == {check}
    assert bad[check].status is Status.FAIL
    assert expected in bad[check].message


def test_property_whitelist_without_lio_properties_fails() -> None:
    config = MULTIPATH_T.replace('property "(SCSI_IDENT_|ID_WWN)"', 'property "^DM_"')
    bad = problems(HostSpec().set(("multipath", "-t"), 0, config), Role.NODE)
    assert set(bad) == {"multipath.conf blacklist"}
    assert "matches none" in bad["multipath.conf blacklist"].message


def test_blacklist_with_matching_exception_passes() -> None:
    spec = _multipath('blacklist {\n\twwid ".*"\n}\nblacklist_exceptions {\n\twwid "^36001405"\n}\n')
    assert problems(spec, Role.NODE) == {}


def test_friendly_names_in_defaults_are_overridden_by_nearpaths_device_section() -> None:
    assert problems(_multipath("defaults {\n\tuser_friendly_names yes\n}\n"), Role.NODE) == {}


def test_find_multipaths_greedy_warns_on_serving_nodes() -> None:
    spec = _multipath('defaults {\n\tfind_multipaths "greedy"\n}\n')
    bad = problems(spec, Role.ALL)
    assert {n: r.status for n, r in bad.items()} == {"multipath.conf find_multipaths": Status.WARN}
    assert problems(spec, Role.NODE) == {}
    assert set(problems(spec, Role.TARGET)) == {"multipath.conf find_multipaths"}


def test_multipath_tools_missing() -> None:
    spec = HostSpec().set(("multipath", "-t"), 127, "", "env: 'multipath': No such file or directory")
    spec.set(("multipathd", "show", "status"), 127)
    bad = problems(spec, Role.NODE)
    assert set(bad) == {"multipath.conf", "multipathd"}
    assert "not installed" in bad["multipath.conf"].message
    assert problems(spec, Role.TARGET) == {}


@pytest.mark.parametrize(
    "lvm",
    [
        "global {\n\tevent_activation=0\n}\n",
        "devices {\n\tuse_devicesfile=1\n}\n",
        'activation {\n\tauto_activation_volume_list=["vg0"]\n}\n',
    ],
)
def test_lvm_auto_activation_restricted(lvm: str) -> None:
    assert problems(HostSpec().set(("lvmconfig",), 0, lvm)) == {}


@pytest.mark.parametrize(
    "lvm",
    [
        "",
        'devices {\n\tglobal_filter=["a|.*|","r|^/dev/mapper/36001405|"]\n}\n',
        'devices {\n\tfilter=["r|^/dev/sd[a-z]|"]\n}\n',
    ],
)
def test_lvm_auto_activation_open_warns(lvm: str) -> None:
    bad = problems(HostSpec().set(("lvmconfig",), 0, lvm))
    assert {n: r.status for n, r in bad.items()} == {"LVM auto-activation": Status.WARN}
    assert "global_filter" in bad["LVM auto-activation"].fix


def test_lvm_and_mdadm_absent_pass() -> None:
    spec = HostSpec().set(("lvmconfig",), 127).set(("mdadm", "--version"), 127)
    assert problems(spec) == {}


def test_mdadm_auto_assembly_warns() -> None:
    spec = HostSpec().set(("cat", "/etc/mdadm/mdadm.conf", "/etc/mdadm.conf"), 0, "HOMEHOST <system>\n")
    bad = problems(spec)
    assert {n: r.status for n, r in bad.items()} == {"mdadm auto-assembly": Status.WARN}
    assert "AUTO -all" in bad["mdadm auto-assembly"].fix


def test_time_sync() -> None:
    timedatectl = ("timedatectl", "show", "--property=NTPSynchronized", "--value")
    assert problems(HostSpec().set(timedatectl, 0, "no\n"))["time sync"].status is Status.WARN
    chrony_ok = (
        HostSpec()
        .set(timedatectl, 127)
        .set(("chronyc", "-n", "tracking"), 0, "Reference ID    : 0A000002\nLeap status     : Normal\n")
    )
    assert problems(chrony_ok) == {}
    neither = problems(HostSpec().set(timedatectl, 127))
    assert "neither timedatectl nor chronyc" in neither["time sync"].message


def test_timeouts_are_facts_not_crashes() -> None:
    spec = HostSpec()
    runner = FakeRunner(strict=True).on("multipathd", timeout=True)
    for argv, (rc, out, err) in spec.answers.items():
        runner.on(*argv, rc=rc, stdout=out, stderr=err)
    facts = gather(runner, Role.NODE, load_modules=False)
    (result,) = [r for r in run_checks(facts, Role.NODE) if r.name == "multipathd"]
    assert result.status is Status.FAIL
    assert "timed out" in result.message
