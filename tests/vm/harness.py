"""Real-kernel VM test bed for nearpath (qemu TCG, no KVM, no host networking).

Each VM boots the Debian bookworm kernel (PVH ELF vmlinux) with the whole root
file system as an initramfs built by ``tests/vm/build``. What a VM gets:

* NIC 0: slirp user networking. The guest is 10.0.2.15; the host's loopback is
  10.0.2.2 from inside the guest (kube-apiserver etc. on host 127.0.0.1). The
  guest agent's TCP port 7777 is forwarded from host 127.0.0.1:<random port>.
* One point-to-point link per peer VM: qemu ``-netdev socket,udp=...,localaddr=...``
  on 127.0.0.1 (UDP between the two qemus, nothing else). Every VM owns the
  address ``192.168.100.<idx>`` (idx = 1..N), reachable from every peer over
  its dedicated link. These are guest-internal addresses.
* 9p shares: the repository checkout, read-only, at ``/opt/nearpath/src`` (on
  PYTHONPATH for every agent command, so code changes need no rebuild); a per-VM
  scratch directory at ``/scratch`` (host: ``VM.scratch``); harness-written
  config files copied over ``/`` before services start (``files=``).
* Disks: optional shared raw disk on every VM (``/dev/disk/by-id/virtio-<serial>``,
  ``file.locking=off,share-rw=on,cache=none``) and optional private disks.

Commands go through a small guest agent (tests/vm/guest/agent.py) over TCP:
``vm.run(...)``, ``vm.run_json(...)``, ``vm.spawn(...)`` for background jobs,
``vm.read_file/write_file``. Every qemu runs under ``timeout -s KILL`` in its own
process group and is killed by PID at ``Cluster.close()`` (and at exit).
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import itertools
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nearpath.csi.multipath import device_section

REPO = Path(__file__).resolve().parents[2]
BUILD_SCRIPT = REPO / "tests" / "vm" / "build"
QEMU = "qemu-system-x86_64"
AGENT_PORT = 7777
LINK_NET = "192.168.100"
BOOT_TIMEOUT = float(os.environ.get("NEARPATH_VM_BOOT_TIMEOUT", "180"))
QEMU_MAX_SECONDS = int(os.environ.get("NEARPATH_VM_MAX_SECONDS", "3600"))
IQN_PREFIX = "iqn.2024-01.io.nearpath.test"

# The LIO device section is the product's (csi.multipath.device_section) with the test bed's
# own timers; the node plugin's drop-in overrides it where a test stages through NodeOps.
BASELINE_MULTIPATH_CONF = """\
# nearpath VM test bed baseline (written by tests/vm/harness.py, overridable)
defaults {
    user_friendly_names no
    find_multipaths no
    path_grouping_policy group_by_prio
    prio alua
    path_selector "service-time 0"
    failback immediate
    path_checker tur
    no_path_retry 12
    dev_loss_tmo 60
    fast_io_fail_tmo 2
    polling_interval 1
}
blacklist {
    devnode "^vd[a-z]"
}
""" + device_section(fast_io_fail_tmo=2, dev_loss_tmo=60, no_path_retry=12)

BASELINE_ISCSID_CONF = """\
# nearpath VM test bed baseline (written by tests/vm/harness.py, overridable)
iscsid.startup = /bin/true
node.startup = manual
node.leading_login = No
node.session.timeo.replacement_timeout = 5
node.conn[0].timeo.login_timeout = 15
node.conn[0].timeo.logout_timeout = 15
node.conn[0].timeo.noop_out_interval = 1
node.conn[0].timeo.noop_out_timeout = 1
node.session.err_timeo.abort_timeout = 15
node.session.err_timeo.lu_reset_timeout = 30
node.session.err_timeo.tgt_reset_timeout = 30
node.session.initial_login_retry_max = 8
node.session.cmds_max = 128
node.session.queue_depth = 32
node.session.xmit_thread_priority = -20
node.session.iscsi.InitialR2T = No
node.session.iscsi.ImmediateData = Yes
node.session.iscsi.FirstBurstLength = 262144
node.session.iscsi.MaxBurstLength = 16776192
node.conn[0].iscsi.MaxRecvDataSegmentLength = 262144
node.conn[0].iscsi.MaxXmitDataSegmentLength = 0
discovery.sendtargets.iscsi.MaxRecvDataSegmentLength = 32768
node.session.nr_sessions = 1
node.session.scan = auto
"""

BASELINE_FILES: dict[str, str] = {
    "/etc/multipath.conf": BASELINE_MULTIPATH_CONF,
    "/etc/iscsi/iscsid.conf": BASELINE_ISCSID_CONF,
}


class VMError(RuntimeError):
    """A VM failed to boot, died, or its agent misbehaved."""


class CommandError(RuntimeError):
    """A guest command returned non-zero (raised by Result.check())."""


# ----------------------------------------------------------------- processes

_LIVE_PGIDS: set[int] = set()
_LIVE_LOCK = threading.Lock()


def _register(pgid: int) -> None:
    with _LIVE_LOCK:
        _LIVE_PGIDS.add(pgid)


def _members(pgid: int) -> list[int]:
    """Live (non-zombie) processes of a process group."""
    pids: list[int] = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) == pgid and fields[0] != "Z":
                pids.append(int(stat.parent.name))
    return pids


def _reap(pid: int, timeout: float) -> bool:
    """waitpid() our child `pid` for up to `timeout` s; True once it is gone."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            done, _status = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            return True  # not our child (or already reaped): nothing to wait for
        if done:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)


def _kill_group(pgid: int) -> None:
    """SIGKILL a harness process group (leader = `timeout`, member = qemu).

    qemu dies first so `timeout` reaps it (PID 1 in some sandboxes never reaps
    orphans), then the leader exits by itself and is reaped here.
    """
    for pid in _members(pgid):
        if pid != pgid:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
    if not _reap(pgid, 10):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)
        _reap(pgid, 10)
    with _LIVE_LOCK:
        _LIVE_PGIDS.discard(pgid)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A group whose members are all zombies still "exists"; check for real ones.
    return bool(_members(pgid))


def leftover_process_groups() -> list[int]:
    """Process groups started by this harness that are still alive."""
    with _LIVE_LOCK:
        pgids = sorted(_LIVE_PGIDS)
    return [p for p in pgids if _group_alive(p)]


def kill_all() -> list[int]:
    """Kill every qemu this harness started; returns the groups that were alive."""
    alive = leftover_process_groups()
    for pgid in alive:
        _kill_group(pgid)
    with _LIVE_LOCK:
        _LIVE_PGIDS.clear()
    return alive


# ----------------------------------------------------------------- image


@dataclass(frozen=True)
class Image:
    directory: Path

    @property
    def vmlinux(self) -> Path:
        return self.directory / "vmlinux"

    @property
    def initrd(self) -> Path:
        return self.directory / "initrd.img"

    @property
    def manifest(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads((self.directory / "manifest.json").read_text())
        return data


def qemu_available() -> str | None:
    """Path of qemu-system-x86_64 if it exists and runs, else None."""
    path = shutil.which(QEMU)
    if path is None:
        return None
    try:
        subprocess.run([path, "--version"], capture_output=True, timeout=30, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return path


def build_image(timeout: float = 3600) -> Image:
    """Run tests/vm/build (cached: ~1 s when nothing changed) and return the image."""
    proc = subprocess.run([str(BUILD_SCRIPT)], capture_output=True, text=True, timeout=timeout, check=False)
    if proc.returncode != 0:
        tail = "\n".join(proc.stderr.splitlines()[-40:])
        raise VMError(f"tests/vm/build failed (rc={proc.returncode}):\n{tail}")
    image = Image(Path(proc.stdout.strip().splitlines()[-1]))
    if not image.vmlinux.exists() or not image.initrd.exists():
        raise VMError(f"tests/vm/build printed {image.directory} but it holds no image")
    return image


# ----------------------------------------------------------------- agent


@dataclass(frozen=True)
class Result:
    rc: int
    stdout: str
    stderr: str
    timed_out: bool = False

    @property
    def ok(self) -> bool:
        return self.rc == 0 and not self.timed_out

    def check(self) -> Result:
        if not self.ok:
            raise CommandError(
                f"rc={self.rc} timed_out={self.timed_out}\n"
                f"--- stdout\n{self.stdout[-3000:]}\n--- stderr\n{self.stderr[-3000:]}"
            )
        return self


class AgentClient:
    """One JSON request per TCP connection to the guest agent."""

    def __init__(self, port: int, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = port

    def request(self, req: Mapping[str, Any], timeout: float) -> dict[str, Any]:
        with socket.create_connection((self.host, self.port), timeout=min(timeout, 15)) as sock:
            sock.settimeout(timeout)
            sock.sendall(json.dumps(req).encode() + b"\n")
            buf = bytearray()
            while not buf.endswith(b"\n"):
                chunk = sock.recv(1 << 20)
                if not chunk:
                    break
                buf += chunk
        if not buf:
            raise ConnectionError("agent closed the connection without a reply")
        reply: dict[str, Any] = json.loads(buf)
        if "error" in reply:
            raise VMError(f"guest agent error: {reply['error']}")
        return reply


def _command(cmd: str | Sequence[str]) -> dict[str, Any]:
    if isinstance(cmd, str):
        return {"sh": cmd}
    return {"argv": list(cmd)}


# ----------------------------------------------------------------- VM


@dataclass(frozen=True)
class Disk:
    path: Path
    serial: str

    def qemu_args(self, drive_id: str) -> list[str]:
        return [
            "-drive",
            f"file={self.path},format=raw,if=none,id={drive_id},cache=none,file.locking=off,aio=threads",
            "-device",
            f"virtio-blk-pci,drive={drive_id},serial={self.serial},share-rw=on",
        ]

    @property
    def guest_path(self) -> str:
        return f"/dev/disk/by-id/virtio-{self.serial}"


@dataclass
class VMSpec:
    name: str
    idx: int
    peers: dict[int, tuple[int, int]] = field(default_factory=dict)  # peer -> (local, remote) UDP
    services: tuple[str, ...] = ("iscsid", "multipathd")
    disks: list[Disk] = field(default_factory=list)
    memory_mb: int = 1024
    files: dict[str, str] = field(default_factory=dict)
    forwards: tuple[int, ...] = ()
    """Extra guest TCP ports forwarded from host 127.0.0.1 (``VM.forwarded[guest_port]``)."""

    @property
    def iqn(self) -> str:
        return f"{IQN_PREFIX}:{self.name}"

    @property
    def address(self) -> str:
        return f"{LINK_NET}.{self.idx}"


def _free_port(kind: int) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _mac(a: int, b: int, c: int) -> str:
    return f"52:54:00:{a:02x}:{b:02x}:{c:02x}"


class VM:
    """One qemu TCG guest with an agent."""

    def __init__(self, spec: VMSpec, image: Image, workdir: Path) -> None:
        self.spec = spec
        self.image = image
        self.workdir = workdir
        self.scratch = workdir / "scratch"
        self.console_log = workdir / "console.log"
        self.qemu_log = workdir / "qemu.log"
        self.agent_port = _free_port(socket.SOCK_STREAM)
        self.agent = AgentClient(self.agent_port)
        self.forwarded = {port: _free_port(socket.SOCK_STREAM) for port in spec.forwards}
        self.proc: subprocess.Popen[bytes] | None = None
        self.started_at = 0.0
        self.boot_seconds: float | None = None

    # -- properties
    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def address(self) -> str:
        return self.spec.address

    @property
    def iqn(self) -> str:
        return self.spec.iqn

    def __repr__(self) -> str:
        return f"VM({self.name}, {self.address}, agent=127.0.0.1:{self.agent_port})"

    # -- lifecycle
    def _write_config(self) -> Path:
        cfg = self.workdir / "npcfg"
        for guest_path, content in self.spec.files.items():
            dest = cfg / "root" / guest_path.lstrip("/")
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_text(content)
        return cfg

    def _append(self) -> str:
        p = self.spec
        params = {
            "np.name": p.name,
            "np.idx": str(p.idx),
            "np.peers": ",".join(str(i) for i in sorted(p.peers)),
            "np.iqn": p.iqn,
            "np.services": ",".join(p.services),
            "np.agent_port": str(AGENT_PORT),
        }
        base = "console=ttyS0 loglevel=4 net.ifnames=0 panic=-1 tsc=reliable no_timer_check"
        return base + " " + " ".join(f"{k}={v}" for k, v in params.items() if v)

    def qemu_argv(self) -> list[str]:
        p = self.spec
        cfg = self._write_config()
        self.scratch.mkdir(parents=True, exist_ok=True)
        argv = [
            QEMU, "-name", p.name,
            "-accel", "tcg,thread=multi,tb-size=256", "-cpu", "max",
            "-m", str(p.memory_mb), "-smp", "1",
            "-nographic", "-nodefaults", "-no-reboot",
            "-kernel", str(self.image.vmlinux), "-initrd", str(self.image.initrd),
            "-append", self._append(),
            "-serial", f"file:{self.console_log}", "-monitor", "none",
            "-pidfile", str(self.workdir / "qemu.pid"),
            "-device", "virtio-rng-pci",
            "-netdev", f"user,id=u0,hostfwd=tcp:127.0.0.1:{self.agent_port}-:{AGENT_PORT}" + "".join(
                f",hostfwd=tcp:127.0.0.1:{host}-:{guest}" for guest, host in sorted(self.forwarded.items())
            ),
            "-device", f"virtio-net-pci,netdev=u0,mac={_mac(10, p.idx, 0)},romfile=",
        ]  # fmt: skip
        for peer, (local, remote) in sorted(p.peers.items()):
            argv += [
                "-netdev",
                f"socket,id=l{peer},udp=127.0.0.1:{remote},localaddr=127.0.0.1:{local}",
                "-device",
                f"virtio-net-pci,netdev=l{peer},mac={_mac(100, p.idx, peer)},romfile=",
            ]
        shares = [("src", REPO, True), ("scratch", self.scratch, False), ("npcfg", cfg, True)]
        for tag, path, readonly in shares:
            ro = ",readonly=on" if readonly else ""
            argv += [
                "-fsdev", f"local,id={tag},path={path},security_model=none{ro}",
                "-device", f"virtio-9p-pci,fsdev={tag},mount_tag={tag}",
            ]  # fmt: skip
        for i, disk in enumerate(p.disks):
            argv += disk.qemu_args(f"d{i}")
        return argv

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        argv = ["timeout", "-s", "KILL", str(QEMU_MAX_SECONDS), *self.qemu_argv()]
        (self.workdir / "qemu.cmdline").write_text(shlex.join(argv) + "\n")
        with open(self.qemu_log, "wb") as log:
            self.proc = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        _register(self.proc.pid)
        self.started_at = time.monotonic()

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def wait_ready(self, timeout: float = BOOT_TIMEOUT) -> float:
        """Wait until the agent answers; returns seconds since qemu started."""
        deadline = self.started_at + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                raise VMError(f"{self.name}: qemu exited early\n{self.diagnostics()}")
            try:
                self.agent.request({"op": "ping"}, timeout=10)
            except (OSError, ValueError, VMError):
                time.sleep(1)
                continue
            self.boot_seconds = time.monotonic() - self.started_at
            return self.boot_seconds
        raise VMError(f"{self.name}: agent not reachable after {timeout:.0f} s\n{self.diagnostics()}")

    def qemu_pid(self) -> int | None:
        with contextlib.suppress(OSError, ValueError):
            return int((self.workdir / "qemu.pid").read_text().strip())
        return None

    def power_off(self) -> None:
        """Hard power-off: SIGKILL qemu (the guest gets no chance to flush or log out)."""
        if self.proc is None:
            return
        _kill_group(self.proc.pid)
        with contextlib.suppress(subprocess.TimeoutExpired, ChildProcessError):
            self.proc.wait(timeout=30)

    def close(self) -> None:
        self.power_off()

    # -- diagnostics
    def console_tail(self, lines: int = 60) -> str:
        try:
            text = self.console_log.read_text(errors="replace")
        except OSError:
            return "(no console log)"
        return "\n".join(text.splitlines()[-lines:])

    def diagnostics(self, lines: int = 60) -> str:
        qemu = ""
        with contextlib.suppress(OSError):
            qemu = self.qemu_log.read_text(errors="replace")[-2000:]
        return (
            f"=== {self.name} console ({self.console_log}), last {lines} lines\n"
            f"{self.console_tail(lines)}\n=== {self.name} qemu output\n{qemu}"
        )

    def host_rss_bytes(self) -> int | None:
        pid = self.qemu_pid()
        if pid is None:
            return None
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        return None

    # -- commands
    def run(
        self,
        cmd: str | Sequence[str],
        timeout: float = 120,
        env: Mapping[str, str] | None = None,
        input: str | None = None,
        check: bool = False,
    ) -> Result:
        """Run argv (list) or a bash command string in the guest; wait for it."""
        req = {"op": "run", **_command(cmd), "timeout": timeout, "env": dict(env or {})}
        if input is not None:
            req["input"] = input
        try:
            reply = self.agent.request(req, timeout=timeout + 30)
        except OSError as exc:
            raise VMError(f"{self.name}: agent unreachable running {cmd!r}: {exc}") from exc
        result = Result(int(reply["rc"]), reply["stdout"], reply["stderr"], bool(reply["timed_out"]))
        return result.check() if check else result

    def run_json(self, cmd: str | Sequence[str], timeout: float = 120) -> Any:
        return json.loads(self.run(cmd, timeout=timeout, check=True).stdout)

    def spawn(self, cmd: str | Sequence[str], log: str, env: Mapping[str, str] | None = None) -> int:
        """Start a background process in the guest (own session, output to `log`)."""
        req = {"op": "spawn", **_command(cmd), "log": log, "env": dict(env or {})}
        return int(self.agent.request(req, timeout=60)["pid"])

    def status(self, pid: int) -> tuple[bool, int | None]:
        reply = self.agent.request({"op": "status", "pid": pid}, timeout=30)
        return bool(reply["running"]), reply["rc"]

    def wait_pid(self, pid: int, timeout: float = 120) -> int | None:
        """Wait for a spawn()ed process to exit; returns its exit code (None: still running)."""
        deadline = time.monotonic() + timeout
        while True:
            running, rc = self.status(pid)
            if not running or time.monotonic() >= deadline:
                return None if running else rc
            time.sleep(0.5)

    def read_file(self, path: str) -> bytes:
        return base64.b64decode(self.agent.request({"op": "read", "path": path}, timeout=120)["data"])

    def write_file(self, path: str, data: bytes | str, mode: int = 0o644) -> None:
        raw = data.encode() if isinstance(data, str) else data
        req = {"op": "write", "path": path, "data": base64.b64encode(raw).decode(), "mode": mode}
        self.agent.request(req, timeout=120)

    def copy_in(self, host_path: Path, guest_path: str) -> None:
        self.write_file(guest_path, host_path.read_bytes(), host_path.stat().st_mode & 0o777)

    def copy_out(self, guest_path: str, host_path: Path) -> None:
        host_path.write_bytes(self.read_file(guest_path))

    def uptime(self) -> float:
        return float(self.agent.request({"op": "ping"}, timeout=30)["uptime"])

    # -- fault injection
    def drop_link(self, peer: VM) -> None:
        """Silently drop all traffic to and from `peer` (nftables in this guest)."""
        table = f"npfault_{peer.spec.idx}"
        script = (
            f"table inet {table} {{\n"
            f"  chain in {{ type filter hook input priority -10; policy accept;"
            f" ip saddr {peer.address} drop; }}\n"
            f"  chain out {{ type filter hook output priority -10; policy accept;"
            f" ip daddr {peer.address} drop; }}\n"
            "}\n"
        )
        self.run(["nft", "-f", "-"], input=script, timeout=60, check=True)

    def restore_link(self, peer: VM) -> None:
        self.run(f"nft delete table inet npfault_{peer.spec.idx} 2>/dev/null || true", check=True)

    def set_tpg_enabled(self, target_iqn: str, enabled: bool, tpg: int = 1) -> float:
        """Enable/disable a LIO iSCSI TPG; returns guest uptime right after the change."""
        path = f"/sys/kernel/config/target/iscsi/{target_iqn}/tpgt_{tpg}/enable"
        res = self.run(f"echo {int(enabled)} > {path} && cut -d' ' -f1 /proc/uptime", check=True)
        return float(res.stdout.strip())


# ----------------------------------------------------------------- cluster


class Cluster:
    """N VMs, a point-to-point link between every pair, optional shared disk."""

    def __init__(
        self,
        image: Image,
        n: int = 2,
        *,
        shared_disk_mb: int = 0,
        shared_serial: str = "npshared0",
        private_disk_mb: int = 0,
        services: tuple[str, ...] = ("iscsid", "multipathd"),
        files: Mapping[str, str | None] | None = None,
        memory_mb: int = 1024,
        workdir: Path | None = None,
        forwards: tuple[int, ...] = (),
    ) -> None:
        # A work dir the cluster created itself is removed at close() unless NEARPATH_VM_KEEP=1.
        self._owns_workdir = workdir is None
        self.workdir = workdir or Path(tempfile.mkdtemp(prefix="npvm-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.shared_disk: Disk | None = None
        if shared_disk_mb:
            self.shared_disk = self._make_disk("shared.raw", shared_serial, shared_disk_mb)
        merged = {**BASELINE_FILES, **(files or {})}
        cfg_files = {k: v for k, v in merged.items() if v is not None}
        specs = [
            VMSpec(f"vm{i}", i, services=services, memory_mb=memory_mb, forwards=forwards) for i in range(1, n + 1)
        ]
        for a, b in itertools.combinations(specs, 2):
            pa, pb = _free_port(socket.SOCK_DGRAM), _free_port(socket.SOCK_DGRAM)
            a.peers[b.idx] = (pa, pb)
            b.peers[a.idx] = (pb, pa)
        for spec in specs:
            spec.files = dict(cfg_files)
            if self.shared_disk:
                spec.disks.append(self.shared_disk)
            if private_disk_mb:
                disk_name = f"{spec.name}-private.raw"
                spec.disks.append(self._make_disk(disk_name, f"np{spec.name}priv", private_disk_mb))
        self.vms = [VM(spec, image, self.workdir / spec.name) for spec in specs]

    def _make_disk(self, name: str, serial: str, size_mb: int) -> Disk:
        path = self.workdir / name
        with open(path, "wb") as f:
            f.truncate(size_mb * 1024 * 1024)
        return Disk(path, serial)

    def __iter__(self) -> Iterator[VM]:
        return iter(self.vms)

    def __getitem__(self, i: int) -> VM:
        return self.vms[i]

    def start(self, timeout: float = BOOT_TIMEOUT) -> dict[str, float]:
        """Start every VM, wait for all agents; returns boot seconds per VM."""
        for vm in self.vms:
            vm.start()
        return {vm.name: vm.wait_ready(timeout) for vm in self.vms}

    def diagnostics(self, lines: int = 60) -> str:
        return "\n".join(vm.diagnostics(lines) for vm in self.vms)

    def close(self) -> None:
        for vm in self.vms:
            vm.close()
        if self._owns_workdir and os.environ.get("NEARPATH_VM_KEEP") != "1":
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> Cluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _atexit_kill() -> None:
    kill_all()


atexit.register(_atexit_kill)
