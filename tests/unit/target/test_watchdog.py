"""The fence watchdog process's logic on a configfs-shaped tree, with a fake clock."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from nearpath.target.watchdog import fence_configfs, group_state_files, read_deadline, watch, write_deadline

pytestmark = pytest.mark.unit


def configfs(root: Path) -> Path:
    """core/<hba>/<backstore>/alua/<group>/alua_access_state, nearpath's and foreign ones."""
    core = root / "core"
    for hba, store, group, state in [
        ("iblock_0", "np_ns_vg_data", "np_pg2", "0"),
        ("iblock_0", "np_ns_vg_data", "default_tg_pt_gp", "0"),
        ("fileio_1", "np_ns_other_d", "np_pg3", "1"),
        ("iblock_2", "foreign_disk", "np_pg9", "0"),
    ]:
        directory = core / hba / store / "alua" / group
        directory.mkdir(parents=True)
        (directory / "alua_access_state").write_text(state + "\n")
    return core


def states(core: Path) -> dict[str, str]:
    return {str(p.relative_to(core)): p.read_text().strip() for p in sorted(core.rglob("alua_access_state"))}


def test_only_nearpath_port_groups_are_fenced(tmp_path: Path) -> None:
    core = configfs(tmp_path)
    assert len(group_state_files(str(core))) == 2
    assert len(fence_configfs(str(core))) == 2
    assert states(core) == {
        "fileio_1/np_ns_other_d/alua/np_pg3/alua_access_state": "3",
        "iblock_0/np_ns_vg_data/alua/default_tg_pt_gp/alua_access_state": "0",
        "iblock_0/np_ns_vg_data/alua/np_pg2/alua_access_state": "3",
        "iblock_2/foreign_disk/alua/np_pg9/alua_access_state": "0",
    }
    assert fence_configfs(str(core)) == []  # idempotent


def test_fences_once_the_deadline_lapses_and_exits_after_the_agent(tmp_path: Path) -> None:
    core = configfs(tmp_path)
    deadline = tmp_path / "deadline"
    write_deadline(deadline, 10.0)
    assert read_deadline(deadline) == 10.0
    clock = [0.0]
    seen: list[dict[str, str]] = []
    parent = iter([True] * 30 + [False] * 100)

    def sleep(seconds: float) -> None:
        clock[0] += seconds
        seen.append(states(core))
        if clock[0] == 5.0:  # the agent, still alive, pushes the deadline forward once
            write_deadline(deadline, 12.0)

    watch(deadline, str(core), monotonic=lambda: clock[0], parent_alive=lambda: next(parent), sleep=sleep)
    # nothing fenced while the deadline held (the agent died at 7.5 s; its last deadline was 12 s) ...
    assert all(s["iblock_0/np_ns_vg_data/alua/np_pg2/alua_access_state"] == "0" for s in seen)
    # ... then fenced at the first tick past it, and the watchdog returned
    assert 12.0 < clock[0] <= 12.25
    assert states(core)["iblock_0/np_ns_vg_data/alua/np_pg2/alua_access_state"] == "3"


def test_the_process_fences_a_stopped_agent(tmp_path: Path) -> None:
    """The real process: the deadline lies in the past, nobody pushes it."""
    core = configfs(tmp_path)
    deadline = tmp_path / "deadline"
    write_deadline(deadline, time.monotonic() - 1)
    proc = subprocess.Popen([sys.executable, "-m", "nearpath.target.watchdog", str(deadline), str(core)])
    try:
        end = time.monotonic() + 20
        while time.monotonic() < end and states(core)["iblock_0/np_ns_vg_data/alua/np_pg2/alua_access_state"] != "3":
            time.sleep(0.1)
        assert states(core)["iblock_0/np_ns_vg_data/alua/np_pg2/alua_access_state"] == "3"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
