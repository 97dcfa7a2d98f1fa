"""Pictures of failover: per case, the latency of every write over time around the fault.

One dot per completed 4 KiB write (its latency: the writer is one closed loop), a red line at
the fault instant, orange dashed lines where the consumer's kernel failed a path
(dm-multipath), a green dotted line where I/O resumed on the new path, red crosses for failed
writes. Written by ``make bench-failover`` into bench-results/ and shown in the README.
"""

from __future__ import annotations

from pathlib import Path

from tests.vm.flow.timeline import Timeline

BEFORE_S = 2.0  # seconds of steady I/O shown before the fault


def draw(case: str, timeline: Timeline, path: Path, *, pause_s: float, errors: int) -> Path:
    import matplotlib  # noqa: PLC0415 (only the benchmark draws; tests import this module cheaply)

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415 (after choosing the non-interactive backend)

    points = [(t, lat * 1000) for t, lat in timeline.latencies() if t >= -BEFORE_S]
    fig, ax = plt.subplots(figsize=(9, 3.8), dpi=110)
    ax.scatter([t for t, _ in points], [ms for _, ms in points], s=5, color="#1f77b4", label="write completed")
    ax.set_yscale("log")
    ax.axvline(0, color="#d62728", lw=1.5, label="fault injected")
    for i, failed in enumerate(timeline.path_failures):
        label = "kernel fails the path (dm-multipath)" if i == 0 else None
        ax.axvline(failed - timeline.t_fault, color="#ff7f0e", ls="--", lw=1.2, label=label)
    resumed = timeline.resumed_after()
    if resumed is not None:
        ax.axvline(resumed, color="#2ca02c", ls=":", lw=1.8, label=f"I/O resumes on the new path (+{resumed:.2f} s)")
    if timeline.errors:
        xs = [t - timeline.t_fault for t in timeline.errors]
        ax.scatter(xs, [max(ms for _, ms in points)] * len(xs), marker="x", color="#d62728", label="write failed")
    ax.set_xlabel("seconds since the fault")
    ax.set_ylabel("write latency (ms, log scale)")
    ax.set_title(f"{case}: longest pause {pause_s:.2f} s, {errors} I/O errors")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
