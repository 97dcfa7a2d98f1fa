from __future__ import annotations

import json
import logging
import threading
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import generate_latest

from nearpath.core.contract import FINALIZER, OPERATOR_FIELD_MANAGER
from nearpath.core.contract import target_field_manager as field_manager
from nearpath.core.contract import target_lease_name as lease_name
from nearpath.core.fake_kube import FakeKube
from nearpath.core.logging import JsonFormatter
from nearpath.target import main as target_main
from nearpath.target.agent import TargetAgent
from nearpath.target.confinement import PathPolicy
from nearpath.target.desired import DeviceFacts
from nearpath.target.fake_lio import FakeLio
from nearpath.target.runtime import AgentRuntime
from tests.unit.target.helpers import DEVICES, INITIATOR, NODE, PEER, PORTALS, SECRET, vg_obj

ANY_PATH = PathPolicy(allowed_prefixes=("/",))

pytestmark = pytest.mark.unit


class Files:
    """Devices on the node (probe) and sparse files the agent creates."""

    def __init__(self) -> None:
        self.devices = dict(DEVICES)
        self.created: list[tuple[str, int]] = []

    def probe(self, path: str) -> DeviceFacts:
        return self.devices.get(path, DeviceFacts(False))

    def create(self, path: str, size: int) -> bool:
        self.created.append((path, size))
        self.devices[path] = DeviceFacts(True, False, size)
        return True


@pytest.fixture
def files() -> Files:
    return Files()


@pytest.fixture
def lio() -> FakeLio:
    return FakeLio()


@pytest.fixture
def agent(lio: FakeLio, files: Files) -> TargetAgent:
    return TargetAgent(lio, NODE, PORTALS, prober=files.probe, create_file=files.create, path_policy=ANY_PATH)


@pytest.fixture
def kube() -> FakeKube:
    k = FakeKube()
    k.add_node(NODE, {"zone": "a"})
    return k


def create(kube: FakeKube, obj: dict[str, Any]) -> None:
    status = obj.pop("status", {})
    kube.create_volume_group(obj)
    if status:
        kube.apply_volume_group_status(
            obj["metadata"]["namespace"], obj["metadata"]["name"], status, "nearpath-operator"
        )


def entry(kube: FakeKube, name: str, node: str = NODE) -> dict[str, Any] | None:
    obj = kube.get_volume_group("default", name)
    assert obj is not None
    for e in obj.get("status", {}).get("targets", []):
        if e["node"] == node:
            return dict(e)
    return None


def test_status_entry_shape(kube: FakeKube, agent: TargetAgent, lio: FakeLio) -> None:
    create(kube, vg_obj("g1", state="active-non-optimized", port_group_id=4))
    agent.reconcile_kube(kube)
    e = entry(kube, "g1")
    assert e is not None
    assert e.pop("lastUpdateTime")
    assert e == {
        "node": NODE,
        "iqn": "iqn.2025-11.io.nearpath:default:g1:node-a",
        "portals": ["192.168.100.1:3260"],
        "aluaState": "active-non-optimized",
        "portGroupId": 4,
        "devicesPresent": True,
        "ready": True,
        "sessions": 0,
        "message": "serving 2 LUN(s) as active-non-optimized",
        "observedGeneration": 1,
    }
    assert kube.managers("default", "g1")[field_manager(NODE)] == {("targets", NODE)}
    lio.login(e["iqn"], INITIATOR)
    agent.reconcile_kube(kube)
    e2 = entry(kube, "g1")
    assert e2 is not None and e2["sessions"] == 1


def test_unchanged_status_is_not_rewritten(kube: FakeKube, agent: TargetAgent) -> None:
    create(kube, vg_obj("g1"))
    agent.reconcile_kube(kube)
    writes = len(kube.status_writes)
    agent.reconcile_kube(kube)
    assert len(kube.status_writes) == writes


def test_unassigned_group_gets_an_entry_but_no_lio_objects(kube: FakeKube, agent: TargetAgent, lio: FakeLio) -> None:
    create(kube, vg_obj("g1", assigned=False))
    agent.reconcile_kube(kube)
    e = entry(kube, "g1")
    assert e is not None and e["devicesPresent"] is True and e["ready"] is False
    assert e["message"] == "not assigned to this node"
    assert lio.targets == {} and lio.backstores == {}


def test_missing_device_reports_devices_absent(kube: FakeKube, agent: TargetAgent, files: Files) -> None:
    del files.devices["/srv/nearpath/scratch.img"]
    create(kube, vg_obj("g1", assigned=False))
    agent.reconcile_kube(kube)
    e = entry(kube, "g1")
    assert e is not None and e["devicesPresent"] is False


def test_placement_excluding_the_node_gets_no_entry(kube: FakeKube, agent: TargetAgent) -> None:
    create(kube, vg_obj("g1", nodes=[PEER], assigned=False))
    agent.reconcile_kube(kube)
    assert entry(kube, "g1") is None
    assert kube.status_writes == []


def test_broken_group_is_isolated_and_keeps_its_lio_objects(kube: FakeKube, agent: TargetAgent, lio: FakeLio) -> None:
    create(kube, vg_obj("good"))
    create(kube, vg_obj("secure", chap=True))
    kube.set_secret("default", "secure-chap", SECRET)
    agent.reconcile_kube(kube)
    secure = entry(kube, "secure")
    assert secure is not None and secure["ready"] is True
    kube.delete_secret("default", "secure-chap")
    lio.mutations.clear()
    agent.reconcile_kube(kube)
    secure, good = entry(kube, "secure"), entry(kube, "good")
    assert secure is not None and secure["ready"] is False
    assert secure["message"] == "CHAP Secret default/secure-chap not found"
    assert good is not None and good["ready"] is True
    assert lio.mutations == []  # the secure target keeps serving its logged-in sessions
    assert "iqn.2025-11.io.nearpath:default:secure:node-a" in lio.targets


def test_missing_device_on_an_assigned_group(kube: FakeKube, agent: TargetAgent, files: Files) -> None:
    del files.devices["/dev/disk/by-id/virtio-shared0"]
    create(kube, vg_obj("g1"))
    agent.reconcile_kube(kube)
    e = entry(kube, "g1")
    assert e is not None and e["ready"] is False and e["devicesPresent"] is False
    assert "disk root: /dev/disk/by-id/virtio-shared0 does not exist on this node" in e["message"]


def test_leaving_the_assignments_removes_lio_objects(kube: FakeKube, agent: TargetAgent, lio: FakeLio) -> None:
    create(kube, vg_obj("g1"))
    agent.reconcile_kube(kube)
    assert lio.targets
    kube.apply_volume_group_status(
        "default",
        "g1",
        {"assignments": [{"node": PEER, "aluaState": "active-optimized", "portGroupId": 3}]},
        "nearpath-operator",
    )
    agent.reconcile_kube(kube)
    assert lio.targets == {} and lio.backstores == {}
    e = entry(kube, "g1")
    assert e is not None and e["ready"] is False


def test_deleted_group_is_served_until_the_operator_withdraws_the_assignment(
    kube: FakeKube, agent: TargetAgent, lio: FakeLio
) -> None:
    """H2: a deletion request (kubectl delete, a namespace deletion, a GitOps prune) must not pull
    an attached disk; the operator keeps the assignment until the group is detached."""
    obj = vg_obj("g1")
    obj["metadata"]["finalizers"] = [FINALIZER]
    create(kube, obj)
    agent.reconcile_kube(kube)
    kube.delete_volume_group("default", "g1")
    agent.reconcile_kube(kube)
    served = entry(kube, "g1")
    assert served is not None and served["ready"] is True
    assert "iqn.2025-11.io.nearpath:default:g1:node-a" in lio.targets
    kube.apply_volume_group_status("default", "g1", {"assignments": []}, OPERATOR_FIELD_MANAGER)
    agent.reconcile_kube(kube)
    assert entry(kube, "g1") is None and lio.targets == {}


def test_local_backing_creates_the_sparse_file(kube: FakeKube, lio: FakeLio, files: Files) -> None:
    agent = TargetAgent(
        lio,
        NODE,
        PORTALS,
        prober=files.probe,
        create_file=files.create,
        local_directory="/var/lib/np",
        path_policy=ANY_PATH,
    )
    obj = vg_obj("local1", nodes=[NODE], disks=[{"name": "data", "size": "64Mi"}])
    obj["spec"]["backing"] = {"type": "local", "local": {"directory": "/var/lib/np"}}
    create(kube, obj)
    agent.reconcile_kube(kube)
    assert files.created == [("/var/lib/np/default/local1/data.img", 64 << 20)]
    assert lio.backstores["np_default_local1_data"].kind == "fileio"
    e = entry(kube, "local1")
    assert e is not None and e["ready"] is True


@pytest.mark.parametrize("directory", ["/srv/elsewhere", "/var/lib/nearpath/volumes-other", "/var/lib/nearpath"])
def test_local_files_outside_the_mounted_directory_are_refused(
    kube: FakeKube, agent: TargetAgent, files: Files, lio: FakeLio, directory: str
) -> None:
    """Only the chart's mounted host directory survives a restart; elsewhere is the container's layer (H6)."""
    obj = vg_obj("local2", nodes=[NODE], disks=[{"name": "data", "size": "64Mi"}])
    obj["spec"]["backing"] = {"type": "local", "local": {"directory": directory}}
    create(kube, obj)
    agent.reconcile_kube(kube)
    assert files.created == [] and lio.backstores == {} and lio.targets == {}
    e = entry(kube, "local2")
    assert e is not None and e["ready"] is False
    assert "outside the agent's local directory /var/lib/nearpath/volumes" in e["message"]


def test_passwords_never_reach_the_logs(kube: FakeKube, agent: TargetAgent, caplog: pytest.LogCaptureFixture) -> None:
    create(kube, vg_obj("g1", chap=True, mutual=True))
    kube.set_secret("default", "g1-chap", SECRET)
    with caplog.at_level(logging.DEBUG):
        agent.reconcile_kube(kube)
        kube.set_secret("default", "g1-chap", {**SECRET, "password": "rotated0000003"})
        agent.reconcile_kube(kube)
    formatter = JsonFormatter()
    text = "\n".join(formatter.format(r) for r in caplog.records)
    assert "lio change" in text
    for secret in (SECRET["password"], SECRET["mutualPassword"], "rotated0000003"):
        assert secret not in text


def test_lease_renewal(kube: FakeKube, agent: TargetAgent) -> None:
    agent.renew_lease(kube, "nearpath-system", 9)
    lease = kube.get_lease("nearpath-system", lease_name(NODE))
    assert lease is not None
    assert lease["spec"]["holderIdentity"] == NODE and lease["spec"]["leaseDurationSeconds"] == 9
    assert lease["metadata"]["labels"] == {"nearpath.io/role": "target", "nearpath.io/node": NODE}
    kube.expire_lease("nearpath-system", lease_name(NODE))
    stop = threading.Event()
    runtime = AgentRuntime(
        agent, kube, stop, resync_seconds=5, lease_namespace="nearpath-system", lease_duration_seconds=3
    )
    thread = threading.Thread(target=runtime.heartbeat)
    thread.start()
    try:
        for _ in range(50):
            renewed = kube.get_lease("nearpath-system", lease_name(NODE))
            if renewed and not renewed["spec"]["renewTime"].startswith("2000"):
                break
            stop.wait(0.05)
        else:
            pytest.fail("lease was not renewed")
    finally:
        stop.set()
        thread.join(timeout=5)
    assert not thread.is_alive()


def test_run_loop_converges_and_stops(kube: FakeKube, agent: TargetAgent, lio: FakeLio) -> None:
    create(kube, vg_obj("g1"))
    stop = threading.Event()
    runtime = AgentRuntime(agent, kube, stop, resync_seconds=2, lease_namespace="ns", lease_duration_seconds=3)
    thread = threading.Thread(target=runtime.run)
    thread.start()
    try:
        for _ in range(100):
            if entry(kube, "g1") is not None and kube.get_lease("ns", lease_name(NODE)) is not None:
                break
            stop.wait(0.05)
        e = entry(kube, "g1")
        assert e is not None and e["ready"] is True
        kube.apply_volume_group_status(
            "default",
            "g1",
            {"assignments": [{"node": NODE, "aluaState": "standby", "portGroupId": 2}]},
            "nearpath-operator",
        )
        for _ in range(100):
            e = entry(kube, "g1")
            if e is not None and e.get("aluaState") == "standby":
                break
            stop.wait(0.05)
        assert e is not None and e["aluaState"] == "standby"
    finally:
        stop.set()
        thread.join(timeout=15)
    assert not thread.is_alive()


def test_metrics_names(kube: FakeKube, agent: TargetAgent, lio: FakeLio) -> None:
    agent.metrics.watch_lio(lio, agent.lock)
    create(kube, vg_obj("g1"))
    kube.set_secret("default", "x", {})
    create(kube, vg_obj("broken", chap=True))
    agent.reconcile_kube(kube)
    iqn = "iqn.2025-11.io.nearpath:default:g1:node-a"
    lio.stats[(iqn, 0)] = (10, 3 << 20, 5 << 20)
    lio.login(iqn, INITIATOR)
    text = generate_latest(agent.metrics.registry).decode()
    assert f'nearpath_target_lun_commands_total{{backstore="np_default_g1_root",lun="0",target="{iqn}"}} 10.0' in text
    assert (
        f'nearpath_target_lun_write_bytes_total{{backstore="np_default_g1_root",lun="0",target="{iqn}"}} 5.24288e+06'
        in text
    )
    assert f'nearpath_target_alua_state{{group="np_pg2",state="active-optimized",target="{iqn}"}} 1.0' in text
    assert f'nearpath_target_alua_state{{group="np_pg2",state="standby",target="{iqn}"}} 0.0' in text
    assert f'nearpath_target_sessions{{target="{iqn}"}} 1.0' in text
    assert 'nearpath_target_reconcile_errors_total{volumegroup="default/broken"} 1.0' in text
    assert "nearpath_target_reconciles_total 1.0" in text


def test_file_mode_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, files: Files) -> None:
    lio = FakeLio()
    monkeypatch.setattr(target_main, "RtslibLio", lambda: lio)
    monkeypatch.setattr("nearpath.target.devices.probe", files.probe)
    monkeypatch.setattr("nearpath.target.agent.devices.probe", files.probe)
    monkeypatch.setattr(target_main, "TargetAgent", _agent_with(files))
    vg_file, secrets_file, status_file = tmp_path / "vg.json", tmp_path / "s.json", tmp_path / "out.json"
    vg_file.write_text(json.dumps({"items": [vg_obj("g1", chap=True)]}))
    secrets_file.write_text(json.dumps({"default/g1-chap": SECRET}))
    argv = ["--node", NODE, "--portal", "192.168.100.1", "--from-file", str(vg_file)]
    assert (
        target_main.main([*argv, "--secrets-file", str(secrets_file), "--status-file", str(status_file), "--once"]) == 0
    )
    status = json.loads(status_file.read_text())
    assert status[0]["volumeGroup"] == "default/g1" and status[0]["target"]["ready"] is True
    assert lio.targets["iqn.2025-11.io.nearpath:default:g1:node-a"].acls[INITIATOR].chap.username == "user-one"
    assert lio.prepared_dbroot == "/var/target"
    # without the Secret the group is not ready: exit code 1, LIO untouched
    lio.mutations.clear()
    assert target_main.main([*argv, "--once"]) == 1
    assert lio.mutations == []


def _agent_with(files: Files) -> Any:
    def build(edge: Any, node: str, portals: Any, **kwargs: Any) -> TargetAgent:
        kwargs["path_policy"] = ANY_PATH  # the fake filesystem's paths; confinement: test_confinement.py
        return TargetAgent(edge, node, portals, prober=files.probe, create_file=files.create, **kwargs)

    return build
