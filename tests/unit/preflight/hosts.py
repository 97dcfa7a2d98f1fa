"""A complete host as the preflight sees it (command outputs of Debian bookworm), and ways to break it."""

from __future__ import annotations

from dataclasses import dataclass, field

from nearpath.core.fake_runner import FakeRunner

RELEASE = "6.1.0-28-amd64"
PROC_MODULES = "\n".join(
    f"{m} 90112 0 - Live 0x0000000000000000"
    for m in (
        "target_core_mod",
        "iscsi_target_mod",
        "target_core_file",
        "target_core_iblock",
        "iscsi_tcp",
        "dm_multipath",
        "dm_service_time",
        "scsi_dh_alua",
        "dm_thin_pool",
        "raid1",
    )
)
MOUNTS = """\
sysfs /sys sysfs rw,nosuid,nodev,noexec,relatime 0 0
proc /proc proc rw,nosuid,nodev,noexec,relatime 0 0
configfs /sys/kernel/config configfs rw,nosuid,nodev,noexec,relatime 0 0
"""
UNIX_SOCKETS = """\
Num       RefCount Protocol Flags    Type St Inode Path
0000000000000000: 00000002 00000000 00010000 0001 01 18231 @ISCSIADM_ABSTRACT_NAMESPACE
0000000000000000: 00000002 00000000 00010000 0001 01 18240 @/org/kernel/linux/storage/multipathd
"""
MULTIPATH_T = """\
defaults {
	verbosity 2
	polling_interval 5
	find_multipaths "strict"
	user_friendly_names "no"
	config_dir "/etc/multipath/conf.d"
}
blacklist {
	devnode "!^(sd[a-z]|dasd[a-z]|nvme[0-9])"
	device {
		vendor "SGI"
		product "Universal Xport"
	}
}
blacklist_exceptions {
	property "(SCSI_IDENT_|ID_WWN)"
}
devices {
	device {
		vendor "LIO-ORG"
		product ".*"
		path_grouping_policy "group_by_prio"
		hardware_handler "1 alua"
		prio "alua"
	}
}
overrides {
}
"""
LVMCONFIG = """\
devices {
	global_filter=["r|^/dev/mapper/36001405|","r|^/dev/disk/by-id/(wwn-0x|scsi-3)6001405|"]
}
"""


@dataclass
class HostSpec:
    """Each field is one command's answer: (rc, stdout, stderr)."""

    answers: dict[tuple[str, ...], tuple[int, str, str]] = field(
        default_factory=lambda: {
            ("cat", "/proc/modules"): (0, PROC_MODULES, ""),
            ("uname", "-r"): (0, RELEASE + "\n", ""),
            ("cat", f"/lib/modules/{RELEASE}/modules.builtin"): (0, "kernel/drivers/md/dm-mod.ko\n", ""),
            ("cat", "/proc/mounts"): (0, MOUNTS, ""),
            ("cat", "/proc/net/unix"): (0, UNIX_SOCKETS, ""),
            ("pgrep", "-x", "iscsid"): (0, "412\n413\n", ""),
            ("multipathd", "show", "status"): (0, "path checker states:\nup 2\npaths: 2\nbusy: False\n", ""),
            ("iscsiadm", "--version"): (0, "iscsiadm version 2.1.8\n", ""),
            ("iscsid", "--version"): (0, "iscsid version 2.1.8\n", ""),
            ("cat", "/etc/iscsi/initiatorname.iscsi"): (
                0,
                "## DO NOT EDIT\nInitiatorName=iqn.1993-08.org.debian:01:5e1f2a3b4c5d\n",
                "",
            ),
            ("multipath", "-t"): (0, MULTIPATH_T, ""),
            ("cat", "/proc/sys/kernel/random/boot_id"): (0, "0b7c6d1e-aaaa-bbbb-cccc-000000000001\n", ""),
            ("lvmconfig",): (0, LVMCONFIG, ""),
            ("mdadm", "--version"): (0, "", "mdadm - v4.2 - 2021-12-30\n"),
            ("cat", "/etc/mdadm/mdadm.conf", "/etc/mdadm.conf"): (
                1,
                "HOMEHOST <system>\nAUTO -all\n",
                "cat: /etc/mdadm.conf: No such file or directory\n",
            ),
            ("timedatectl", "show", "--property=NTPSynchronized", "--value"): (0, "yes\n", ""),
            ("chronyc", "-n", "tracking"): (127, "", "chronyc: command not found"),
        }
    )

    modprobe_errors: dict[str, str] = field(default_factory=dict)
    """Modules whose ``modprobe`` fails, with modprobe's message."""

    def set(self, argv: tuple[str, ...], rc: int, stdout: str = "", stderr: str = "") -> HostSpec:
        assert argv in self.answers, argv
        self.answers[argv] = (rc, stdout, stderr)
        return self

    def runner(self) -> FakeRunner:
        runner = FakeRunner(strict=True)
        for argv, (rc, out, err) in self.answers.items():
            runner.on(*argv, rc=rc, stdout=out, stderr=err)
        for module, message in self.modprobe_errors.items():
            runner.on("modprobe", module, rc=1, stderr=message)
        runner.on("modprobe", rc=0)
        return runner


def without_module(spec: HostSpec, module: str) -> HostSpec:
    current = spec.answers[("cat", "/proc/modules")][1]
    lines = [line for line in current.splitlines() if not line.startswith(module + " ")]
    return spec.set(("cat", "/proc/modules"), 0, "\n".join(lines))
