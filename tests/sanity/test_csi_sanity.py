"""csi-sanity (Kubernetes CSI conformance) against the driver: controller on the real API server
test bed, node service in sandbox mode. Every spec must pass or be skipped."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest

from tests.controlplane.cluster import ControlPlane
from tests.sanity.harness import run_sanity

pytestmark = pytest.mark.controlplane


def test_csi_sanity(control_plane: ControlPlane) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="nearpath-sanity-"))
    result = run_sanity(control_plane, workdir)
    print(result.summary())
    failed = [line for line in result.output.splitlines() if line.strip().startswith("[FAIL]")]
    assert result.failed == 0 and result.returncode == 0, "\n".join(failed) + f"\nlogs: {workdir}"
    assert result.passed > 0
    shutil.rmtree(workdir, ignore_errors=True)
