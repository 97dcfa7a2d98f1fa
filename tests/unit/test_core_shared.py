"""The small shared pieces of core: the wire contract, CHAP parsing, time formatting."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from nearpath.core import contract
from nearpath.core.chap import NO_CHAP, InvalidChapSecret, chap_from_secret
from nearpath.core.clock import parse_time, rfc3339
from nearpath.operator.health import lease_facts

pytestmark = pytest.mark.unit


def test_rfc3339_round_trips_in_utc_with_a_z() -> None:
    moment = datetime(2025, 11, 2, 10, 0, 0, 123456, tzinfo=UTC)
    assert rfc3339(moment) == "2025-11-02T10:00:00.123456Z"
    assert rfc3339(moment, "seconds") == "2025-11-02T10:00:00Z"
    assert parse_time(rfc3339(moment)) == moment
    elsewhere = moment.astimezone(timezone(timedelta(hours=2)))
    assert rfc3339(elsewhere) == rfc3339(moment)
    assert parse_time("") is None


def test_chap_from_secret_validates_and_ignores_unasked_mutual_keys() -> None:
    data = {"username": "u", "password": "p1", "mutualUsername": "t", "mutualPassword": "p2"}
    one_way = chap_from_secret(data, mutual=False, source="Secret ns/s")
    assert one_way.enabled and not one_way.mutual and one_way.secrets() == ["p1"]
    assert chap_from_secret(data, mutual=True, source="Secret ns/s").secrets() == ["p1", "p2"]
    with pytest.raises(InvalidChapSecret, match="CHAP Secret ns/s lacks password"):
        chap_from_secret({"username": "u"}, mutual=False, source="Secret ns/s")
    with pytest.raises(InvalidChapSecret, match="without spaces"):
        chap_from_secret({"username": "a b", "password": "p"}, mutual=False, source="Secret ns/s")
    assert not NO_CHAP.enabled
    assert "p1" not in repr(one_way)


def test_an_agent_lease_as_the_contract_names_it_is_what_the_operator_reads() -> None:
    lease = {
        "metadata": {"name": contract.target_lease_name("node-a"), "labels": contract.target_lease_labels("node-a")},
        "spec": {"holderIdentity": "pod-xyz", "renewTime": "2025-11-02T10:00:00Z", "leaseDurationSeconds": 10},
    }
    facts = lease_facts(lease)
    assert facts is not None and facts.node == "node-a"
    key, _, value = contract.TARGET_LEASE_SELECTOR.partition("=")
    assert lease["metadata"]["labels"][key] == value
