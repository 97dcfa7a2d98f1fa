"""Lease-based node health tracking and leader election."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from nearpath.core.clock import rfc3339
from nearpath.core.errors import Aborted, Conflict
from nearpath.core.fake_kube import FakeKube
from nearpath.operator.decisions import Policy
from nearpath.operator.health import HealthTimers, LeaseTracker
from nearpath.operator.leader import LeaderElector, next_spec
from nearpath.operator.metrics import OperatorMetrics
from nearpath.operator.reconciler import Reconciler

pytestmark = pytest.mark.unit

T0 = datetime(2025, 11, 21, 12, 0, 0, tzinfo=UTC)


def lease(node: str, renew: datetime, duration: int = 10, version: int | None = None) -> dict[str, Any]:
    rv = version if version is not None else int((renew - T0).total_seconds() * 1000)
    return {
        "metadata": {
            "name": f"nearpath-target-{node}",
            "labels": {"nearpath.io/node": node},
            "resourceVersion": str(rv),
        },
        "spec": {
            "holderIdentity": node,
            "leaseDurationSeconds": duration,
            "renewTime": rfc3339(renew),
        },
    }


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def tracker(**timers: float) -> LeaseTracker:
    return LeaseTracker(HealthTimers(**{"grace": 1.0, "blind_after": 3.0, "regain_hold": 5.0, **timers}))


def poll_every_second(t: LeaseTracker, leases: Any, start: float, end: float) -> set[str]:
    """List at every second from ``start`` to ``end`` (leases: a function of the time)."""
    changed: set[str] = set()
    now = start
    while now <= end:
        changed |= t.observe(leases(now), now)
        now += 1.0
    return changed


def test_expiry_counts_from_the_operators_observation() -> None:
    t = tracker()
    assert t.observe([lease("a", at(0))], 100.0) == {"a"}  # first sight: renewed now
    assert t.snapshot(100.0, at(0))["a"].alive
    assert poll_every_second(t, lambda _: [lease("a", at(0))], 101.0, 110.0) == set()  # within duration + grace
    assert t.observe([lease("a", at(0))], 111.5) == {"a"}
    health = t.snapshot(111.5, at(11.5))["a"]
    assert not health.alive and health.down_since == at(11.0)


@pytest.mark.parametrize("skew", [-30.0, 30.0, -3600.0])
def test_agent_clock_skew_neither_fences_nor_delays(skew: float) -> None:
    """The agent's renewTime is never compared with the operator's clock."""
    t = tracker()

    def renewing(now: float) -> list[dict[str, Any]]:
        beat = int(now // 3) * 3  # renews every 3 s, stamped with its own (skewed) clock
        return [lease("a", at(beat + skew)), lease("b", at(beat))]

    assert poll_every_second(t, renewing, 0.0, 60.0) == {"a", "b"}  # only the first sight
    assert t.snapshot(60.0, at(60))["a"].alive
    # a stops renewing at 60: down 11 s after its last observed renewal whatever its clock says
    changed = poll_every_second(t, lambda now: [lease("a", at(60 + skew)), *renewing(now)[1:]], 61.0, 80.0)
    assert changed == {"a"}
    down = t.snapshot(80.0, at(80))["a"].down_since
    assert down is not None and at(70) <= down <= at(72)


def test_renewal_after_expiry_restarts_alive_period() -> None:
    t = tracker()
    assert poll_every_second(t, lambda _: [lease("a", at(0))], 0.0, 12.0) == {"a"}  # seen, then down
    assert not t.snapshot(12.0, at(12))["a"].alive
    assert t.observe([lease("a", at(20))], 20.5) == {"a"}
    assert t.snapshot(20.5, at(20.5))["a"].alive_since == at(20.5)


def test_flap_between_two_polls_is_noticed() -> None:
    """The Lease expired and came back between two listings: the agent's own renewTime gap gives it away."""
    t = tracker(blind_after=100.0)
    t.observe([lease("a", at(0))], 0.0)
    assert t.observe([lease("a", at(30))], 10.0) == {"a"}
    assert t.snapshot(10.0, at(10))["a"].alive_since == at(10)
    assert t.observe([lease("a", at(33))], 11.0) == set()  # a regular renewal does not restart it
    assert t.snapshot(11.0, at(11))["a"].alive_since == at(10)


def test_deleted_lease_means_down_and_labels_are_kept() -> None:
    t = tracker()
    t.observe([lease("a", at(0))], 0.0)
    t.set_labels([{"metadata": {"name": "a", "labels": {"zone": "z1"}}}])
    assert t.observe([], 1.0) == {"a"}
    health = t.snapshot(1.0, at(1))["a"]
    assert not health.alive and health.labels == {"zone": "z1"}


def test_api_outage_is_not_a_node_failure() -> None:
    """60 s without a successful listing, then the agents renew a few seconds after the API returns."""
    t = tracker()
    three = [lease(n, at(0)) for n in ("a", "b", "c")]
    poll_every_second(t, lambda _: three, 0.0, 2.0)
    # blind from 3 to 63 (listings fail: observe is not called); the first listing shows stale Leases
    assert t.observe(three, 63.0) == set()
    assert t.holding(63.0) and "regained the API" in t.hold_reason
    assert poll_every_second(t, lambda _: three, 64.0, 72.0) == set()  # still within the regained window
    renewed = [lease(n, at(73), version=999) for n in ("a", "b", "c")]
    assert poll_every_second(t, lambda _: renewed, 73.0, 80.0) == set()
    assert all(h.alive for h in t.snapshot(80.0, at(80)).values())

    # a node that never comes back still goes down, a full duration after the API returned
    def only_ab(now: float) -> list[dict[str, Any]]:
        return [lease("a", at(now), version=int(now) * 10), lease("b", at(now), version=int(now) * 10 + 1), renewed[2]]

    assert poll_every_second(t, only_ab, 81.0, 95.0) == {"c"}


def test_mass_expiry_holds_once_then_decides() -> None:
    t = tracker(mass_hold=20.0)
    fresh = [lease(n, at(0)) for n in ("a", "b", "c")]
    poll_every_second(t, lambda _: fresh, 0.0, 2.0)

    # a and b stop renewing (API slow for them, or both dead); c renews
    def only_c(now: float) -> list[dict[str, Any]]:
        return [fresh[0], fresh[1], lease("c", at(now), version=int(now * 1000) + 5)]

    assert poll_every_second(t, only_c, 3.0, 30.0) == set()  # held: suspecting the control plane
    assert "missed their Lease renewals" in t.hold_reason
    assert poll_every_second(t, only_c, 31.0, 40.0) == {"a", "b"}  # the hold ends, they are down
    assert t.snapshot(40.0, at(40))["c"].alive


def test_single_node_expiry_is_not_held() -> None:
    t = tracker()
    fresh = [lease(n, at(0)) for n in ("a", "b", "c")]
    poll_every_second(t, lambda _: fresh, 0.0, 1.0)

    def without_a(now: float) -> list[dict[str, Any]]:
        return [fresh[0], *(lease(n, at(now), version=int(now * 1000) + i) for i, n in enumerate(("b", "c")))]

    assert poll_every_second(t, without_a, 2.0, 12.0) == {"a"}
    assert not t.holding(12.0)


class Mono:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def elector(kube: FakeKube, identity: str, mono: Mono, wall: datetime = T0) -> LeaderElector:
    return LeaderElector(kube, "ns", "leader", identity, 15, clock=lambda: wall, monotonic=mono)


@pytest.mark.parametrize("skew", [-3600.0, -30.0, 0.0, 30.0])
def test_takeover_waits_a_duration_on_the_followers_clock(skew: float) -> None:
    """The holder's renewTime (its clock, skewed) is never compared with the follower's clock."""
    kube, mono = FakeKube(), Mono()
    one = elector(kube, "one", mono, wall=at(skew))
    two = elector(kube, "two", mono)
    assert one.try_acquire()
    for t in (1.0, 10.0, 15.5):  # first sight at 1: unchanged for 14.5 s is not enough
        mono.now = t
        assert not two.try_acquire()
    mono.now = 16.5
    assert two.try_acquire()
    assert not one.try_acquire()


def test_renewals_keep_followers_out() -> None:
    kube, mono = FakeKube(), Mono()
    one, two = elector(kube, "one", mono), elector(kube, "two", mono)
    assert one.try_acquire()
    for step in range(1, 20):
        mono.now = step * 5.0
        assert one.try_acquire()  # renewal
        assert not two.try_acquire()
    one.release()
    assert two.try_acquire()
    assert not one.try_acquire()


def test_former_leader_stops_holding_before_a_follower_can_take_over() -> None:
    kube, mono = FakeKube(), Mono()
    one, two = elector(kube, "one", mono), elector(kube, "two", mono)
    assert one.try_acquire() and one.holds()
    taken_at = None
    while taken_at is None:
        mono.now += 0.5
        if two.try_acquire():
            taken_at = mono.now
        if one.holds():
            assert taken_at is None, "both replicas hold the Lease"
    assert not one.holds() and two.holds()


def test_reconciler_writes_nothing_without_leadership() -> None:
    kube = FakeKube()
    allowed = [True]
    reconciler = Reconciler(kube, Policy(), OperatorMetrics(), may_write=lambda: allowed[0])
    kube.create_volume_group(
        {
            "apiVersion": "nearpath.io/v1alpha1",
            "kind": "VolumeGroup",
            "metadata": {"name": "vg", "namespace": "ns"},
            "spec": {
                "disks": [{"name": "d", "size": "1Gi", "source": {"path": "/dev/disk/by-id/x"}}],
                "backing": {"type": "shared"},
            },
        }
    )
    allowed[0] = False
    for obj in kube.list_volume_groups():
        reconciler.observe(None, obj)
    with pytest.raises(Aborted, match="leader Lease"):
        reconciler.reconcile("ns/vg")
    stored = kube.get_volume_group("ns", "vg")
    assert stored is not None and not stored["metadata"].get("finalizers") and not stored.get("status")
    assert kube.status_writes == []


def test_next_spec_counts_transitions() -> None:
    first = next_spec(None, "me", 15, at(0))
    assert first["leaseTransitions"] == 0 and first["holderIdentity"] == "me"
    renewed = next_spec(first, "me", 15, at(5))
    assert renewed["acquireTime"] == first["acquireTime"] and renewed["leaseTransitions"] == 0
    taken = next_spec(renewed, "other", 15, at(40))
    assert taken["leaseTransitions"] == 1 and taken["holderIdentity"] == "other"


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
