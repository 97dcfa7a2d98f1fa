"""The dm-multipath drop-in for LIO LUNs."""

from __future__ import annotations

import pytest

from nearpath.csi.multipath import config_text

pytestmark = pytest.mark.unit


def test_path_checker_reads_through_to_the_backend() -> None:
    """LIO answers TEST UNIT READY without its backend: only a read notices a lost backing device (H10)."""
    text = config_text(fast_io_fail_tmo=0, dev_loss_tmo=60, no_path_retry=12)
    checkers = [line.split()[1] for line in text.splitlines() if line.strip().startswith("path_checker")]
    assert checkers == ["directio"]
    assert "no_path_retry 12" in text and "fast_io_fail_tmo 0" in text
