from __future__ import annotations

from collections.abc import Mapping

import pytest

from nearpath.core.api import AluaState, VolumeGroup
from nearpath.core.chap import InvalidChapSecret
from nearpath.core.errors import InvalidArgument
from nearpath.target.desired import (
    BackstoreKind,
    DesiredTarget,
    DeviceFacts,
    Portal,
    TargetConfigError,
    desired_target,
    group_chap,
)
from tests.unit.target.helpers import DEVICES, INITIATOR, INITIATOR2, NODE, PEER, PORTALS, SECRET, SHARED_DEV, vg

pytestmark = pytest.mark.unit


def _desired(
    group: VolumeGroup | None = None,
    node: str = NODE,
    devices: Mapping[str, DeviceFacts] = DEVICES,
    secret: Mapping[str, str] | None = None,
) -> DesiredTarget:
    group = group or vg()
    assignment = group.status.assignment(node)
    assert assignment is not None
    return desired_target(group, assignment, node, PORTALS, devices, secret)


def test_backstores_luns_and_acls_follow_the_spec() -> None:
    group = vg(initiators=[INITIATOR2, INITIATOR], state="active-non-optimized", port_group_id=5)
    want = _desired(group)
    assert want.iqn == "iqn.2025-11.io.nearpath:default:vm-disks:node-a"
    root, scratch = want.backstores
    assert (root.name, root.kind, root.path) == ("np_default_vm-disks_root", BackstoreKind.BLOCK, SHARED_DEV)
    assert scratch.kind is BackstoreKind.FILEIO and scratch.size_bytes == 512 << 20
    serials = [d.serial for d in group.disk_identities()]
    assert [b.serial for b in want.backstores] == serials
    assert [(lun.lun, lun.backstore) for lun in want.luns] == [(0, root.name), (1, scratch.name)]
    assert [a.initiator for a in want.acls] == sorted([INITIATOR, INITIATOR2])
    assert all(a.mapped_luns == (0, 1) for a in want.acls)
    assert (want.alua_group.name, want.alua_group.group_id) == ("np_pg5", 5)
    assert want.alua_group.state is AluaState.ACTIVE_NON_OPTIMIZED and want.alua_group.state_code == 1
    assert want.alua_group.access_type == 1  # implicit
    assert dict(want.tpg_attributes)["authentication"] == "0"
    assert dict(want.tpg_attributes)["generate_node_acls"] == "0"
    assert want.portals == (Portal("192.168.100.1", 3260),)


def test_every_node_uses_the_same_serials_but_its_own_iqn() -> None:
    group = vg()
    a, b = _desired(group, NODE), _desired(group, PEER)
    assert [x.serial for x in a.backstores] == [x.serial for x in b.backstores]
    assert a.iqn != b.iqn and b.iqn.endswith(":node-b")
    assert (b.alua_group.name, b.alua_group.state) == ("np_pg3", AluaState.ACTIVE_NON_OPTIMIZED)


def test_thin_provisioning_only_on_sparse_capable_backstores() -> None:
    disks = [
        {"name": "thin", "size": "1Gi", "source": {"path": SHARED_DEV}},
        {"name": "thick", "size": "1Gi", "source": {"path": "/dev/nodiscard"}},
        {"name": "file", "size": "1Gi", "source": {"path": "/srv/nearpath/scratch.img"}},
    ]
    thin, thick, sparse = (dict(b.attributes) for b in _desired(vg(disks=disks)).backstores)
    for attrs in (thin, thick, sparse):
        assert attrs["emulate_caw"] == "1" and attrs["emulate_3pc"] == "1"
    assert thin["emulate_tpu"] == thin["emulate_tpws"] == "1" and thin["max_unmap_lba_count"] == "8192"
    assert sparse["emulate_tpu"] == "1"
    assert thick["emulate_tpu"] == thick["emulate_tpws"] == "0" and "max_unmap_lba_count" not in thick
    # limits are written before emulate_tpu (LIO derives limits when it enables UNMAP otherwise)
    keys = [k for k, _v in _desired(vg(disks=disks)).backstores[0].attributes]
    assert keys.index("max_unmap_block_desc_count") < keys.index("emulate_tpu")


def test_explicit_alua_allows_set_target_port_groups() -> None:
    assert _desired(vg(alua_mode="explicit")).alua_group.access_type == 3


def test_offline_state_code() -> None:
    assert _desired(vg(state="offline")).alua_group.state_code == 14


def test_missing_device_names_disk_and_path() -> None:
    devices = {k: v for k, v in DEVICES.items() if k != SHARED_DEV}
    with pytest.raises(TargetConfigError, match=f"disk root: {SHARED_DEV} does not exist"):
        _desired(devices=devices)


def test_too_small_device_is_refused() -> None:
    devices = {**DEVICES, SHARED_DEV: DeviceFacts(exists=True, is_block=True, size_bytes=1 << 20)}
    with pytest.raises(TargetConfigError, match="holds 1048576 bytes"):
        _desired(devices=devices)


def test_chap_credentials_from_the_secret() -> None:
    want = _desired(vg(chap=True, mutual=True, discovery=True), secret=SECRET)
    chap = want.acls[0].chap
    assert (chap.username, chap.password, chap.mutual_username, chap.mutual_password) == (
        "user-one",
        "secretpass0001",
        "tgt-one",
        "tgtsecret0001",
    )
    assert dict(want.tpg_attributes)["authentication"] == "1"
    assert want.discovery_auth == chap
    assert "secretpass0001" not in repr(want)  # passwords never in reprs (logs, errors)


def test_chap_errors_say_what_is_wrong() -> None:
    group = vg(chap=True, mutual=True)
    with pytest.raises(InvalidChapSecret, match="CHAP Secret default/vm-disks-chap not found"):
        group_chap(group, None)
    with pytest.raises(InvalidChapSecret, match="lacks password, mutualPassword"):
        group_chap(group, {"username": "u", "mutualUsername": "m"})
    with pytest.raises(InvalidChapSecret, match="must differ"):
        group_chap(group, {**SECRET, "mutualPassword": SECRET["password"]})


def test_one_way_chap_ignores_mutual_keys() -> None:
    chap = group_chap(vg(chap=True), SECRET)
    assert chap.enabled and not chap.mutual


def test_no_portal_is_a_config_error() -> None:
    group = vg()
    assignment = group.status.assignment(NODE)
    assert assignment is not None
    with pytest.raises(TargetConfigError, match="no portal"):
        desired_target(group, assignment, NODE, [], DEVICES, None)


@pytest.mark.parametrize(
    ("text", "portal"),
    [
        ("10.0.0.1", Portal("10.0.0.1", 3260)),
        ("10.0.0.1:3261", Portal("10.0.0.1", 3261)),
        ("[fd00::1]:3260", Portal("fd00::1", 3260)),
        ("fd00::1", Portal("fd00::1", 3260)),
    ],
)
def test_portal_parse(text: str, portal: Portal) -> None:
    assert Portal.parse(text) == portal


def test_portal_parse_rejects_names() -> None:
    with pytest.raises(InvalidArgument):
        Portal.parse("node-a:3260")
    assert str(Portal("fd00::1")) == "[fd00::1]:3260"
