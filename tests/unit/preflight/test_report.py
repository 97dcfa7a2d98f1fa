"""The node-level report (annotations, Event, duplicate initiator names) on the fake API server,
the host-namespace runner and the command line."""

from __future__ import annotations

import json

import pytest

from nearpath.core import contract
from nearpath.core.fake_kube import FakeKube
from nearpath.core.fake_runner import FakeRunner
from nearpath.preflight import main as preflight_main
from nearpath.preflight.checks_initiator import PeerInitiator
from nearpath.preflight.hostexec import HostNamespaceRunner
from nearpath.preflight.model import Report, Role, Status, failed, passed, warned
from nearpath.preflight.node_report import check_against_peers, publish
from nearpath.preflight.settings import PreflightSettings
from tests.unit.preflight.hosts import HostSpec

pytestmark = pytest.mark.unit

IQN = "iqn.1993-08.org.debian:01:clone"


def _kube(*names: str) -> FakeKube:
    kube = FakeKube()
    for name in names:
        kube.add_node(name)
    return kube


def test_duplicate_initiator_on_another_machine_fails() -> None:
    kube = _kube("n1", "n2", "n3")
    assert check_against_peers(kube, PeerInitiator("n1", IQN, "boot-1")).status is Status.PASS
    clash = check_against_peers(kube, PeerInitiator("n2", IQN, "boot-2"))
    assert clash.status is Status.FAIL
    assert "n1" in clash.message and "iscsi-iname" in clash.fix
    annotations = kube.get_node("n2")["metadata"]["annotations"]  # type: ignore[index]
    assert annotations[contract.INITIATOR_NAME_ANNOTATION] == IQN
    assert annotations[contract.BOOT_ID_ANNOTATION] == "boot-2"
    assert check_against_peers(kube, PeerInitiator("n3", "iqn.2005-03.org.open-iscsi:n3", "boot-3")).status is (
        Status.PASS
    )


def test_nodes_sharing_one_kernel_share_its_initiator() -> None:
    kube = _kube("kind-worker", "kind-worker2")
    check_against_peers(kube, PeerInitiator("kind-worker", IQN, "same-kernel"))
    assert check_against_peers(kube, PeerInitiator("kind-worker2", IQN, "same-kernel")).status is Status.PASS


def test_publish_annotates_the_node_and_emits_an_event() -> None:
    kube = _kube("n1")
    report = Report(
        "n1", Role.NODE, (passed("a", "ok"), failed("iscsid", "not running", "start it"), warned("t", "w", "f"))
    )
    publish(kube, report, strict=False)
    summary = json.loads(kube.get_node("n1")["metadata"]["annotations"]["preflight.nearpath.io/node"])  # type: ignore[index]
    assert summary["status"] == "fail" and summary["failed"] == ["iscsid"] and summary["warned"] == ["t"]
    (event,) = kube.events
    assert event["reason"] == "PreflightFailed" and event["type"] == "Warning"
    assert "iscsid: not running (fix: start it)" in event["message"]
    assert event["component"] == contract.PREFLIGHT_EVENT_COMPONENT


def test_publish_passing_report_is_a_normal_event_unless_strict() -> None:
    kube = _kube("n1")
    report = Report("n1", Role.TARGET, (passed("a", "ok"), warned("t", "w", "f")))
    publish(kube, report, strict=False)
    publish(kube, report, strict=True)
    assert [(e["reason"], e["type"]) for e in kube.events] == [
        ("PreflightPassed", "Normal"),
        ("PreflightFailed", "Warning"),
    ]


def test_host_namespace_runner_enters_pid1_namespaces() -> None:
    inner = FakeRunner(strict=True).on("nsenter", stdout="x")
    HostNamespaceRunner(inner, "/host/proc/").run(["cat", "/proc/modules"], timeout=5)
    (argv,) = inner.argvs()
    assert argv[:5] == [
        "nsenter",
        "--mount=/host/proc/1/ns/mnt",
        "--uts=/host/proc/1/ns/uts",
        "--ipc=/host/proc/1/ns/ipc",
        "--net=/host/proc/1/ns/net",
    ]
    assert argv[-2:] == ["cat", "/proc/modules"]
    assert inner.calls[0].timeout == 5


def _run_cli(monkeypatch: pytest.MonkeyPatch, spec: HostSpec, *args: str) -> int:
    runner = spec.runner()
    monkeypatch.setattr(preflight_main, "host_runner", lambda _settings: runner)
    return preflight_main.main(["--node-name", "n1", *args])


def test_cli_exit_codes_and_output(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    assert _run_cli(monkeypatch, HostSpec(), "--role", "all") == 0
    assert "all 22 checks passed" in capsys.readouterr().out
    broken = HostSpec().set(("pgrep", "-x", "iscsid"), 1)
    assert _run_cli(monkeypatch, broken, "--role", "node", "--json") == 1
    out = json.loads(capsys.readouterr().out)
    assert out["status"] == "fail"
    assert [r["name"] for r in out["results"] if r["status"] == "fail"] == ["iscsid"]
    unsynced = HostSpec().set(("timedatectl", "show", "--property=NTPSynchronized", "--value"), 0, "no\n")
    assert _run_cli(monkeypatch, unsynced, "--role", "target") == 0
    assert _run_cli(monkeypatch, unsynced, "--role", "target", "--strict") == 1
    assert _run_cli(monkeypatch, broken, "--role", "node", "--report-only") == 0


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEARPATH_ROLE", "target")
    monkeypatch.setenv("NEARPATH_HOST_PROC", "/host/proc")
    monkeypatch.setenv("NEARPATH_REPORT_NODE", "true")
    settings = PreflightSettings()
    assert (settings.role, settings.host_proc, settings.report_node) == ("target", "/host/proc", True)
    assert isinstance(preflight_main.host_runner(settings), HostNamespaceRunner)
