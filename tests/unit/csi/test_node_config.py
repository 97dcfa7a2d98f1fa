"""The node operations' configuration comes from the CSI settings, with equal defaults."""

from __future__ import annotations

import os

import pytest

from nearpath.csi.main import node_config
from nearpath.csi.node_ops import NodeConfig
from nearpath.csi.settings import CsiSettings

pytestmark = pytest.mark.unit


def test_node_config_defaults_equal_the_settings_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [n for n in os.environ if n.startswith("NEARPATH_")]:
        monkeypatch.delenv(name)
    assert node_config(CsiSettings(node_id="node-1")) == NodeConfig(node_name="node-1")


def test_node_config_carries_each_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEARPATH_NODE_ID", "node-7")
    monkeypatch.setenv("NEARPATH_FAST_IO_FAIL_TMO", "3")
    monkeypatch.setenv("NEARPATH_MKFS_TIMEOUT_SECONDS", "42")
    monkeypatch.setenv("NEARPATH_STATE_DIR", "/srv/np")
    config = node_config(CsiSettings())
    assert (config.node_name, config.fast_io_fail_tmo, config.mkfs_timeout, config.state_dir) == (
        "node-7",
        3,
        42.0,
        "/srv/np",
    )
