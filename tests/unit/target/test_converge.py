from __future__ import annotations

from typing import Any

import pytest

from nearpath.core import identifiers as ids
from nearpath.target.converge import converge_all, observe
from nearpath.target.desired import DesiredTarget, desired_target
from nearpath.target.fake_lio import FakeLio
from tests.unit.target.helpers import DEVICES, INITIATOR, INITIATOR2, NODE, PORTALS, SECRET, SHARED_DEV, vg

pytestmark = pytest.mark.unit

FOREIGN_BS = "foreign_disk"
FOREIGN_IQN = "iqn.2003-01.org.linux-iscsi.other:sn.1234"


def want(secret: dict[str, str] | None = None, devices: Any = DEVICES, **kwargs: Any) -> DesiredTarget:
    group = vg(**kwargs)
    assignment = group.status.assignment(NODE)
    assert assignment is not None
    return desired_target(group, assignment, NODE, PORTALS, devices, secret)


def apply(
    lio: FakeLio, *targets: DesiredTarget, protected_iqns: set[str] | None = None, protected_bs: set[str] | None = None
) -> list[str]:
    result = converge_all(lio, NODE, list(targets), protected_iqns or set(), protected_bs or set())
    assert not result.errors, result.errors
    return result.changes


def test_fresh_target_is_built_in_a_safe_order() -> None:
    lio = FakeLio()
    changes = apply(lio, want(chap=True, secret=SECRET))
    ops = [m.split()[0] for m in lio.mutations]
    assert changes and len(changes) == len(lio.mutations)
    assert ops.index("create_backstore") < ops.index("create_target") < ops.index("create_lun")
    assert ops.index("create_lun") < ops.index("create_acl")
    last_chap = max(i for i, m in enumerate(lio.mutations) if m.startswith("set_acl_chap"))
    auth_on = lio.mutations.index(f"set_tpg_attribute {want(chap=True, secret=SECRET).iqn} authentication=1")
    assert last_chap < auth_on, "credentials must be in place before authentication is demanded"
    assert ops[-1] == "set_tpg_enabled" and lio.mutations[-1].endswith("True")
    assert lio.violations == []
    target = lio.targets[want().iqn]
    assert target.enabled and set(target.luns) == {0, 1}
    assert {b: g for b, g in target.luns.values()} == {
        "np_default_vm-disks_root": "np_pg2",
        "np_default_vm-disks_scratch": "np_pg2",
    }
    assert target.acls[INITIATOR].mapped == {0: 0, 1: 1}
    root = lio.backstores["np_default_vm-disks_root"]
    assert root.serial == vg().disk_identities()[0].serial
    assert root.groups["np_pg2"].group_id == 2 and root.groups["np_pg2"].state_code == 0
    assert root.attributes["emulate_tpu"] == "1" and root.attributes["emulate_3pc"] == "1"


def test_second_apply_changes_nothing() -> None:
    lio = FakeLio()
    target = want(chap=True, mutual=True, discovery=True, secret=SECRET)
    assert apply(lio, target)
    before = list(lio.mutations)
    assert apply(lio, target) == []
    assert lio.mutations == before


def test_restart_reads_existing_state_and_keeps_sessions() -> None:
    lio = FakeLio()
    target = want()
    apply(lio, target)
    lio.login(target.iqn, INITIATOR, session_id=7)
    snapshot = lio.snapshot()
    assert apply(lio, target) == []  # a new agent process converging the same kernel state
    assert lio.snapshot() == snapshot
    assert observe(target, {b.name: b for b in lio.list_backstores()}, lio.list_targets()[0]).sessions == 1


def test_foreign_objects_are_never_touched_and_stale_nearpath_ones_go() -> None:
    lio = FakeLio()
    lio.add_foreign_backstore(FOREIGN_BS)
    lio.add_foreign_target(FOREIGN_IQN, backstore=FOREIGN_BS, initiator=INITIATOR)
    old = want(name="old-group")
    apply(lio, old)
    lio.mutations.clear()
    current = want()
    apply(lio, current)
    assert f"delete_target {old.iqn}" in lio.mutations
    assert {m for m in lio.mutations if m.startswith("delete_backstore")} == {
        f"delete_backstore {b.name}" for b in old.backstores
    }
    assert lio.mutations.index(f"delete_target {old.iqn}") < min(
        i for i, m in enumerate(lio.mutations) if m.startswith("delete_backstore")
    )
    assert FOREIGN_IQN in lio.targets and FOREIGN_BS in lio.backstores
    assert not any(FOREIGN_IQN in m or FOREIGN_BS in m for m in lio.mutations)


def test_targets_of_other_nodes_on_a_shared_configfs_stay() -> None:
    """kind's nodes share one kernel's configfs: an agent sees its neighbours' targets (M9)."""
    lio = FakeLio()
    neighbour = ids.target_iqn("default", "other-group", "node-b")
    lio.add_foreign_backstore("np_default_other-group_root")
    lio.add_foreign_target(neighbour, backstore="np_default_other-group_root", initiator=INITIATOR)
    stale_own = want(name="old-group")
    apply(lio, stale_own)
    lio.mutations.clear()
    apply(lio, want())
    assert neighbour in lio.targets and "np_default_other-group_root" in lio.backstores
    assert not any(neighbour in m or "other-group" in m for m in lio.mutations)
    assert stale_own.iqn not in lio.targets


def test_protected_objects_of_broken_groups_stay() -> None:
    lio = FakeLio()
    broken = want(name="broken")
    apply(lio, broken)
    lio.mutations.clear()
    apply(lio, want(), protected_iqns={broken.iqn}, protected_bs={b.name for b in broken.backstores})
    assert not any("broken" in m for m in lio.mutations)
    assert broken.iqn in lio.targets


def test_chap_rotation_updates_credentials_in_place() -> None:
    lio = FakeLio()
    apply(lio, want(chap=True, mutual=True, secret=SECRET))
    iqn = want().iqn
    lio.login(iqn, INITIATOR, session_id=3)
    lio.mutations.clear()
    rotated = {**SECRET, "password": "newsecret00002"}
    changes = apply(lio, want(chap=True, mutual=True, secret=rotated))
    assert lio.mutations == [f"set_acl_chap {iqn} {INITIATOR} user=user-one"]
    assert len(changes) == 1
    acl = lio.targets[iqn].acls[INITIATOR]
    assert acl.chap.password == "newsecret00002" and acl.session is not None and acl.session.session_id == 3
    assert "newsecret00002" not in " ".join(changes)


def test_turning_chap_off_drops_authentication_before_the_credentials() -> None:
    lio = FakeLio()
    apply(lio, want(chap=True, secret=SECRET))
    lio.mutations.clear()
    apply(lio, want())
    iqn = want().iqn
    assert lio.mutations.index(f"set_tpg_attribute {iqn} authentication=0") < lio.mutations.index(
        f"set_acl_chap {iqn} {INITIATOR} user="
    )


def test_alua_state_change_is_an_in_place_update() -> None:
    lio = FakeLio()
    apply(lio, want())
    lio.mutations.clear()
    apply(lio, want(state="standby"))
    assert lio.mutations == [f"set_alua_group {b.name} np_pg2 state=2 type=1" for b in want().backstores]
    assert lio.violations == []


def test_port_group_id_change_moves_luns_then_drops_the_old_group() -> None:
    lio = FakeLio()
    apply(lio, want())
    lio.mutations.clear()
    apply(lio, want(port_group_id=4))
    root = "np_default_vm-disks_root"
    assert f"create_alua_group {root} np_pg4" in lio.mutations
    assert lio.mutations.index(f"set_lun_alua_group {want().iqn} 0 np_pg4") < lio.mutations.index(
        f"delete_alua_group {root} np_pg2"
    )
    assert set(lio.backstores[root].groups) == {"np_pg4"}
    assert not any(m.startswith(("delete_lun", "delete_target", "delete_backstore")) for m in lio.mutations)


def test_initiator_set_changes_touch_only_acls() -> None:
    lio = FakeLio()
    apply(lio, want(initiators=[INITIATOR]))
    lio.mutations.clear()
    apply(lio, want(initiators=[INITIATOR2]))
    iqn = want().iqn
    assert lio.mutations == [
        f"delete_acl {iqn} {INITIATOR}",
        f"create_acl {iqn} {INITIATOR2}",
        f"create_mapped_lun {iqn} {INITIATOR2} 0",
        f"create_mapped_lun {iqn} {INITIATOR2} 1",
    ]


def test_disk_removed_and_added() -> None:
    lio = FakeLio()
    apply(lio, want())
    lio.mutations.clear()
    one = [{"name": "root", "size": "1Gi", "source": {"path": SHARED_DEV}}]
    apply(lio, want(disks=one))
    iqn = want().iqn
    assert lio.mutations == [
        f"delete_mapped_lun {iqn} {INITIATOR} 1",
        f"delete_lun {iqn} 1",
        "delete_backstore np_default_vm-disks_scratch",
    ]
    lio.mutations.clear()
    apply(lio, want())
    assert "create_lun " + iqn + " 1" in lio.mutations and lio.violations == []


def test_path_change_recreates_the_backstore_without_an_empty_enabled_tpg() -> None:
    lio = FakeLio()
    one = [{"name": "root", "size": "1Gi", "source": {"path": SHARED_DEV}}]
    apply(lio, want(disks=one))
    moved = [{"name": "root", "size": "1Gi", "source": {"path": "/dev/nodiscard"}}]
    lio.mutations.clear()
    apply(lio, want(disks=moved))
    iqn = want().iqn
    assert lio.mutations[0] == f"delete_mapped_lun {iqn} {INITIATOR} 0"
    assert f"set_tpg_enabled {iqn} False" in lio.mutations and lio.mutations[-1] == f"set_tpg_enabled {iqn} True"
    assert lio.backstores["np_default_vm-disks_root"].path == "/dev/nodiscard"
    assert lio.violations == []


def test_discovery_auth_follows_the_groups_that_ask() -> None:
    lio = FakeLio()
    a = want(name="a", chap=True, discovery=True, secret=SECRET)
    b = want(name="b", chap=True, discovery=True, secret={**SECRET, "username": "other"})
    result = converge_all(lio, NODE, [b, a], set(), set())
    assert lio.discovery.enabled and lio.discovery.chap.username == "user-one"
    assert "default/a" in result.warnings["default/b"]
    apply(lio, want(name="a"))
    assert not lio.discovery.enabled and lio.discovery.chap.username == ""


def test_a_failing_group_does_not_stop_the_others() -> None:
    lio = FakeLio()
    bad, good = want(name="bad"), want(name="good")
    lio.fail_on("create_backstore np_default_bad_")
    result = converge_all(lio, NODE, [bad, good], set(), set())
    assert set(result.errors) == {"default/bad"} and "injected failure" in result.errors["default/bad"]
    assert good.iqn in lio.targets and lio.targets[good.iqn].enabled
    assert bad.iqn not in lio.targets


def test_observe_reports_readiness_and_alua_state() -> None:
    lio = FakeLio()
    target = want(state="active-non-optimized")
    before = observe(target, {}, None)
    assert not before.ready and "missing" in before.message
    apply(lio, target)
    after = observe(target, {b.name: b for b in lio.list_backstores()}, lio.list_targets()[0])
    assert after.ready and after.alua_state is not None and after.alua_state.value == "active-non-optimized"
