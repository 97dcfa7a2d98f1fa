"""The failover pictures: the timeline parsed from a workload log and a kernel log, and the PNG drawn."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.failover_plot import draw
from tests.vm.flow.timeline import parse

pytestmark = pytest.mark.unit

FAULT = 100.0


def workload_log() -> str:
    lines = ["97.000000 start"]
    lines += [f"{97.0 + i * 0.01:.6f} ok" for i in range(300)]  # steady until the fault
    lines += ["101.500000 err 5"]
    lines += [f"{102.1 + i * 0.01:.6f} ok" for i in range(500)]  # resumed 2.1 s after the fault
    return "\n".join(lines) + "\n"


KERNEL_LOG = """\
[   12.345678] sd 2:0:0:0: alua: port group 02 state A non-preferred supports TOlUSNA
[  102.000100] device-mapper: multipath: 253:0: Failing path 8:16.
[  300.000000] device-mapper: multipath: 253:0: Failing path 8:32.
"""


def test_timeline_from_the_logs() -> None:
    tl = parse(workload_log(), FAULT, KERNEL_LOG)
    assert len(tl.completions) == 800
    assert tl.errors == (101.5,)
    assert tl.path_failures == (102.0001,)  # the one outside the run is dropped
    assert tl.resumed_after() == pytest.approx(2.1, abs=1e-6)
    slowest = max(tl.latencies(), key=lambda p: p[1])
    assert slowest[0] == pytest.approx(2.1, abs=1e-6) and slowest[1] == pytest.approx(2.11, abs=1e-6)


def test_picture_is_drawn(tmp_path: Path) -> None:
    png = draw("link-drop", parse(workload_log(), FAULT, KERNEL_LOG), tmp_path / "case.png", pause_s=2.11, errors=1)
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) > 20_000
