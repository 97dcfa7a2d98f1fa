"""The control-plane test bed itself: readiness, token users, version, no leftover processes."""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request

import pytest

from tests.controlplane.cluster import ADMIN, ControlPlane, process_alive
from tests.fixtures.controlplane import Kubectl

pytestmark = pytest.mark.controlplane


def test_readyz(control_plane: ControlPlane) -> None:
    status, body = control_plane.request("GET", "/readyz?verbose")
    assert status == 200, body
    assert "[+]etcd ok" in body and "readyz check passed" in body, body


def test_server_version_parses(kubectl: Kubectl) -> None:
    got = kubectl("version", "-o", "json", check=True)
    server = json.loads(got.stdout)["serverVersion"]
    assert server["gitVersion"].startswith(f"v{server['major']}.{server['minor']}."), server


def test_token_users_authenticate(control_plane: ControlPlane, kubectl: Kubectl) -> None:
    assert {"nearpath-operator", "nearpath-csi-controller"} <= set(control_plane.users)
    assert any(u.startswith("nearpath-target-") for u in control_plane.users)
    for user in control_plane.users.values():
        got = kubectl("auth", "whoami", "-o", "json", user=user.name, check=True)
        info = json.loads(got.stdout)["status"]["userInfo"]
        assert info["username"] == user.name
        assert set(user.groups) | {"system:authenticated"} <= set(info.get("groups", []))


def test_unknown_token_is_rejected(control_plane: ControlPlane) -> None:
    req = urllib.request.Request(control_plane.url + "/api/v1/namespaces")
    req.add_header("Authorization", "Bearer not-a-valid-token")
    ctx = ssl.create_default_context(cafile=str(control_plane.ca_cert))
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(req, context=ctx, timeout=10)
    assert err.value.code == 401


@pytest.mark.parametrize(("user", "expected"), [(ADMIN, "yes"), ("nearpath-operator", "no")])
def test_rbac_applies_to_token_users(kubectl: Kubectl, user: str, expected: str) -> None:
    got = kubectl("auth", "can-i", "delete", "nodes", user=user)
    assert got.stdout.strip() == expected, got.stdout + got.stderr


def test_guest_kubeconfig_targets_slirp_host(control_plane: ControlPlane) -> None:
    config = json.loads(control_plane.guest_kubeconfig().read_text())
    assert config["clusters"][0]["cluster"]["server"] == f"https://10.0.2.2:{control_plane.port}"


def test_second_control_plane_leaves_no_process(control_plane: ControlPlane) -> None:
    cp = ControlPlane(control_plane.bin_dir, controller_manager=True)
    try:
        cp.start()
        procs = list(cp.procs)
        assert [p.name for p in procs] == ["etcd", "kube-apiserver", "kube-controller-manager"]
        assert all(process_alive(p.pid, p.exe) for p in procs)
        assert cp.readyz()[0] == 200
        print(f"second control plane ready in {cp.startup_seconds:.1f}s")
    finally:
        cp.stop()
    assert not [p.pid for p in procs if process_alive(p.pid, p.exe)], "processes survived stop()"
    assert not cp.workdir.exists(), "workdir not removed"
