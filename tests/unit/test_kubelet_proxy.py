"""The cluster bed's CONNECT proxy (the API server's way to guest kubelets) splices only mapped targets."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cluster.kubelet_proxy import KubeletProxy

pytestmark = pytest.mark.unit


@pytest.fixture
def echo_port() -> Iterator[int]:
    server = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn:
                while data := conn.recv(4096):
                    conn.sendall(data.upper())

    threading.Thread(target=serve, daemon=True).start()
    yield server.getsockname()[1]
    server.close()


def _connect(proxy: KubeletProxy, target: str) -> tuple[socket.socket, bytes]:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(5)
    s.connect(str(proxy.path))
    s.sendall(f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n".encode())
    return s, s.recv(4096)


def test_mapped_node_address_is_spliced_to_its_forwarded_port(echo_port: int, tmp_path: Path) -> None:
    proxy = KubeletProxy(tmp_path / "egress.sock").start()
    try:
        proxy.route({("192.168.100.1", 10250): ("127.0.0.1", echo_port)})
        s, reply = _connect(proxy, "192.168.100.1:10250")
        with s:
            assert reply.startswith(b"HTTP/1.1 200")
            s.sendall(b"kubelet")
            assert s.recv(4096) == b"KUBELET"
    finally:
        proxy.close()


def test_unmapped_targets_are_refused(echo_port: int, tmp_path: Path) -> None:
    proxy = KubeletProxy(tmp_path / "egress.sock").start()
    try:
        proxy.route({("192.168.100.1", 10250): ("127.0.0.1", echo_port)})
        for target in ("192.168.100.2:10250", "192.168.100.1:22", "127.0.0.1:" + str(echo_port)):
            s, reply = _connect(proxy, target)
            s.close()
            assert reply.startswith(b"HTTP/1.1 403"), target
    finally:
        proxy.close()
