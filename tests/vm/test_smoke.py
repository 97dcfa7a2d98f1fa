"""VM tier acceptance: one LUN behind two LIO targets, dm-multipath with ALUA.

vm1 and vm2 share one raw disk. Each exports it as an iblock backstore with the
same unit serial (one WWID) from its own target, in its own ALUA target port
group: vm1 group 2 active/optimized, vm2 group 3 active/non-optimized. vm1 logs
in to both portals and must see one multipath map whose higher-priority group
holds its own (local) path.
"""

from __future__ import annotations

import time

import pytest

from tests.fixtures.vm import ClusterFactory
from tests.vm import storage

pytestmark = pytest.mark.vm

SHARED_MB = 256
AO_PRIO = 50  # multipath's alua prioritizer: active/optimized
ANO_PRIO = 10  # active/non-optimized


def test_two_targets_one_multipath_map(vm_cluster: ClusterFactory) -> None:
    cluster = vm_cluster(2, shared_disk_mb=SHARED_MB)
    s = storage.setup_two_node_lun(cluster)
    vm1, vm2 = s.initiator, s.peer
    shared = cluster.shared_disk
    assert shared is not None

    # One map, two paths, local path in the higher-priority group.
    all_paths = storage.paths(vm1)
    assert {p.wwid for p in all_paths} == {s.wwid}, all_paths
    assert len(all_paths) == 2
    assert s.local_path.prio == AO_PRIO, s.local_path
    assert s.remote_path.prio == ANO_PRIO, s.remote_path
    groups = storage.path_groups(vm1, s.wwid)
    assert [g.prio for g in groups] == [AO_PRIO, ANO_PRIO], groups
    assert groups[0].devs == (s.local_path.dev,)
    assert groups[0].status == "active"
    print("MULTIPATH_LL\n" + vm1.run("multipath -ll", timeout=60).stdout)

    # Data written through the dm device is on the shared disk, seen by vm2 directly
    # and by vm1 through vm2's target only (its remote path's sd device).
    digest = storage.write_random(vm1, s.dm, offset_mb=8, size_mb=4)
    assert storage.sha256_of(vm2, shared.guest_path, 8, 4) == digest
    assert storage.sha256_of(vm1, f"/dev/{s.remote_path.dev}", 8, 4) == digest

    # Hard power-off of vm2 (the non-optimized node): vm1's writer keeps completing.
    log = "/tmp/writer-poweroff.log"
    pid = storage.start_writer(vm1, s.dm, log, seconds=240)
    storage.wait_for_writes(vm1, log, minimum=50)
    vm2.power_off()
    t_kill = vm1.uptime()
    time.sleep(15)
    n_after, last = storage.writer_progress(vm1, log)
    assert last > t_kill + 10, f"writer stalled: last completion {last:.1f}, kill at {t_kill:.1f}"
    storage.stop_writer(vm1, pid)
    stats = storage.analyse_writer_log(vm1.read_file(log).decode(), since=t_kill)
    print(f"POWEROFF_PEER_GAP_SECONDS={stats.max_gap:.3f} writes_after={stats.ok_after}")
    assert stats.n_err == 0, stats
    assert stats.ok_after > 0 and stats.done, stats
    assert n_after > 0
