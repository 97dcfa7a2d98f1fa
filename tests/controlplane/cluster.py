"""A real Kubernetes control plane (etcd + kube-apiserver [+ kube-controller-manager]) for tests.

Binaries come from ``tests/controlplane/fetch`` (cached in
``${NEARPATH_CACHE:-$HOME/.cache/nearpath}/bin``). Everything else (certificates,
token file, service-account keys, kubeconfigs, data dirs, logs) is generated in a
private temporary directory that :meth:`ControlPlane.stop` removes.

Authentication is by static bearer tokens (``tokens.csv``):

* ``admin`` (group ``system:masters``),
* ``system:kube-controller-manager`` (the identity Kubernetes' bootstrap RBAC knows),
* one user per nearpath component (``nearpath-operator``, ``nearpath-csi-controller``,
  ``nearpath-target-<node>`` ...), groups ``nearpath:components`` (+ ``nearpath:targets``).
  They get no RBAC here: the chart under test grants their permissions.

QEMU guests reach the host loopback as ``10.0.2.2`` (slirp), so the serving
certificate carries SAN IPs 127.0.0.1 and 10.0.2.2; see :meth:`ControlPlane.guest_kubeconfig`.
"""

from __future__ import annotations

import atexit
import datetime as dt
import ipaddress
import json
import os
import secrets
import shutil
import socket
import ssl
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tests.support.cache import cache_bin_dir
from tests.support.processes import Proc, start_process

GUEST_HOST_IP = "10.0.2.2"  # the host loopback as seen from a slirp (user-net) QEMU guest
ADMIN = "admin"
KCM_USER = "system:kube-controller-manager"
DEFAULT_COMPONENT_USERS = ("nearpath-operator", "nearpath-csi-controller")
DEFAULT_NODES = ("node-0", "node-1", "node-2")
KCM_CONTROLLERS = (
    "garbage-collector-controller",
    "namespace-controller",
    "serviceaccount-controller",
    "serviceaccount-token-controller",
)
SERVICE_CIDR = "10.0.0.0/24"
SA_ISSUER = "https://kubernetes.default.svc.cluster.local"
REQUIRED_BINARIES = ("etcd", "kube-apiserver", "kube-controller-manager", "kubectl")


class ControlPlaneError(RuntimeError):
    """Starting or talking to the control plane failed."""


def missing_binaries(bin_dir: Path) -> list[str]:
    return [b for b in REQUIRED_BINARIES if not os.access(bin_dir / b, os.X_OK)]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def process_alive(pid: int, exe: str) -> bool:
    """True if ``pid`` runs ``exe`` (guards against PID reuse) and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return False
    state = stat.rsplit(")", 1)[-1].split()[0]
    return state != "Z" and cmdline == exe


# ---- certificates ---------------------------------------------------------------
@dataclass(frozen=True)
class KeyPair:
    cert: Path
    key: Path


def _write_key(key: ec.EllipticCurvePrivateKey, path: Path) -> None:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    path.chmod(0o600)


def _builder(subject: str, issuer: x509.Name | None, pub: ec.EllipticCurvePublicKey) -> x509.CertificateBuilder:
    now = dt.datetime.now(dt.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer or name)
        .public_key(pub)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=7))
    )


def make_ca(directory: Path) -> tuple[KeyPair, ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        _builder("nearpath-test-ca", None, key.public_key())
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .sign(key, hashes.SHA256())
    )
    pair = KeyPair(directory / "ca.crt", directory / "ca.key")
    pair.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    _write_key(key, pair.key)
    return pair, key, cert


def make_serving_cert(directory: Path, ca_key: ec.EllipticCurvePrivateKey, ca_cert: x509.Certificate) -> KeyPair:
    key = ec.generate_private_key(ec.SECP256R1())
    ips = ["127.0.0.1", GUEST_HOST_IP, "10.0.0.1"]
    dns = [
        "localhost",
        "kubernetes",
        "kubernetes.default",
        "kubernetes.default.svc",
        "kubernetes.default.svc.cluster.local",
    ]
    san = [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips] + [x509.DNSName(d) for d in dns]
    cert = (
        _builder("kube-apiserver", ca_cert.subject, key.public_key())
        .add_extension(x509.SubjectAlternativeName(san), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    pair = KeyPair(directory / "apiserver.crt", directory / "apiserver.key")
    pair.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    _write_key(key, pair.key)
    return pair


def make_sa_keys(directory: Path) -> KeyPair:
    """Service-account token signing key pair (ES256); ``cert`` holds the public key."""
    key = ec.generate_private_key(ec.SECP256R1())
    pair = KeyPair(directory / "sa.pub", directory / "sa.key")
    pair.cert.write_bytes(
        key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    _write_key(key, pair.key)
    return pair


# ---- token users --------------------------------------------------------------------
@dataclass(frozen=True)
class TokenUser:
    name: str
    groups: tuple[str, ...]
    token: str = field(default_factory=lambda: secrets.token_hex(24), repr=False)

    def csv_line(self) -> str:
        groups = ",".join(self.groups)
        return f"{self.token},{self.name},uid-{self.name}" + (f',"{groups}"' if groups else "")


def default_users(components: Sequence[str], nodes: Sequence[str]) -> dict[str, TokenUser]:
    users = [TokenUser(ADMIN, ("system:masters",)), TokenUser(KCM_USER, ())]
    users += [TokenUser(c, ("nearpath:components",)) for c in components]
    users += [TokenUser(f"nearpath-target-{n}", ("nearpath:components", "nearpath:targets")) for n in nodes]
    return {u.name: u for u in users}


# ---- the control plane ------------------------------------------------------------------
class ControlPlane:
    """etcd + kube-apiserver (+ kube-controller-manager) on 127.0.0.1, random ports.

    Use as a context manager, or call :meth:`start` and (always, in ``finally``) :meth:`stop`.
    """

    def __init__(
        self,
        bin_dir: Path | None = None,
        *,
        controller_manager: bool = True,
        component_users: Sequence[str] = DEFAULT_COMPONENT_USERS,
        nodes: Sequence[str] = DEFAULT_NODES,
        ready_timeout_s: float = 120.0,
        keep_workdir: bool | None = None,
    ) -> None:
        self.bin_dir = bin_dir or cache_bin_dir()
        self.with_controller_manager = controller_manager
        self.users = default_users(component_users, nodes)
        self.ready_timeout_s = ready_timeout_s
        self.keep_workdir = (
            os.environ.get("NEARPATH_KEEP_CONTROL_PLANE") == "1" if keep_workdir is None else keep_workdir
        )
        self.workdir = Path(tempfile.mkdtemp(prefix="nearpath-cp-"))
        self.procs: list[Proc] = []
        self._retired: list[Proc] = []  # processes already stopped (restarts)
        self.port = 0
        self.startup_seconds = 0.0
        self._ca: KeyPair | None = None
        self._stopped = False

    # -- public properties ---------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def guest_url(self) -> str:
        """The API server URL as seen from a QEMU slirp guest."""
        return f"https://{GUEST_HOST_IP}:{self.port}"

    @property
    def ca_cert(self) -> Path:
        if self._ca is None:
            raise ControlPlaneError("control plane not started")
        return self._ca.cert

    @property
    def kubeconfig(self) -> Path:
        """Admin (system:masters) kubeconfig."""
        return self.workdir / "kubeconfig" / f"{ADMIN}.json"

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.procs]

    def token_for(self, user: str) -> str:
        return self.users[user].token

    def kubeconfig_for(self, user: str, *, server: str | None = None) -> Path:
        """Write (or rewrite) and return a kubeconfig authenticating as ``user``."""
        server = server or self.url
        suffix = "" if server == self.url else "-guest"
        path = self.workdir / "kubeconfig" / f"{user.replace(':', '_')}{suffix}.json"
        path.parent.mkdir(exist_ok=True)
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "nearpath-test",
                    "cluster": {"server": server, "certificate-authority": str(self.ca_cert)},
                }
            ],
            "users": [{"name": user, "user": {"token": self.token_for(user)}}],
            "contexts": [
                {
                    "name": "nearpath-test",
                    "context": {"cluster": "nearpath-test", "user": user, "namespace": "default"},
                }
            ],
            "current-context": "nearpath-test",
        }
        path.write_text(json.dumps(config, indent=2))
        path.chmod(0o600)
        return path

    def guest_kubeconfig(self, user: str = ADMIN) -> Path:
        """Kubeconfig pointing at https://10.0.2.2:<port> (copy it, and ca.crt, into a guest;
        the CA is referenced by host path, so inline it if the guest lacks that path)."""
        return self.kubeconfig_for(user, server=self.guest_url)

    # -- lifecycle --------------------------------------------------------------------------
    def __enter__(self) -> ControlPlane:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def start(self) -> ControlPlane:
        missing = missing_binaries(self.bin_dir)
        if missing:
            raise ControlPlaneError(f"missing binaries in {self.bin_dir}: {', '.join(missing)}")
        atexit.register(self.stop)
        t0 = time.monotonic()
        try:
            self._write_credentials()
            self._start_etcd()
            self._start_apiserver()
            self.kubeconfig_for(ADMIN)
            self.wait_ready(self.ready_timeout_s)
            if self.with_controller_manager:
                self._start_controller_manager()
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - t0
        return self

    def stop(self) -> None:
        """Kill every process this object started (SIGTERM, then SIGKILL), remove the workdir."""
        if self._stopped:
            return
        self._stopped = True
        atexit.unregister(self.stop)
        for proc in reversed(self.procs):
            proc.terminate()
        if not self.keep_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def restart_controller_manager(self) -> None:
        """Restart kube-controller-manager, e.g. after installing CRDs: its garbage collector
        otherwise learns about new resources only at its 30 s discovery resync."""
        for proc in [p for p in self.procs if p.name == "kube-controller-manager"]:
            proc.terminate()
            self.procs.remove(proc)
            self._retired.append(proc)
        self._start_controller_manager()

    def stop_apiserver(self) -> None:
        """Stop the kube-apiserver process (fault injection: a control-plane outage; etcd keeps running)."""
        for proc in [p for p in self.procs if p.name == "kube-apiserver"]:
            proc.terminate()
            self.procs.remove(proc)
            self._retired.append(proc)

    def start_apiserver(self) -> None:
        """Start kube-apiserver again on the same port (kubeconfigs stay valid) and wait until ready."""
        if any(p.name == "kube-apiserver" for p in self.procs):
            raise ControlPlaneError("kube-apiserver is already running")
        self._start_apiserver(port=self.port)
        self.wait_ready(self.ready_timeout_s)

    def leftover_pids(self) -> list[int]:
        return [p.pid for p in self.procs + self._retired if process_alive(p.pid, p.exe)]

    def log_tails(self, lines: int = 40) -> str:
        return "\n".join(f"----- {p.name} ({p.log}) -----\n{p.tail(lines)}" for p in self.procs)

    # -- HTTP -------------------------------------------------------------------------------
    def ssl_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca_cert))

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        user: str = ADMIN,
        content_type: str = "application/json",
        timeout_s: float = 30.0,
    ) -> tuple[int, Any]:
        """One API call; returns (HTTP status, decoded JSON or text). Never raises on 4xx/5xx."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method)
        req.add_header("Authorization", f"Bearer {self.token_for(user)}")
        req.add_header("Accept", "application/json")
        if data is not None:
            req.add_header("Content-Type", content_type)
        try:
            with urllib.request.urlopen(req, context=self.ssl_context(), timeout=timeout_s) as resp:
                return int(resp.status), _decode(resp.read())
        except urllib.error.HTTPError as err:
            return int(err.code), _decode(err.read())

    def readyz(self, timeout_s: float = 5.0) -> tuple[int, str]:
        status, body = self.request("GET", "/readyz", timeout_s=timeout_s)
        return status, body if isinstance(body, str) else json.dumps(body)

    def wait_ready(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        last = "no answer yet"
        while time.monotonic() < deadline:
            self._check_alive()
            try:
                status, body = self.readyz(timeout_s=3.0)
                if status == 200:
                    return
                last = f"HTTP {status}: {body[:300]}"
            except (OSError, ssl.SSLError) as exc:
                last = repr(exc)
            time.sleep(0.25)
        raise ControlPlaneError(f"kube-apiserver not ready after {timeout_s:.0f}s ({last})\n{self.log_tails()}")

    # -- internals ----------------------------------------------------------------------------
    def _check_alive(self) -> None:
        for proc in self.procs:
            code = proc.popen.poll()
            if code is not None:
                raise ControlPlaneError(f"{proc.name} exited with {code} during startup\n{proc.tail(60)}")

    def _write_credentials(self) -> None:
        pki = self.workdir / "pki"
        pki.mkdir()
        self._ca, ca_key, ca_cert = make_ca(pki)
        self._serving = make_serving_cert(pki, ca_key, ca_cert)
        self._sa = make_sa_keys(pki)
        tokens = self.workdir / "tokens.csv"
        tokens.write_text("".join(u.csv_line() + "\n" for u in self.users.values()))
        tokens.chmod(0o600)
        (self.workdir / "logs").mkdir()

    def _bin(self, name: str) -> str:
        return str(self.bin_dir / name)

    def _start_etcd(self) -> None:
        client, peer = free_port(), free_port()
        self._etcd_url = f"http://127.0.0.1:{client}"
        argv = [
            self._bin("etcd"),
            "--name=nearpath-test",
            f"--data-dir={self.workdir / 'etcd'}",
            f"--listen-client-urls={self._etcd_url}",
            f"--advertise-client-urls={self._etcd_url}",
            f"--listen-peer-urls=http://127.0.0.1:{peer}",
            f"--initial-advertise-peer-urls=http://127.0.0.1:{peer}",
            f"--initial-cluster=nearpath-test=http://127.0.0.1:{peer}",
            "--unsafe-no-fsync",  # test data only: much faster on slow disks
            "--log-level=warn",
        ]
        self.procs.append(start_process("etcd", argv, self.workdir / "logs" / "etcd.log"))

    def _start_apiserver(self, port: int | None = None) -> None:
        self.port = port or free_port()
        argv = self._apiserver_argv()
        self.procs.append(start_process("kube-apiserver", argv, self.workdir / "logs" / "kube-apiserver.log"))

    def _apiserver_argv(self) -> list[str]:
        pki = self.workdir / "pki"
        return [
            self._bin("kube-apiserver"),
            f"--etcd-servers={self._etcd_url}",
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            f"--secure-port={self.port}",
            f"--cert-dir={pki}",
            f"--tls-cert-file={self._serving.cert}",
            f"--tls-private-key-file={self._serving.key}",
            f"--client-ca-file={self.ca_cert}",
            f"--token-auth-file={self.workdir / 'tokens.csv'}",
            "--authorization-mode=RBAC",
            f"--service-account-issuer={SA_ISSUER}",
            f"--service-account-key-file={self._sa.cert}",
            f"--service-account-signing-key-file={self._sa.key}",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            "--endpoint-reconciler-type=none",
            "--allow-privileged=true",
            "--profiling=false",
            "--v=1",
        ]

    def _start_controller_manager(self) -> None:
        argv = self._controller_manager_argv()
        log = self.workdir / "logs" / "kube-controller-manager.log"
        self.procs.append(start_process("kube-controller-manager", argv, log))
        self._wait_default_serviceaccount(self.ready_timeout_s)

    def _controller_manager_argv(self) -> list[str]:
        return [
            self._bin("kube-controller-manager"),
            f"--kubeconfig={self.kubeconfig_for(KCM_USER)}",
            f"--controllers={','.join(KCM_CONTROLLERS)}",
            "--use-service-account-credentials=true",
            f"--service-account-private-key-file={self._sa.key}",
            f"--root-ca-file={self.ca_cert}",
            "--leader-elect=false",
            "--secure-port=0",
            "--v=1",
        ]

    def _wait_default_serviceaccount(self, timeout_s: float) -> None:
        """The serviceaccount controller creates default/default: proof that KCM works."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self._check_alive()
            status, _ = self.request("GET", "/api/v1/namespaces/default/serviceaccounts/default")
            if status == 200:
                return
            time.sleep(0.25)
        raise ControlPlaneError(
            f"kube-controller-manager did not create default/default within {timeout_s:.0f}s\n" + self.log_tails()
        )


def _decode(raw: bytes) -> Any:
    text = raw.decode(errors="replace")
    try:
        return json.loads(text)
    except ValueError:
        return text
