"""The VM test bed itself: links, fault injection, host loopback, shares, agent ops."""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import pytest

from tests.fixtures.vm import ClusterFactory
from tests.vm.harness import VM

pytestmark = pytest.mark.vm


def _reachable(src: VM, dst: VM) -> bool:
    return src.run(f"ping -c 2 -W 2 -i 0.5 {dst.address}", timeout=60).ok


def _serve_once(server: socket.socket, reply: bytes) -> None:
    conn, _addr = server.accept()
    with conn:
        conn.recv(100)
        conn.sendall(reply)


def test_links_faults_host_loopback_and_shares(vm_cluster: ClusterFactory, tmp_path: Path) -> None:
    cluster = vm_cluster(2, private_disk_mb=16)
    vm1, vm2 = cluster[0], cluster[1]

    # point-to-point link and silent drop / restore
    assert _reachable(vm1, vm2)
    vm1.drop_link(vm2)
    assert not _reachable(vm1, vm2)
    assert not _reachable(vm2, vm1)
    vm1.restore_link(vm2)
    assert _reachable(vm1, vm2)

    # the guest reaches a service on the host's loopback as 10.0.2.2
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        server.settimeout(60)
        port = server.getsockname()[1]
        thread = threading.Thread(target=_serve_once, args=(server, b"hello-from-host\n"))
        thread.start()
        got = vm1.run(
            f"python3 -c \"import socket; s=socket.create_connection(('10.0.2.2', {port}), 30);"
            f" s.sendall(b'hi'); print(s.recv(100).decode().strip())\"",
            timeout=90,
        )
        thread.join(timeout=60)
    assert got.stdout.strip() == "hello-from-host", got

    # repo share, scratch share, private disk, per-VM initiator name, baseline config
    assert vm1.run("test -f /opt/nearpath/src/tests/vm/harness.py", timeout=30).ok
    vm2.run("echo scratch-ok > /scratch/result.txt", timeout=30, check=True)
    assert (vm2.scratch / "result.txt").read_text().strip() == "scratch-ok"
    assert vm2.run("test -b /dev/disk/by-id/virtio-npvm2priv", timeout=30).ok
    assert vm2.iqn in vm2.run("cat /etc/iscsi/initiatorname.iscsi", timeout=30).stdout
    assert "fast_io_fail_tmo 2" in vm1.read_file("/etc/multipath.conf").decode()

    # agent: copy in/out, background process, run timeout
    src = tmp_path / "in.bin"
    src.write_bytes(bytes(range(256)) * 64)
    vm1.copy_in(src, "/tmp/in.bin")
    vm1.copy_out("/tmp/in.bin", tmp_path / "out.bin")
    assert (tmp_path / "out.bin").read_bytes() == src.read_bytes()
    pid = vm1.spawn("sleep 1; echo bg-done", log="/tmp/bg.log")
    assert vm1.wait_pid(pid, timeout=60) == 0
    assert vm1.read_file("/tmp/bg.log").decode().strip() == "bg-done"
    slow = vm1.run("sleep 30", timeout=2)
    assert slow.timed_out and not slow.ok
