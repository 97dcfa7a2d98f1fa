"""ClusterKube against an API server that is not there: every call fails fast as Unavailable
(the agent's heartbeat and the operator's health loop must survive an API outage)."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from nearpath.core.errors import Unavailable
from nearpath.core.kube import ClusterKube

pytestmark = pytest.mark.unit


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture()
def kube(tmp_path: Path) -> ClusterKube:
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": "c", "cluster": {"server": f"https://127.0.0.1:{closed_port()}", "insecure-skip-tls-verify": True}}
        ],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
        "current-context": "c",
    }
    path = tmp_path / "kubeconfig.json"
    path.write_text(json.dumps(config))
    return ClusterKube(str(path))


CALLS: dict[str, Callable[[ClusterKube], Any]] = {
    "list_leases": lambda k: k.list_leases("ns"),
    "apply_lease": lambda k: k.apply_lease("ns", "l", "h", 10, timeout_seconds=2),
    "list_volume_groups": lambda k: k.list_volume_groups(),
    "apply_status": lambda k: k.apply_volume_group_status("ns", "vg", {}, "m"),
    "list_nodes": lambda k: k.list_nodes(),
    "watch": lambda k: list(k.watch_volume_groups(timeout_seconds=1)),
}


@pytest.mark.parametrize("call", sorted(CALLS))
def test_unreachable_api_server_is_unavailable(kube: ClusterKube, call: str) -> None:
    with pytest.raises(Unavailable, match="unreachable"):
        CALLS[call](kube)
