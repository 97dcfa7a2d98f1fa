"""VM tier: what only the node can see -- the real agent refuses hostile disk paths (issue 15, C1).

The real agent (``nearpath target --once``, default allow-list, the guest's own /proc and sysfs)
gets VolumeGroups whose paths pass every static rule and the prefix allow-list but resolve, on
this node, to a mounted device, a swap device, a device held by device-mapper, or into devtmpfs. Each must come back
``ready: false`` naming the field and the reason, and nothing of them may be in LIO's configfs. A
control group on the free shared disk is served.
"""

from __future__ import annotations

import pytest

from tests.fixtures.vm import ClusterFactory
from tests.vm import target_helpers as th

pytestmark = pytest.mark.vm

BY_ID = "/dev/disk/by-id"
VOLUMES = "/var/lib/nearpath/volumes"


def _disk(path: str) -> list[dict[str, object]]:
    return [{"name": "d", "size": "1Mi", "source": {"path": path}}]


def test_node_only_attacks_are_refused_and_never_reach_lio(vm_cluster: ClusterFactory) -> None:
    cluster = vm_cluster(1, shared_disk_mb=64)
    vm1 = cluster[0]
    assert cluster.shared_disk is not None
    # (The guest's root is an initramfs: no block device backs "/"; the root-disk rule is unit-tested
    # against a real mount table in tests/unit/target/test_confinement.py.)
    setup = (
        "set -e; mkdir -p /mnt/np-attack " + VOLUMES + "; "
        "for n in m s h; do truncate -s 16M /root/np-$n.img; done; "
        "M=$(losetup -f --show /root/np-m.img); mkfs.ext4 -q $M; mount $M /mnt/np-attack; "
        "S=$(losetup -f --show /root/np-s.img); mkswap -q $S >/dev/null; swapon $S; "
        'H=$(losetup -f --show /root/np-h.img); echo "0 32768 linear $H 0" | dmsetup create np-attack-holder; '
        f"ln -sfn $M {BY_ID}/np-attack-mounted; ln -sfn $S {BY_ID}/np-attack-swap; "
        f"ln -sfn $H {BY_ID}/np-attack-held; ln -sfn /dev {VOLUMES}/devlink"
    )
    vm1.run(setup, check=True, timeout=120)
    local = th.volume_group("devtmpfs", vm1.name, [{"name": "d", "size": "1Mi"}], [vm1.iqn], uid="u-devtmpfs")
    local["spec"]["backing"] = {"type": "local", "local": {"directory": f"{VOLUMES}/devlink"}}
    src = "spec.disks[0].source.path"
    attacks = {
        "mounted": (th.volume_group("mounted", vm1.name, _disk(f"{BY_ID}/np-attack-mounted"), [vm1.iqn]),
                    src, "mounted at /mnt/np-attack"),
        "swap": (th.volume_group("swap", vm1.name, _disk(f"{BY_ID}/np-attack-swap"), [vm1.iqn]), src, "swap"),
        "held": (th.volume_group("held", vm1.name, _disk(f"{BY_ID}/np-attack-held"), [vm1.iqn]), src, "held by dm-"),
        "outside": (th.volume_group("outside", vm1.name, _disk("/dev/vda"), [vm1.iqn]), src, "outside the allowed"),
        "devtmpfs": (local, "spec.backing.local.directory", "/dev"),
    }  # fmt: skip
    control = th.volume_group("control", vm1.name, _disk(cluster.shared_disk.guest_path), [vm1.iqn], uid="u-control")
    th.write_inputs(vm1, [control] + [a[0] for a in attacks.values()], {})
    res, status = th.run_agent_once(vm1)
    print("AGENT_STDERR\n" + res.stderr[-3000:])
    entries = {s["volumeGroup"].split("/")[1]: s["target"] for s in status}
    assert entries["control"]["ready"] is True, entries["control"]
    for name, (_vg, field, reason) in attacks.items():
        message = entries[name]["message"]
        assert entries[name]["ready"] is False, (name, entries[name])
        assert message.startswith(f"PathRefused: {field}: ") and reason in message, (name, message)
    configfs = vm1.run("ls /sys/kernel/config/target/core/*/ /sys/kernel/config/target/iscsi/", check=True).stdout
    for name in attacks:
        assert f"_{name}_" not in configfs and f":{name}:" not in configfs, (name, configfs)
    assert "_control_" in configfs  # the control group is there: the listing is the real one
    assert vm1.run("ls /dev/default 2>/dev/null; echo rc=$?", timeout=30).stdout.strip().endswith("rc=2")
