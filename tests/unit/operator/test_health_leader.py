"""Lease-based node health tracking and leader election."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from nearpath.core.clock import rfc3339
from nearpath.core.errors import Conflict
from nearpath.core.fake_kube import FakeKube
from nearpath.operator.health import LeaseTracker
from nearpath.operator.leader import LeaderElector, may_take, next_spec

pytestmark = pytest.mark.unit

T0 = datetime(2025, 11, 21, 12, 0, 0, tzinfo=UTC)


def lease(node: str, renew: datetime, duration: int = 10) -> dict[str, Any]:
    return {
        "metadata": {"name": f"nearpath-target-{node}", "labels": {"nearpath.io/node": node}},
        "spec": {
            "holderIdentity": node,
            "leaseDurationSeconds": duration,
            "renewTime": rfc3339(renew),
        },
    }


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_lease_expiry_with_grace() -> None:
    tracker = LeaseTracker(grace=timedelta(seconds=1))
    assert tracker.observe([lease("a", at(0))], at(1)) == {"a"}
    assert tracker.snapshot()["a"].alive
    assert tracker.observe([lease("a", at(0))], at(10.5)) == set()  # within duration + grace
    assert tracker.observe([lease("a", at(0))], at(11.5)) == {"a"}
    health = tracker.snapshot()["a"]
    assert not health.alive and health.down_since == at(10)


def test_renewal_after_expiry_restarts_alive_period() -> None:
    tracker = LeaseTracker(grace=timedelta(seconds=1))
    tracker.observe([lease("a", at(0))], at(1))
    tracker.observe([lease("a", at(0))], at(12))  # down
    assert tracker.observe([lease("a", at(20))], at(20.5)) == {"a"}
    assert tracker.snapshot()["a"].alive_since == at(20)


def test_flap_between_two_polls_is_noticed() -> None:
    """The Lease expired and came back between two listings: the renewTime gap gives it away."""
    tracker = LeaseTracker(grace=timedelta(seconds=1))
    tracker.observe([lease("a", at(0))], at(1))
    assert tracker.snapshot()["a"].alive_since == at(0)
    assert tracker.observe([lease("a", at(30))], at(30.2)) == {"a"}
    assert tracker.snapshot()["a"].alive_since == at(30)
    # regular renewals do not restart it
    assert tracker.observe([lease("a", at(33))], at(33.2)) == set()
    assert tracker.snapshot()["a"].alive_since == at(30)


def test_deleted_lease_means_down_and_labels_are_kept() -> None:
    tracker = LeaseTracker()
    tracker.observe([lease("a", at(0))], at(1))
    tracker.set_labels([{"metadata": {"name": "a", "labels": {"zone": "z1"}}}])
    assert tracker.observe([], at(2)) == {"a"}
    health = tracker.snapshot()["a"]
    assert not health.alive and health.labels == {"zone": "z1"}


@pytest.mark.parametrize(
    ("spec", "identity", "now_s", "expected"),
    [
        (None, "me", 0, True),
        ({"holderIdentity": None}, "me", 0, True),
        ({"holderIdentity": "me", "renewTime": "2025-11-21T12:00:00Z", "leaseDurationSeconds": 15}, "me", 5, True),
        ({"holderIdentity": "other", "renewTime": "2025-11-21T12:00:00Z", "leaseDurationSeconds": 15}, "me", 5, False),
        ({"holderIdentity": "other", "renewTime": "2025-11-21T12:00:00Z", "leaseDurationSeconds": 15}, "me", 16, True),
    ],
    ids=["no-lease", "released", "own", "held-by-other", "expired"],
)
def test_may_take(spec: dict[str, Any] | None, identity: str, now_s: float, expected: bool) -> None:
    assert may_take(spec, identity, at(now_s)) is expected


def test_next_spec_counts_transitions() -> None:
    first = next_spec(None, "me", 15, at(0))
    assert first["leaseTransitions"] == 0 and first["holderIdentity"] == "me"
    renewed = next_spec(first, "me", 15, at(5))
    assert renewed["acquireTime"] == first["acquireTime"] and renewed["leaseTransitions"] == 0
    taken = next_spec(renewed, "other", 15, at(40))
    assert taken["leaseTransitions"] == 1 and taken["holderIdentity"] == "other"


def test_only_one_replica_leads_and_release_hands_over() -> None:
    clock = [at(0)]
    kube = FakeKube(clock=lambda: clock[0])
    one = LeaderElector(kube, "nearpath-system", "nearpath-operator-leader", "one", 15, clock=lambda: clock[0])
    two = LeaderElector(kube, "nearpath-system", "nearpath-operator-leader", "two", 15, clock=lambda: clock[0])
    assert one.try_acquire()
    assert not two.try_acquire()
    clock[0] = at(5)
    assert one.try_acquire()  # renewal
    assert not two.try_acquire()
    one.release()
    assert two.try_acquire()
    assert not one.try_acquire()
    clock[0] = at(30)  # two stopped renewing: its Lease expired
    assert one.try_acquire()


def test_stale_write_loses_the_race() -> None:
    kube = FakeKube()
    elector = LeaderElector(kube, "ns", "leader", "one", 15)
    assert elector.try_acquire()
    lease_obj = kube.get_lease("ns", "leader")
    assert lease_obj is not None
    old_version = lease_obj["metadata"]["resourceVersion"]
    assert elector.try_acquire()  # bumps the version
    with pytest.raises(Conflict):
        kube.update_lease("ns", "leader", {"holderIdentity": "two"}, old_version)
