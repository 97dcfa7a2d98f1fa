"""The in-memory Kubernetes API keeps the semantics components rely on."""

from __future__ import annotations

import pytest

from nearpath.core.errors import AlreadyExists, Conflict, NotFound
from nearpath.core.fake_kube import FakeKube
from tests.samples import LOCAL

pytestmark = pytest.mark.unit


def _create(kube: FakeKube) -> dict:
    return kube.create_volume_group({**LOCAL, "status": {"optimizedNode": "ignored"}})


def test_create_sets_identity_and_ignores_status() -> None:
    kube = FakeKube()
    obj = _create(kube)
    assert obj["metadata"]["uid"] and obj["metadata"]["generation"] == 1
    assert "status" not in obj
    with pytest.raises(AlreadyExists):
        _create(kube)


def test_generation_moves_with_spec_only_and_stale_writes_conflict() -> None:
    kube = FakeKube()
    obj = _create(kube)
    rv = obj["metadata"]["resourceVersion"]
    after_label = kube.patch_volume_group("default", "pg-data", {"metadata": {"labels": {"a": "b"}}})
    assert after_label["metadata"]["generation"] == 1
    after_spec = kube.patch_volume_group("default", "pg-data", {"spec": {"placement": {"preferredNode": None}}})
    assert after_spec["metadata"]["generation"] == 2
    with pytest.raises(Conflict):
        kube.patch_volume_group("default", "pg-data", {"spec": {}}, resource_version=rv)


def test_status_apply_keeps_each_managers_entries() -> None:
    kube = FakeKube()
    _create(kube)
    kube.apply_volume_group_status("default", "pg-data", {"targets": [{"node": "a", "ready": True}]}, "agent/a")
    kube.apply_volume_group_status("default", "pg-data", {"targets": [{"node": "b", "ready": False}]}, "agent/b")
    kube.apply_volume_group_status("default", "pg-data", {"optimizedNode": "a", "assignments": []}, "operator")
    status = kube.get_volume_group("default", "pg-data")["status"]  # type: ignore[index]
    assert sorted(t["node"] for t in status["targets"]) == ["a", "b"]
    assert status["optimizedNode"] == "a"
    # agent/b stops serving: its next apply omits its entry, which goes; a's stays
    kube.apply_volume_group_status("default", "pg-data", {"targets": []}, "agent/b")
    status = kube.get_volume_group("default", "pg-data")["status"]  # type: ignore[index]
    assert [t["node"] for t in status["targets"]] == ["a"]


def test_spec_patch_cannot_write_status() -> None:
    kube = FakeKube()
    _create(kube)
    kube.patch_volume_group("default", "pg-data", {"status": {"optimizedNode": "x"}})
    assert "status" not in kube.get_volume_group("default", "pg-data")  # type: ignore[operator]


def test_finalizers_hold_deletion() -> None:
    kube = FakeKube()
    _create(kube)
    kube.patch_volume_group("default", "pg-data", {"metadata": {"finalizers": ["nearpath.io/targets"]}})
    assert kube.delete_volume_group("default", "pg-data")
    held = kube.get_volume_group("default", "pg-data")
    assert held is not None and held["metadata"]["deletionTimestamp"]
    kube.patch_volume_group("default", "pg-data", {"metadata": {"finalizers": []}})
    assert kube.get_volume_group("default", "pg-data") is None
    assert not kube.delete_volume_group("default", "pg-data")
    with pytest.raises(NotFound):
        kube.apply_volume_group_status("default", "pg-data", {}, "x")


def test_watch_replays_then_follows() -> None:
    kube = FakeKube()
    _create(kube)
    events = kube.watch_volume_groups(timeout_seconds=1)
    assert next(events)[0] == "ADDED"
    kube.patch_volume_group("default", "pg-data", {"metadata": {"labels": {"x": "y"}}})
    kind, obj = next(events)
    assert kind == "MODIFIED" and obj["metadata"]["labels"] == {"x": "y"}


def test_leases_and_expiry() -> None:
    kube = FakeKube()
    kube.apply_lease("nearpath-system", "node-a", "node-a", 10, labels={"nearpath.io/role": "target"})
    assert kube.list_leases("nearpath-system", "nearpath.io/role=target")[0]["spec"]["holderIdentity"] == "node-a"
    kube.expire_lease("nearpath-system", "node-a")
    assert kube.get_lease("nearpath-system", "node-a")["spec"]["renewTime"].startswith("2000")  # type: ignore[index]
