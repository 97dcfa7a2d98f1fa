"""The API server's way to the kubelets of the test bed (logs, exec): an HTTP CONNECT proxy.

Node addresses (192.168.100.<idx>) exist only inside the guests; each guest's kubelet port is
forwarded to a host loopback port by qemu. kube-apiserver's egress selector (``cluster``
traffic, ``HTTPConnect`` over a unix socket: its TCP transport insists on TLS) sends
``CONNECT <node-ip>:<port>`` here and this proxy splices the connection to the forwarded port.
Anything not in the map is refused (403).
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Mapping
from pathlib import Path

EGRESS_CONFIG = """\
apiVersion: apiserver.k8s.io/v1beta1
kind: EgressSelectorConfiguration
egressSelections:
- name: cluster
  connection:
    proxyProtocol: HTTPConnect
    transport:
      uds:
        udsName: {path}
"""


class KubeletProxy:
    def __init__(self, path: Path) -> None:
        self.routes: dict[tuple[str, int], tuple[str, int]] = {}
        self.path = path
        path.unlink(missing_ok=True)
        self._server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._server.bind(str(path))
        self._server.listen(64)
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._accept, name="kubelet-proxy", daemon=True)

    def start(self) -> KubeletProxy:
        self._thread.start()
        return self

    def route(self, routes: Mapping[tuple[str, int], tuple[str, int]]) -> None:
        self.routes.update(routes)

    def write_egress_config(self, path: Path) -> Path:
        path.write_text(EGRESS_CONFIG.format(path=self.path))
        return path

    def close(self) -> None:
        self._closed.set()
        with contextlib.suppress(OSError):
            self._server.close()
        self.path.unlink(missing_ok=True)

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        with client:
            head = b""
            while b"\r\n\r\n" not in head and len(head) < 8192:
                chunk = client.recv(4096)
                if not chunk:
                    return
                head += chunk
            line = head.split(b"\r\n", 1)[0].decode(errors="replace").split()
            target = self._target(line)
            if target is None:
                client.sendall(b"HTTP/1.1 403 Forbidden\r\n\r\n")
                return
            try:
                upstream = socket.create_connection(target, timeout=10)
            except OSError:
                client.sendall(b"HTTP/1.1 502 Bad Gateway\r\n\r\n")
                return
            with upstream:
                upstream.settimeout(None)
                client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
                rest = head.split(b"\r\n\r\n", 1)[1]
                if rest:
                    upstream.sendall(rest)
                pump = threading.Thread(target=_pipe, args=(upstream, client), daemon=True)
                pump.start()
                _pipe(client, upstream)
                pump.join(timeout=5)

    def _target(self, line: list[str]) -> tuple[str, int] | None:
        if len(line) < 2 or line[0] != "CONNECT":
            return None
        host, _, port = line[1].rpartition(":")
        if not port.isdigit():
            return None
        return self.routes.get((host.strip("[]"), int(port)))


def _pipe(src: socket.socket, dst: socket.socket) -> None:
    try:
        while data := src.recv(65536):
            dst.sendall(data)
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)
