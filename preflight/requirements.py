"""What nearpath's data path needs from a host: the one list the facts and checks share."""

from __future__ import annotations

from nearpath.core import identifiers as ids
from nearpath.preflight.model import Role

# Kernel modules a role cannot work without, and why.
REQUIRED_MODULES: dict[Role, dict[str, str]] = {
    Role.TARGET: {
        "target_core_mod": "the LIO SCSI target core",
        "iscsi_target_mod": "LIO's iSCSI fabric (the portals initiators log in to)",
        "target_core_file": "LIO fileio backstores (`local` backing)",
        "target_core_iblock": "LIO block backstores (`shared` backing)",
    },
    Role.NODE: {
        "iscsi_tcp": "the iSCSI initiator transport",
        "dm_multipath": "device-mapper multipath (one device over all paths)",
        "dm_service_time": "the `service-time` path selector nearpath's multipath section uses",
        "scsi_dh_alua": "the ALUA device handler (same-node path optimized, others standing by)",
    },
}
# Modules only later backings need: missing ones are warnings.
OPTIONAL_MODULES: dict[Role, dict[str, str]] = {
    Role.TARGET: {
        "dm_thin_pool": "LVM thin pools (thin-provisioned backings)",
        "raid1": "md RAID1 (`replicated` backing mirrors)",
    },
    Role.NODE: {},
}

CONFIGFS_MOUNT = "/sys/kernel/config"
INITIATOR_NAME_FILE = "/etc/iscsi/initiatorname.iscsi"
MULTIPATH_DROPIN_DIR = "/etc/multipath/conf.d"
MDADM_CONF_FILES = ("/etc/mdadm/mdadm.conf", "/etc/mdadm.conf")
# iscsid and multipathd listen on abstract unix sockets (network-namespaced).
ISCSID_SOCKET = "@ISCSIADM_ABSTRACT_NAMESPACE"
MULTIPATHD_SOCKET = "@/org/kernel/linux/storage/multipathd"

# What a nearpath LUN looks like to the initiator host (checked against filters and blacklists).
LIO_VENDOR = "LIO-ORG"
LIO_PRODUCTS = ("IBLOCK", "FILEIO")
SAMPLE_WWID = "3" + ids.LIO_NAA_PREFIX + "0" * 25
SAMPLE_SCSI_DISK = "sdb"
SAMPLE_DEVICE_NAMES = (f"/dev/mapper/{SAMPLE_WWID}", f"/dev/disk/by-id/wwn-0x{SAMPLE_WWID[1:]}")

# Initiator names that a package ships before one is generated (never unique).
PLACEHOLDER_INITIATOR_NAMES = frozenset(
    {
        "iqn.1993-08.org.debian:01:",
        "iqn.2004-10.com.ubuntu:01:",
        "iqn.1994-05.com.redhat:",
        "iqn.2005-03.org.open-iscsi:",
        "iqn.1996-04.de.suse:01:",
    }
)


def modules_for(role: Role) -> dict[str, str]:
    """Required modules of ``role`` (both roles' for ``all``)."""
    return {
        name: why for r in (Role.TARGET, Role.NODE) if role.includes(r) for name, why in REQUIRED_MODULES[r].items()
    }


def optional_modules_for(role: Role) -> dict[str, str]:
    return {
        name: why for r in (Role.TARGET, Role.NODE) if role.includes(r) for name, why in OPTIONAL_MODULES[r].items()
    }
