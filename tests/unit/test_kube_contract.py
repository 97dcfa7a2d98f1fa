"""FakeKube passes the Kubernetes API contract nearpath relies on (:mod:`tests.support.kube_contract`);
``tests/controlplane/test_kube_contract.py`` runs the same cases against a real API server."""

from __future__ import annotations

import pytest

from nearpath.core.errors import Unavailable
from nearpath.core.fake_kube import FakeKube
from tests.support.kube_contract import CASES, KubeBed

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("case", sorted(CASES))
def test_fake_kube_keeps_the_contract(case: str) -> None:
    kube = FakeKube()
    CASES[case](KubeBed(kube, "t-contract", kube.set_secret, kube.add_node))


def test_expired_leases_are_aged_into_the_past() -> None:
    """A fake-only helper: a dead holder's Lease (the real tier stops its renewals instead)."""
    kube = FakeKube()
    kube.apply_lease("nearpath-system", "node-a", "node-a", 10, labels={"nearpath.io/role": "target"})
    kube.expire_lease("nearpath-system", "node-a")
    lease = kube.get_lease("nearpath-system", "node-a")
    assert lease is not None and lease["spec"]["renewTime"].startswith("2000")


def test_injected_failures_hit_the_next_call_only() -> None:
    kube = FakeKube()
    kube.fail_next("list_volume_groups", Unavailable("injected"))
    with pytest.raises(Unavailable):
        kube.list_volume_groups()
    assert kube.list_volume_groups() == []
