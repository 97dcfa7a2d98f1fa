"""VM tier (representative): FakeLio and the kernel's LIO give the same result for the contract
sequence of :mod:`tests.support.lio_contract` (the operations, refusals and read-backs the agent
relies on). One VM, one run of the sequence through :class:`~nearpath.target.rtslib_lio.RtslibLio`;
the fake runs the same sequence in-process. Any difference fails, naming the step or object.
"""

from __future__ import annotations

import json

import pytest

from nearpath.target.fake_lio import FakeLio
from tests.fixtures.vm import ClusterFactory
from tests.support.lio_contract import run

pytestmark = pytest.mark.vm

DIRECTORY = "/var/lib/nearpath/volumes/default/lio-contract"


def test_fake_lio_agrees_with_the_kernels_lio(vm_cluster: ClusterFactory) -> None:
    vm = vm_cluster(1)[0]
    res = vm.run(
        ["python3", "-m", "tests.support.lio_contract", "--portal", vm.address, "--directory", DIRECTORY],
        timeout=300,
    )
    assert res.rc == 0, res.stderr[-3000:]
    real = json.loads(res.stdout)
    fake = run(FakeLio(), vm.address, DIRECTORY)
    assert fake["steps"] == real["steps"], "step outcomes differ (fake, real):\n" + "\n".join(
        f"{f} {r}" for f, r in zip(fake["steps"], real["steps"], strict=True) if f != r
    )
    for name in real["snapshots"]:
        assert fake["snapshots"][name] == real["snapshots"][name], f"read-back '{name}' differs"
