"""What nearpath relies on from the Kubernetes API, as cases any :class:`KubeApi` must pass.

``tests/unit/test_kube_contract.py`` runs every case against :class:`~nearpath.core.fake_kube.FakeKube`,
``tests/controlplane/test_kube_contract.py`` against :class:`~nearpath.core.kube.ClusterKube` on a
real kube-apiserver with the repository's CRD. The fake is trusted by the unit tests of the
operator, the agent and the CSI controller only because it passes the same cases.

Each case gets a :class:`KubeBed`: the API, a fresh namespace, and ways to put Secrets and Nodes
(which nearpath only reads).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from nearpath.core.api import TargetStatus
from nearpath.core.clock import parse_time
from nearpath.core.contract import (
    CSI_FIELD_MANAGER,
    FINALIZER,
    OPERATOR_FIELD_MANAGER,
    target_field_manager,
    target_lease_labels,
    target_lease_name,
)
from nearpath.core.errors import AlreadyExists, Conflict, NotFound
from nearpath.core.kube import KubeApi, Obj
from tests.support.manifests import assignment, attachment, volume_group

WATCH_TIMEOUT_S = 5


@dataclass
class KubeBed:
    kube: KubeApi
    namespace: str
    put_secret: Callable[[str, str, dict[str, str]], None]
    put_node: Callable[[str, dict[str, str]], None]

    def vg(self, name: str = "vg1", **kwargs: Any) -> Obj:
        return self.kube.create_volume_group(volume_group(name, self.namespace, **kwargs))

    def status(self, name: str = "vg1") -> Obj:
        obj = self.kube.get_volume_group(self.namespace, name)
        assert obj is not None
        return dict(obj.get("status") or {})


def target_entry(node: str, ready: bool = True) -> Obj:
    return TargetStatus(node=node, iqn=f"iqn.2025-11.io.nearpath:t:{node}", ready=ready, devices_present=True).to_wire()


# -- VolumeGroups -----------------------------------------------------------------------------
def create_sets_identity_ignores_status_and_refuses_duplicates(bed: KubeBed) -> None:
    created = bed.kube.create_volume_group(
        volume_group("vg1", bed.namespace, status={"optimizedNode": "node-a"}, validate=False)
    )
    meta = created["metadata"]
    assert meta["uid"] and meta["generation"] == 1 and meta["resourceVersion"]
    assert "optimizedNode" not in (created.get("status") or {})
    fetched = bed.kube.get_volume_group(bed.namespace, "vg1")
    assert fetched is not None and fetched["metadata"]["uid"] == meta["uid"]
    assert bed.kube.get_volume_group(bed.namespace, "missing") is None
    assert [o["metadata"]["name"] for o in bed.kube.list_volume_groups(bed.namespace)] == ["vg1"]
    with pytest.raises(AlreadyExists):
        bed.vg("vg1")


def generation_moves_with_spec_only_and_stale_writes_conflict(bed: KubeBed) -> None:
    rv = bed.vg()["metadata"]["resourceVersion"]
    labelled = bed.kube.patch_volume_group(bed.namespace, "vg1", {"metadata": {"labels": {"a": "b"}}})
    assert labelled["metadata"]["generation"] == 1 and labelled["metadata"]["resourceVersion"] != rv
    changed = bed.kube.patch_volume_group(bed.namespace, "vg1", {"spec": {"placement": {"preferredNode": "node-b"}}})
    assert changed["metadata"]["generation"] == 2
    with pytest.raises(Conflict):
        bed.kube.patch_volume_group(bed.namespace, "vg1", {"metadata": {"labels": {"c": "d"}}}, resource_version=rv)
    current = changed["metadata"]["resourceVersion"]
    fresh = bed.kube.patch_volume_group(bed.namespace, "vg1", {"metadata": {"labels": {"c": "d"}}}, current)
    assert fresh["metadata"]["labels"] == {"a": "b", "c": "d"}


def spec_patches_cannot_write_status(bed: KubeBed) -> None:
    bed.vg()
    bed.kube.patch_volume_group(bed.namespace, "vg1", {"status": {"optimizedNode": "node-a"}})
    assert "optimizedNode" not in bed.status()


def status_apply_keeps_each_managers_part(bed: KubeBed) -> None:
    """The three writers of a status (operator, each node's agent, CSI) never overwrite each other,
    and a writer's next apply drops what it no longer lists."""
    bed.vg()
    operator = {"optimizedNode": "node-a", "assignments": [assignment("node-a"), assignment("node-b", "standby", 3)]}
    bed.kube.apply_volume_group_status(bed.namespace, "vg1", operator, OPERATOR_FIELD_MANAGER)
    for node in ("node-a", "node-b"):
        body = {"targets": [target_entry(node)]}
        bed.kube.apply_volume_group_status(bed.namespace, "vg1", body, target_field_manager(node))
    csi = {"attachments": [attachment("node-a")]}
    bed.kube.apply_volume_group_status(bed.namespace, "vg1", csi, CSI_FIELD_MANAGER)
    status = bed.status()
    assert sorted(t["node"] for t in status["targets"]) == ["node-a", "node-b"]
    assert status["optimizedNode"] == "node-a" and len(status["assignments"]) == 2
    assert [a["node"] for a in status["attachments"]] == ["node-a"]

    bed.kube.apply_volume_group_status(bed.namespace, "vg1", {"targets": []}, target_field_manager("node-b"))
    again = {"targets": [target_entry("node-a", ready=False)]}
    bed.kube.apply_volume_group_status(bed.namespace, "vg1", again, target_field_manager("node-a"))
    bed.kube.apply_volume_group_status(
        bed.namespace, "vg1", {"assignments": [assignment("node-a")]}, OPERATOR_FIELD_MANAGER
    )
    status = bed.status()
    assert [(t["node"], t["ready"]) for t in status["targets"]] == [("node-a", False)]
    assert "optimizedNode" not in status, "the operator's next apply omitted it: it must go"
    assert [a["node"] for a in status["assignments"]] == ["node-a"]
    assert [a["node"] for a in status["attachments"]] == ["node-a"]


def status_apply_to_a_missing_group_is_not_found(bed: KubeBed) -> None:
    with pytest.raises(NotFound):
        bed.kube.apply_volume_group_status(bed.namespace, "missing", {"targets": []}, OPERATOR_FIELD_MANAGER)


def finalizer_holds_deletion_until_released(bed: KubeBed) -> None:
    bed.vg(metadata={"finalizers": [FINALIZER]})
    assert bed.kube.delete_volume_group(bed.namespace, "vg1")
    held = bed.kube.get_volume_group(bed.namespace, "vg1")
    assert held is not None and held["metadata"]["deletionTimestamp"]
    assert held["metadata"]["finalizers"] == [FINALIZER]
    written = bed.kube.apply_volume_group_status(
        bed.namespace, "vg1", {"assignments": []}, OPERATOR_FIELD_MANAGER
    )  # the operator still writes status while deleting
    assert written["metadata"]["deletionTimestamp"]
    assert bed.kube.delete_volume_group(bed.namespace, "vg1"), "deleting again is accepted while held"
    bed.kube.patch_volume_group(bed.namespace, "vg1", {"metadata": {"finalizers": []}})
    assert bed.kube.get_volume_group(bed.namespace, "vg1") is None
    assert not bed.kube.delete_volume_group(bed.namespace, "vg1")
    with pytest.raises(NotFound):
        bed.kube.patch_volume_group(bed.namespace, "vg1", {"metadata": {"labels": {"a": "b"}}})


def deletion_without_finalizers_is_immediate(bed: KubeBed) -> None:
    bed.vg()
    assert bed.kube.delete_volume_group(bed.namespace, "vg1")
    assert bed.kube.get_volume_group(bed.namespace, "vg1") is None


def _next(events: Iterator[tuple[str, Obj]]) -> tuple[str, str]:
    kind, obj = next(events)
    return kind, obj["metadata"]["name"]


def watch_replays_then_follows_changes_and_deletion(bed: KubeBed) -> None:
    bed.vg("vg1")
    events = bed.kube.watch_volume_groups(bed.namespace, timeout_seconds=WATCH_TIMEOUT_S)
    assert _next(events) == ("ADDED", "vg1")
    bed.kube.patch_volume_group(bed.namespace, "vg1", {"metadata": {"labels": {"x": "y"}}})
    kind, obj = next(events)
    assert kind == "MODIFIED" and obj["metadata"]["labels"] == {"x": "y"}
    bed.vg("vg2")
    assert _next(events) == ("ADDED", "vg2")
    bed.kube.delete_volume_group(bed.namespace, "vg2")
    assert _next(events) == ("DELETED", "vg2")


def watch_from_a_resource_version_sees_only_later_events(bed: KubeBed) -> None:
    rv = bed.vg("vg1")["metadata"]["resourceVersion"]
    bed.vg("vg2")
    events = list(bed.kube.watch_volume_groups(bed.namespace, resource_version=rv, timeout_seconds=2))
    assert [(kind, obj["metadata"]["name"]) for kind, obj in events] == [("ADDED", "vg2")]


def watch_ends_at_its_timeout(bed: KubeBed) -> None:
    bed.vg("vg1")
    events = list(bed.kube.watch_volume_groups(bed.namespace, timeout_seconds=1))
    assert [(kind, obj["metadata"]["name"]) for kind, obj in events] == [("ADDED", "vg1")]


# -- Leases -----------------------------------------------------------------------------------
def agent_leases_are_applied_renewed_and_listed_by_label(bed: KubeBed) -> None:
    ns = bed.namespace
    for node in ("node-a", "node-b"):
        bed.kube.apply_lease(
            ns, target_lease_name(node), node, 10, target_lease_labels(node), target_field_manager(node)
        )
    bed.kube.apply_lease(ns, "other", "someone", 10, {"app": "other"}, "other")
    listed = bed.kube.list_leases(ns, "nearpath.io/role=target")
    assert sorted(lease["spec"]["holderIdentity"] for lease in listed) == ["node-a", "node-b"]
    first = bed.kube.get_lease(ns, target_lease_name("node-a"))
    assert first is not None and first["spec"]["leaseDurationSeconds"] == 10
    assert first["metadata"]["labels"] == target_lease_labels("node-a")
    renewed = bed.kube.apply_lease(
        ns, target_lease_name("node-a"), "node-a", 10, target_lease_labels("node-a"), target_field_manager("node-a")
    )
    assert parse_time(renewed["spec"]["renewTime"]) >= parse_time(first["spec"]["renewTime"])
    assert renewed["metadata"]["resourceVersion"] != first["metadata"]["resourceVersion"]
    assert bed.kube.get_lease(ns, "missing") is None


def leader_lease_updates_are_optimistic(bed: KubeBed) -> None:
    ns, name = bed.namespace, "leader"
    spec = {"holderIdentity": "a", "leaseDurationSeconds": 15}
    gone = bed.kube.update_lease(ns, "deleted-meanwhile", spec, resource_version="1")
    assert gone["spec"]["holderIdentity"] == "a", "a Lease gone since it was read is created (create-on-update)"
    created = bed.kube.update_lease(ns, name, spec, None, labels={"app": "x"})
    rv = created["metadata"]["resourceVersion"]
    with pytest.raises(Conflict):
        bed.kube.update_lease(ns, name, spec, None)  # created concurrently
    taken = bed.kube.update_lease(ns, name, {**spec, "holderIdentity": "b"}, rv, labels={"app": "x"})
    assert taken["spec"]["holderIdentity"] == "b"
    with pytest.raises(Conflict):
        bed.kube.update_lease(ns, name, {**spec, "holderIdentity": "c"}, rv)  # stale
    current = bed.kube.get_lease(ns, name)
    assert current is not None and current["spec"]["holderIdentity"] == "b"


# -- Secrets and Nodes ------------------------------------------------------------------------
def secrets_are_read_decoded(bed: KubeBed) -> None:
    bed.put_secret(bed.namespace, "chap", {"username": "user-one", "password": "pässword-0001"})
    assert bed.kube.read_secret(bed.namespace, "chap") == {"username": "user-one", "password": "pässword-0001"}
    assert bed.kube.read_secret(bed.namespace, "missing") is None


def nodes_are_listed_by_label(bed: KubeBed) -> None:
    mark = f"t{secrets.token_hex(4)}"
    bed.put_node(f"{mark}-a", {"nearpath.io/contract": mark, "zone": "a"})
    bed.put_node(f"{mark}-b", {"nearpath.io/contract": mark, "zone": "b"})
    zone_a = bed.kube.list_nodes(f"nearpath.io/contract={mark},zone=a")
    assert [n["metadata"]["name"] for n in zone_a] == [f"{mark}-a"]
    both = bed.kube.list_nodes(f"nearpath.io/contract={mark}")
    assert sorted(n["metadata"]["name"] for n in both) == [f"{mark}-a", f"{mark}-b"]
    assert both[0]["metadata"]["labels"]["nearpath.io/contract"] == mark


CASES: dict[str, Callable[[KubeBed], None]] = {
    case.__name__: case
    for case in (
        create_sets_identity_ignores_status_and_refuses_duplicates,
        generation_moves_with_spec_only_and_stale_writes_conflict,
        spec_patches_cannot_write_status,
        status_apply_keeps_each_managers_part,
        status_apply_to_a_missing_group_is_not_found,
        finalizer_holds_deletion_until_released,
        deletion_without_finalizers_is_immediate,
        watch_replays_then_follows_changes_and_deletion,
        watch_from_a_resource_version_sees_only_later_events,
        watch_ends_at_its_timeout,
        agent_leases_are_applied_renewed_and_listed_by_label,
        leader_lease_updates_are_optimistic,
        secrets_are_read_decoded,
        nodes_are_listed_by_label,
    )
}
