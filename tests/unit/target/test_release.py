"""Released disks are erased before they can be claimed again (issue 15, C3).

The real agent over FakeKube (finalizers as the API server applies them), FakeLio, real files in
``tmp_path`` and a FakeRunner answering the erase commands; the commands chosen per device kind
follow the sysfs queue attributes (a tmp sysfs tree).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from nearpath.core.contract import WIPE_FINALIZER
from nearpath.core.fake_kube import FakeKube
from nearpath.core.fake_runner import FakeRunner
from nearpath.target import devices
from nearpath.target.agent import TargetAgent
from nearpath.target.confinement import HostView, PathPolicy
from nearpath.target.desired import DeviceFacts
from nearpath.target.fake_lio import FakeLio
from nearpath.target.wipe import MIB, wipe_device
from tests.unit.target.helpers import NODE, PORTALS, vg_obj

pytestmark = pytest.mark.unit


def _sys_block(root: Path, name: str, write_zeroes: int, discard: int) -> Path:
    queue = root / name / "queue"
    queue.mkdir(parents=True)
    (queue / "write_zeroes_max_bytes").write_text(f"{write_zeroes}\n")
    (queue / "discard_max_bytes").write_text(f"{discard}\n")
    return root


def test_write_zeroes_capable_device_is_zeroed_whole(tmp_path: Path) -> None:
    host = HostView(sys_block=_sys_block(tmp_path, "sdz", 1 << 25, 1 << 30))
    runner = FakeRunner(strict=True).on("blkdiscard", "--zeroout")
    result = wipe_device(runner, "/dev/sdz", 8 << 30, host)
    assert runner.argvs() == [["blkdiscard", "--zeroout", "/dev/sdz"]]
    assert result.method == "blkdiscard --zeroout"


def test_a_small_device_without_write_zeroes_is_still_zeroed_whole(tmp_path: Path) -> None:
    host = HostView(sys_block=_sys_block(tmp_path, "vdr", 0, 0))
    runner = FakeRunner(strict=True).on("blkdiscard", "--zeroout")
    result = wipe_device(runner, "/dev/vdr", 64 * MIB, host)
    assert runner.argvs() == [["blkdiscard", "--zeroout", "/dev/vdr"]]
    assert result.method == "blkdiscard --zeroout (zero pages)"


@pytest.mark.parametrize(("discard", "first"), [(0, "wipefs"), (1 << 30, "blkdiscard")])
def test_other_devices_lose_signatures_and_both_ends(tmp_path: Path, discard: int, first: str) -> None:
    host = HostView(sys_block=_sys_block(tmp_path, "vdq", 0, discard))
    runner = FakeRunner(strict=True).on("blkdiscard").on("wipefs").on("dd")
    size = 64 * MIB
    result = wipe_device(runner, "/dev/vdq", size, host, full_zero_limit=size - 1)
    argvs = runner.argvs()
    assert argvs[0][0] == first
    assert ["wipefs", "--all", "--force", "/dev/vdq"] in argvs
    dds = [a for a in argvs if a[0] == "dd"]
    assert [a for a in dds if not any(x.startswith("seek=") for x in a)] == [
        ["dd", "if=/dev/zero", "of=/dev/vdq", "bs=4096", "count=256", "conv=notrunc,fsync"]
    ]
    assert [x for a in dds for x in a if x.startswith("seek=")] == [f"seek={(size - MIB) // 4096}"]
    assert "zero first/last MiB" in result.method


@pytest.fixture
def volumes(tmp_path: Path) -> Path:
    path = tmp_path / "volumes"
    path.mkdir()
    return path


def _agent(lio: FakeLio, volumes: Path, runner: FakeRunner) -> TargetAgent:
    policy = PathPolicy((str(volumes) + "/", "/dev/disk/by-id/"), HostView(extra_mountinfo=()))
    return TargetAgent(
        lio, NODE, PORTALS, path_policy=policy, local_directory=str(volumes), runner=runner, prober=devices.probe
    )


def _local(volumes: Path, name: str) -> dict[str, Any]:
    obj = vg_obj(name, "tenant", disks=[{"name": "data", "size": "4Mi"}], nodes=[NODE])
    obj["spec"]["backing"] = {"type": "local", "local": {"directory": str(volumes)}}
    obj["metadata"]["finalizers"] = [WIPE_FINALIZER]
    obj["status"]["assignments"] = obj["status"]["assignments"][:1]
    return obj


def _create(kube: FakeKube, obj: dict[str, Any]) -> None:
    status = obj.pop("status", {})
    kube.create_volume_group(obj)
    meta = obj["metadata"]
    kube.apply_volume_group_status(meta["namespace"], meta["name"], status, "nearpath-operator")


def _withdraw(kube: FakeKube, name: str) -> None:
    """What the operator does once a deleted group is detached: no assignment any more."""
    kube.apply_volume_group_status("tenant", name, {"assignments": []}, "nearpath-operator")


def test_a_deleted_local_volume_file_is_removed_then_the_object_goes(volumes: Path) -> None:
    kube, lio = FakeKube(), FakeLio()
    kube.add_node(NODE, {})
    agent = _agent(lio, volumes, FakeRunner(strict=True))
    _create(kube, _local(volumes, "gone"))
    agent.reconcile_kube(kube)
    data = volumes / "tenant" / "gone" / "data.img"
    assert data.is_file() and lio.targets
    data.write_bytes(b"tenant secret" + b"\0" * 100)
    kube.delete_volume_group("tenant", "gone")
    agent.reconcile_kube(kube)  # still assigned (the operator has not withdrawn yet): nothing erased
    assert data.is_file() and kube.get_volume_group("tenant", "gone") is not None
    _withdraw(kube, "gone")
    agent.reconcile_kube(kube)  # drops the target; erases; removes the finalizer
    assert not data.exists() and not data.parent.exists()
    assert kube.get_volume_group("tenant", "gone") is None and not lio.targets


def test_shared_device_is_erased_through_the_runner_and_refused_paths_never(volumes: Path, tmp_path: Path) -> None:
    kube, lio = FakeKube(), FakeLio()
    kube.add_node(NODE, {})
    runner = FakeRunner(strict=True).on("blkdiscard").on("wipefs").on("dd")
    agent = _agent(lio, volumes, runner)
    agent.prober = lambda path: DeviceFacts(True, True, 128 << 30)  # big, no WRITE ZEROES: quick erase
    shared = vg_obj("shared", "tenant", disks=[{"name": "d", "size": "4Mi", "source": {"path": "/dev/disk/by-id/x"}}])
    hostile = vg_obj("hostile", "tenant", disks=[{"name": "d", "size": "4Mi", "source": {"path": "/dev/sda"}}])
    for obj in (shared, hostile):
        obj["metadata"]["finalizers"] = [WIPE_FINALIZER]
        obj["status"]["assignments"] = []
        _create(kube, obj)
        kube.delete_volume_group("tenant", obj["metadata"]["name"])
    agent.reconcile_kube(kube)
    assert ["wipefs", "--all", "--force", "/dev/disk/by-id/x"] in runner.argvs()
    assert not [a for a in runner.argvs() if "/dev/sda" in " ".join(a)]
    assert kube.get_volume_group("tenant", "shared") is None
    held = kube.get_volume_group("tenant", "hostile")
    assert held is not None and held["metadata"]["finalizers"] == [WIPE_FINALIZER]


def test_a_failed_erase_keeps_the_finalizer(volumes: Path) -> None:
    kube, lio = FakeKube(), FakeLio()
    kube.add_node(NODE, {})
    runner = FakeRunner(strict=True).on("blkdiscard", rc=1).on("wipefs", rc=1).on("dd")
    agent = _agent(lio, volumes, runner)
    agent.prober = lambda path: DeviceFacts(True, True, 128 << 30)
    obj = vg_obj("stuck", "tenant", disks=[{"name": "d", "size": "4Mi", "source": {"path": "/dev/disk/by-id/x"}}])
    obj["metadata"]["finalizers"] = [WIPE_FINALIZER]
    obj["status"]["assignments"] = []
    _create(kube, obj)
    kube.delete_volume_group("tenant", "stuck")
    agent.reconcile_kube(kube)
    held = kube.get_volume_group("tenant", "stuck")
    assert held is not None and held["metadata"]["finalizers"] == [WIPE_FINALIZER]
