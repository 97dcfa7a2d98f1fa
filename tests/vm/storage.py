"""Test-bed storage helpers: LIO export, iSCSI login, multipath inspection, writer logs.

Plain LIO + open-iscsi + dm-multipath driven from the host through the guest
agent. The real nearpath agent / CSI node plugin replace these later.
"""

from __future__ import annotations

import itertools
import shlex
import time
import uuid
from dataclasses import dataclass

from tests.vm.harness import VM, Cluster, VMError

GUEST_DIR = "/opt/nearpath/src/tests/vm/guest"
TARGET_IQN_PREFIX = "iqn.2024-01.io.nearpath.test:target"
LIO_NAA_PREFIX = "36001405"  # NAA 6 + LIO's IEEE company id; then the serial's leading hex digits


def target_iqn(vm: VM) -> str:
    return f"{TARGET_IQN_PREFIX}.{vm.name}"


def new_serial() -> str:
    """A unit serial unique in its leading 25 hex digits (LIO builds the NAA from those)."""
    return uuid.uuid4().hex


def expected_wwid(serial: str) -> str:
    return LIO_NAA_PREFIX + serial[:25]


def export_disk(
    vm: VM,
    device: str,
    serial: str,
    group_id: int,
    state: str,
    acls: list[str],
) -> dict[str, object]:
    """Export `device` on `vm` as LUN 0 of the VM's own target, in ALUA group `group_id`."""
    argv = [
        "python3", f"{GUEST_DIR}/lio_export.py", "--dev", device, "--serial", serial,
        "--iqn", target_iqn(vm), "--portal", vm.address, "--group-id", str(group_id),
        "--state", state,
    ]  # fmt: skip
    for acl in acls:
        argv += ["--acl", acl]
    summary: dict[str, object] = vm.run_json(argv, timeout=180)
    return summary


def login(initiator: VM, portal: VM, timeout: float = 120) -> None:
    """Discover `portal`'s target (sendtargets) and log in to it."""
    iqn = target_iqn(portal)
    cmd = (
        f"iscsiadm -m discovery -t st -p {portal.address}:3260 >/dev/null && "
        f"iscsiadm -m node -T {iqn} -p {portal.address}:3260 --login"
    )
    initiator.run(cmd, timeout=timeout, check=True)


@dataclass(frozen=True)
class PathInfo:
    wwid: str
    dev: str
    dm_state: str
    checker_state: str
    prio: int
    target: str
    hcil: str


PATH_FORMAT = "%w|%d|%t|%T|%p|%n|%i"


def paths(vm: VM) -> list[PathInfo]:
    res = vm.run(f"multipathd show paths raw format {shlex.quote(PATH_FORMAT)}", timeout=60)
    out: list[PathInfo] = []
    for line in res.stdout.splitlines():
        parts = [p.strip() for p in line.split("|")]
        if len(parts) != 7 or not parts[1]:
            continue
        prio = int(parts[4]) if parts[4].lstrip("-").isdigit() else -1
        out.append(PathInfo(parts[0], parts[1], parts[2], parts[3], prio, parts[5], parts[6]))
    return out


def wait_paths(vm: VM, wwid: str, count: int, timeout: float = 120) -> list[PathInfo]:
    """Wait until multipathd shows `count` active, ready paths of map `wwid`."""
    deadline = time.monotonic() + timeout
    last: list[PathInfo] = []
    while time.monotonic() < deadline:
        last = [p for p in paths(vm) if p.wwid == wwid]
        ready = [p for p in last if p.dm_state == "active" and p.checker_state == "ready"]
        if len(ready) >= count and all(p.prio >= 0 for p in ready):
            return last
        time.sleep(2)
    listing = vm.run("multipath -ll; multipathd show paths", timeout=60).stdout
    raise VMError(f"{vm.name}: map {wwid} has no {count} ready paths: {last}\n{listing}")


@dataclass(frozen=True)
class PathGroup:
    prio: int
    status: str
    devs: tuple[str, ...]


def path_groups(vm: VM, wwid: str) -> list[PathGroup]:
    """Priority groups of a map in dm table order, from `multipathd show map json`."""
    data = vm.run_json(f"multipathd show map {wwid} json", timeout=60)
    groups = data["map"]["path_groups"]
    return [PathGroup(int(g["pri"]), str(g["dm_st"]), tuple(p["dev"] for p in g["paths"])) for g in groups]


def dm_device(vm: VM, wwid: str) -> str:
    """The /dev/mapper node of a multipath map (maps are named by WWID here)."""
    vm.run(f"test -b /dev/mapper/{wwid}", timeout=30, check=True)
    return f"/dev/mapper/{wwid}"


# ----------------------------------------------------------------- writer


@dataclass(frozen=True)
class WriterStats:
    n_ok: int
    n_err: int
    first: float
    last: float
    max_gap: float
    max_gap_at: float
    ok_after: int
    done: bool


def start_writer(vm: VM, device: str, log: str, seconds: float = 300) -> int:
    argv = ["python3", f"{GUEST_DIR}/writer.py", device, log, "--seconds", str(seconds)]
    return vm.spawn(argv, log=log + ".stderr")


def stop_writer(vm: VM, pid: int, timeout: float = 60) -> None:
    vm.run(f"kill -TERM {pid} 2>/dev/null || true", timeout=30)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        running, _rc = vm.status(pid)
        if not running:
            return
        time.sleep(1)
    raise VMError(f"{vm.name}: writer {pid} did not stop within {timeout} s (I/O hung?)")


def writer_progress(vm: VM, log: str) -> tuple[int, float]:
    """(completed writes, timestamp of the last one) from the guest log, cheaply."""
    res = vm.run(f"grep -c ' ok$' {log}; grep ' ok$' {log} | tail -1 | cut -d' ' -f1", timeout=60)
    lines = res.stdout.split()
    if len(lines) < 2:
        return 0, 0.0
    return int(lines[0]), float(lines[1])


def analyse_writer_log(text: str, since: float = 0.0) -> WriterStats:
    """Longest gap between consecutive completions at or after `since` - 1 s."""
    oks: list[float] = []
    n_err = 0
    done = False
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 2:
            continue
        if parts[1] == "ok":
            oks.append(float(parts[0]))
        elif parts[1] == "err":
            n_err += 1
        elif parts[1] == "done":
            done = True
    if len(oks) < 2:
        raise VMError(f"writer log has {len(oks)} completions; nothing to analyse")
    window = [t for t in oks if t >= since - 1.0] or oks[-2:]
    gaps = [(b - a, a) for a, b in itertools.pairwise(window)]
    gap, at = max(gaps) if gaps else (0.0, window[0])
    return WriterStats(
        n_ok=len(oks),
        n_err=n_err,
        first=oks[0],
        last=oks[-1],
        max_gap=gap,
        max_gap_at=at,
        ok_after=sum(1 for t in oks if t > since),
        done=done,
    )


def sha256_of(vm: VM, device: str, offset_mb: int, size_mb: int) -> str:
    cmd = f"dd if={device} bs=1M skip={offset_mb} count={size_mb} iflag=direct status=none | sha256sum | cut -d' ' -f1"
    return vm.run(cmd, timeout=300, check=True).stdout.strip()


def write_random(vm: VM, device: str, offset_mb: int, size_mb: int) -> str:
    """Write random data with O_DIRECT; returns its sha256 (computed from the source)."""
    src = "/tmp/np-random.bin"
    cmd = (
        f"head -c {size_mb}M /dev/urandom > {src} && "
        f"dd if={src} of={device} bs=1M seek={offset_mb} oflag=direct conv=fsync status=none && "
        f"sha256sum {src} | cut -d' ' -f1"
    )
    return vm.run(cmd, timeout=300, check=True).stdout.strip()


@dataclass(frozen=True)
class Setup:
    cluster: Cluster
    initiator: VM
    peer: VM
    wwid: str
    dm: str
    local_path: PathInfo
    remote_path: PathInfo


def setup_two_node_lun(cluster: Cluster) -> Setup:
    """Export the shared disk on both VMs (AO on vm1, ANO on vm2); vm1 logs in to both."""
    vm1, vm2 = cluster[0], cluster[1]
    assert cluster.shared_disk is not None
    serial = new_serial()
    for vm, group_id, state in ((vm1, 2, "ao"), (vm2, 3, "ano")):
        summary = export_disk(vm, cluster.shared_disk.guest_path, serial, group_id, state, [vm1.iqn])
        assert summary["group_id"] == group_id and summary["lun_group"] == f"np_tpg{group_id}"
    login(vm1, vm1)
    login(vm1, vm2)
    wwid = expected_wwid(serial)
    found = wait_paths(vm1, wwid, count=2)
    by_target = {p.target: p for p in found}
    local = by_target[target_iqn(vm1)]
    remote = by_target[target_iqn(vm2)]
    return Setup(cluster, vm1, vm2, wwid, dm_device(vm1, wwid), local, remote)


def wait_for_writes(vm: VM, log: str, minimum: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        n, _last = writer_progress(vm, log)
        if n >= minimum:
            return
        time.sleep(1)
    stderr = vm.run(f"cat {log}.stderr", timeout=30).stdout
    raise AssertionError(f"writer did not complete {minimum} writes in {timeout} s: {stderr}")
