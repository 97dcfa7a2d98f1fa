"""The chart mounts from the host every path the data-path processes write (review H5, H6, M11).

Each env var the chart sets for the node plugin and the target agent is parsed by the
processes' own settings classes, and every directory those settings name must be a hostPath
volume mounted at the same path: anything else lives in the container's writable layer and
is lost on a restart (staged-volume records, `local` files) or never reaches the host's
daemons (the multipath drop-in).
"""

from __future__ import annotations

import posixpath
from typing import Any

import pytest

from nearpath.csi.settings import CsiSettings
from nearpath.target.settings import TargetSettings
from tests.support.chart import documents, render

pytestmark = pytest.mark.controlplane


def _daemonset(component: str, set_values: tuple[str, ...] = ()) -> dict[str, Any]:
    docs = documents(render("nearpath", "nearpath-system", set_values=set_values))
    for doc in docs:
        if doc["kind"] == "DaemonSet" and doc["metadata"]["name"] == f"nearpath-{component}":
            return doc
    raise AssertionError(f"no DaemonSet nearpath-{component}")


def _host_mounts(ds: dict[str, Any], container: str) -> dict[str, str]:
    """mountPath -> hostPath of one container's hostPath mounts."""
    spec = ds["spec"]["template"]["spec"]
    host = {v["name"]: v["hostPath"]["path"] for v in spec["volumes"] if "hostPath" in v}
    (c,) = [c for c in spec["containers"] if c["name"] == container]
    return {m["mountPath"]: host[m["name"]] for m in c["volumeMounts"] if m["name"] in host}


def _env(ds: dict[str, Any], container: str) -> dict[str, str]:
    (c,) = [c for c in ds["spec"]["template"]["spec"]["containers"] if c["name"] == container]
    return {e["name"]: e["value"] for e in c["env"] if "value" in e}


def _on_host(path: str, mounts: dict[str, str]) -> bool:
    return any(path == m or path.startswith(m.rstrip("/") + "/") for m, h in mounts.items() if m == h)


def _settings_env(env: dict[str, str], prefix: str = "NEARPATH_") -> dict[str, str]:
    return {k[len(prefix) :].lower(): v for k, v in env.items() if k.startswith(prefix)}


@pytest.mark.parametrize("state_dir", ["/var/lib/nearpath/csi", "/srv/np-state/"])
def test_node_plugin_state_and_multipath_dropin_are_host_paths(state_dir: str) -> None:
    ds = _daemonset("csi-node", (f"csiNode.stateDir={state_dir}",))
    mounts = _host_mounts(ds, "nearpath")
    wanted = _settings_env(_env(ds, "nearpath"))
    settings = CsiSettings.model_validate({k: wanted[k] for k in ("state_dir", "multipath_conf") if k in wanted})
    assert settings.state_dir == state_dir.rstrip("/")
    assert _on_host(settings.state_dir, mounts), mounts
    assert _on_host(posixpath.dirname(settings.multipath_conf), mounts), mounts
    assert ds["spec"]["template"]["spec"]["hostPID"] is True


def test_target_local_directory_is_the_mounted_one() -> None:
    ds = _daemonset("target", ("target.localDirectory=/srv/np-volumes",))
    mounts = _host_mounts(ds, "target")
    wanted = _settings_env(_env(ds, "target"))
    settings = TargetSettings.model_validate({k: wanted[k] for k in ("local_directory",) if k in wanted})
    assert settings.local_directory == "/srv/np-volumes"
    assert _on_host(settings.local_directory, mounts)


def test_container_host_tools_mode_is_refused() -> None:
    with pytest.raises(RuntimeError, match="only nsenter is supported"):
        render("nearpath", "nearpath-system", set_values=("csiNode.hostTools=container",))
