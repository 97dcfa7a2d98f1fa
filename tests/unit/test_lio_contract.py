"""FakeLio runs the LIO contract sequence (:mod:`tests.support.lio_contract`) the way the agent
needs; ``tests/vm/test_lio_contract.py`` requires the kernel's LIO to give the identical result."""

from __future__ import annotations

import pytest

from nearpath.core.contract import backstore_name, port_group_name, target_iqn
from nearpath.target.fake_lio import FakeLio
from tests.support.lio_contract import CHAP, GROUP, INITIATOR, NAMESPACE, NODE, run

pytestmark = pytest.mark.unit


def test_fake_lio_runs_the_contract_sequence() -> None:
    lio = FakeLio()
    result = run(lio, "192.168.100.1", "/var/lib/nearpath/volumes/default/lio-contract")
    outcomes = dict((name, outcome) for name, outcome in result["steps"])
    refused = {name: outcome for name, outcome in outcomes.items() if outcome != "ok"}
    assert refused == {
        "LUN on a missing backstore": "refused (NotFound)",
        "create the same backstore again": "refused (LioError)",
        "delete a backstore a LUN uses": "refused (LioError)",
        "delete a LUN an ACL maps": "refused (LioError)",
    }
    served = result["snapshots"]["served"]
    iqn, store = target_iqn(NAMESPACE, GROUP, NODE), backstore_name(NAMESPACE, GROUP, "d0")
    assert served["backstores"][store]["alua_groups"] == {port_group_name(2): [2, 0, 1]}
    target = served["targets"][iqn]
    assert target["enabled"] and target["luns"] == {"0": [store, port_group_name(2)]}
    assert target["acls"][INITIATOR]["chap"]["username"] == CHAP.username
    assert result["snapshots"]["removed"]["backstores"] == {} and result["snapshots"]["removed"]["targets"] == {}
    assert lio.violations == []
