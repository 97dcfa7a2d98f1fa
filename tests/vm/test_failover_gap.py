"""Failover stall when the active/optimized target disappears (measured, loosely bounded).

vm1 writes 4 KiB O_DIRECT blocks through the multipath device and logs the
completion time of every write. The harness then disables vm1's own TPG (the
AO path's target); dm-multipath must fail over to vm2's non-optimized path. The
longest completion gap is printed as FAILOVER_GAP_SECONDS=<n>; the assertions
only bound it generously (timings belong in benchmarks, not pass/fail).
"""

from __future__ import annotations

import time

import pytest

from tests.fixtures.vm import ClusterFactory
from tests.vm import storage

pytestmark = pytest.mark.vm

MAX_GAP_SECONDS = 60.0
OBSERVE_SECONDS = 25.0


def test_failover_gap_when_ao_tpg_disabled(vm_cluster: ClusterFactory) -> None:
    cluster = vm_cluster(2, shared_disk_mb=256)
    s = storage.setup_two_node_lun(cluster)
    vm1 = s.initiator

    log = "/tmp/writer-failover.log"
    pid = storage.start_writer(vm1, s.dm, log, seconds=300)
    storage.wait_for_writes(vm1, log, minimum=50)
    time.sleep(3)  # a few seconds of undisturbed baseline

    t_fault = vm1.set_tpg_enabled(storage.target_iqn(vm1), enabled=False)
    time.sleep(OBSERVE_SECONDS)
    _n, last = storage.writer_progress(vm1, log)
    storage.stop_writer(vm1, pid)
    stats = storage.analyse_writer_log(vm1.read_file(log).decode(), since=t_fault)

    print(
        f"FAILOVER_GAP_SECONDS={stats.max_gap:.3f} gap_start={stats.max_gap_at - t_fault:+.3f}s"
        f" writes={stats.n_ok} after_fault={stats.ok_after} errors={stats.n_err}"
    )
    print("PATHS_AFTER\n" + vm1.run("multipathd show paths", timeout=60).stdout)
    assert stats.n_err == 0, stats
    assert stats.done, "writer did not finish cleanly"
    assert stats.ok_after > 0, f"no write completed after the fault: {stats}"
    assert last > t_fault + stats.max_gap, "I/O did not resume after the stall"
    assert stats.max_gap < MAX_GAP_SECONDS, stats

    # The remaining path is the remote (non-optimized) one and it carries the I/O.
    after = {p.dev: p for p in storage.paths(vm1)}
    assert after[s.remote_path.dev].dm_state == "active", after
    assert after[s.local_path.dev].dm_state == "failed", after
