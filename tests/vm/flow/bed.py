"""The whole test bed of the flow as one context manager (used by tests/vm/test_flow.py and the
failover benchmark): a private API server, three VMs with a shared disk, nearpath started on
both sides, one provisioned volume. Everything is stopped on exit (no leftovers)."""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from tests.controlplane.cluster import ControlPlane
from tests.vm import harness
from tests.vm.flow.stack import Flow

NODES = 3
SHARED_DISK_MB = 128
VOLUME_BYTES = SHARED_DISK_MB << 20
CONSUMER = "node-0"


@contextlib.contextmanager
def flow_bed(image: harness.Image, bin_dir: Path | None = None) -> Iterator[Flow]:
    workdir = Path(tempfile.mkdtemp(prefix="npflow-"))
    cp = ControlPlane(bin_dir, controller_manager=False)
    cluster = harness.Cluster(image, NODES, shared_disk_mb=SHARED_DISK_MB, workdir=workdir / "vms")
    flow: Flow | None = None
    ok = False
    try:
        cp.start()
        boot = cluster.start()
        sys.stdout.write("".join(f"VM_BOOT_SECONDS[{k}]={v:.1f}\n" for k, v in boot.items()))
        flow = Flow(cp, cluster)
        flow.start()
        flow.provision(CONSUMER, VOLUME_BYTES)
        yield flow
        ok = True
    finally:
        if not ok:
            with contextlib.suppress(Exception):
                sys.stderr.write((flow.diagnostics() if flow else cp.log_tails()) + "\n")
            sys.stderr.write(cluster.diagnostics(60) + "\n")
        if flow is not None:
            flow.stop()
        cluster.close()
        cp.stop()
        if ok and os.environ.get("NEARPATH_VM_KEEP") != "1":
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            sys.stderr.write(f"flow work dir kept: {workdir}\n")
