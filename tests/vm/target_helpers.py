"""Drive the real nearpath target agent (file mode) in a guest, and iSCSI initiators against it."""

from __future__ import annotations

import json
import shlex
import time
from typing import Any

from tests.support import manifests
from tests.vm.harness import VM, Result, VMError

AGENT_ENV = {"NEARPATH_LOG_FORMAT": "text", "NEARPATH_LOG_LEVEL": "info"}
VG_FILE = "/root/np-vg.json"
SECRETS_FILE = "/root/np-secrets.json"
STATUS_FILE = "/root/np-status.json"
AGENT_LOG = "/root/np-agent.log"


def volume_group(
    name: str,
    node: str,
    disks: list[dict[str, Any]],
    initiators: list[str],
    *,
    chap_secret: str | None = None,
    mutual: bool = False,
    discovery_auth: bool = False,
    state: str = "active-optimized",
    port_group_id: int = 2,
    uid: str = "5b1e7a52-7c2e-4a8e-9a3c-0d1f2e3a4b5c",
) -> dict[str, Any]:
    return manifests.volume_group(
        name,
        "default",
        disks=disks,
        nodes=[node],
        initiators=initiators,
        chap_secret=chap_secret,
        mutual=mutual,
        discovery_auth=discovery_auth if chap_secret else None,
        metadata={"uid": uid, "generation": 1},
        status={"assignments": [manifests.assignment(node, state, port_group_id)]},
        validate=False,  # some VM tests serve what the agent must refuse
    )


def write_inputs(vm: VM, groups: list[dict[str, Any]], secrets: dict[str, dict[str, str]]) -> None:
    vm.write_file(VG_FILE + ".tmp", json.dumps({"items": groups}))
    vm.write_file(SECRETS_FILE + ".tmp", json.dumps(secrets), mode=0o600)
    vm.run(f"mv {VG_FILE}.tmp {VG_FILE} && mv {SECRETS_FILE}.tmp {SECRETS_FILE}", check=True)


def agent_argv(vm: VM, once: bool) -> list[str]:
    argv = [
        "python3", "-m", "nearpath", "target", "--node", vm.name, "--portal", vm.address,
        "--from-file", VG_FILE, "--secrets-file", SECRETS_FILE, "--status-file", STATUS_FILE,
    ]  # fmt: skip
    return [*argv, "--once"] if once else argv


def run_agent_once(vm: VM, timeout: float = 300) -> tuple[Result, list[dict[str, Any]]]:
    res = vm.run(agent_argv(vm, once=True), timeout=timeout, env=AGENT_ENV)
    return res, read_status(vm)


def start_agent(vm: VM, resync_seconds: float = 3) -> int:
    env = {**AGENT_ENV, "NEARPATH_RESYNC_SECONDS": str(resync_seconds)}
    return vm.spawn(agent_argv(vm, once=False), log=AGENT_LOG, env=env)


def kill_agent(vm: VM, pid: int, sig: str = "KILL") -> None:
    vm.run(f"kill -{sig} {pid}", timeout=30, check=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        running, _rc = vm.status(pid)
        if not running:
            return
        time.sleep(0.5)
    raise VMError(f"agent {pid} did not exit after SIG{sig}")


def read_status(vm: VM) -> list[dict[str, Any]]:
    res = vm.run(f"cat {STATUS_FILE} 2>/dev/null", timeout=30)
    return list(json.loads(res.stdout)) if res.stdout.strip() else []


def status_of(vm: VM, name: str) -> dict[str, Any]:
    for item in read_status(vm):
        if item["volumeGroup"] == f"default/{name}":
            return dict(item["target"] or {})
    raise AssertionError(f"no status for {name}: {read_status(vm)}")


def wait_status(vm: VM, name: str, predicate: Any, timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    last: dict[str, Any] = {}
    while time.monotonic() < deadline:
        try:
            last = status_of(vm, name)
        except (AssertionError, ValueError):
            last = {}
        if last and predicate(last):
            return last
        time.sleep(1)
    log = vm.run(f"tail -40 {AGENT_LOG}", timeout=30).stdout
    raise AssertionError(f"status of {name} never matched: {last}\n{log}")


def node_login(
    initiator: VM,
    iqn: str,
    portal: str,
    *,
    user: str = "",
    password: str = "",
    mutual_user: str = "",
    mutual_password: str = "",
    timeout: float = 90,
) -> Result:
    """Create a node record (no discovery) with the given CHAP settings and log in once."""
    node = f"iscsiadm -m node -T {shlex.quote(iqn)} -p {portal}"
    cmds = [
        f"{node} -o delete >/dev/null 2>&1 || true",
        f"{node} -o new >/dev/null",
        f"{node} -o update -n node.session.initial_login_retry_max -v 1",
        f"{node} -o update -n node.conn[0].timeo.login_timeout -v 10",
    ]
    if user:
        cmds += [
            f"{node} -o update -n node.session.auth.authmethod -v CHAP",
            f"{node} -o update -n node.session.auth.username -v {shlex.quote(user)}",
            f"{node} -o update -n node.session.auth.password -v {shlex.quote(password)}",
        ]
    if mutual_user:
        cmds += [
            f"{node} -o update -n node.session.auth.username_in -v {shlex.quote(mutual_user)}",
            f"{node} -o update -n node.session.auth.password_in -v {shlex.quote(mutual_password)}",
        ]
    setup = " && ".join(cmds)
    initiator.run(setup, timeout=60, check=True)
    return initiator.run(f"{node} --login", timeout=timeout)


def logout(initiator: VM, iqn: str) -> None:
    initiator.run(f"iscsiadm -m node -T {shlex.quote(iqn)} --logout >/dev/null 2>&1 || true", timeout=60)


def session_ids(initiator: VM) -> list[str]:
    res = initiator.run("iscsiadm -m session 2>/dev/null", timeout=30)
    return [line.split("[", 1)[1].split("]", 1)[0] for line in res.stdout.splitlines() if "[" in line]


def lun_device(initiator: VM, iqn: str, portal: str, lun: int, timeout: float = 60) -> str:
    path = f"/dev/disk/by-path/ip-{portal}-iscsi-{iqn}-lun-{lun}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if initiator.run(f"test -b {shlex.quote(path)}", timeout=30).ok:
            return path
        initiator.run("udevadm settle -t 10", timeout=30)
        time.sleep(1)
    raise VMError(f"{initiator.name}: {path} did not appear")
