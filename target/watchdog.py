"""The fence watchdog: a separate process that fences LIO when the agent itself cannot.

A stopped (SIGSTOP), frozen or deadlocked agent process cannot run its self-fence, and the kernel
keeps serving. The agent therefore starts this small process next to it and keeps pushing a
deadline into a file (its own monotonic clock: ``CLOCK_MONOTONIC`` is one clock for every process
of the node): "fence unless I say otherwise before this moment". It moves the deadline forward on
every fence tick while its Lease is fresh or its peers agree on an API outage, so the deadline
lapses ``self_fence_seconds`` plus a margin after the agent stopped taking care. Then the watchdog writes
*unavailable* (SPC-4 code 3) into every nearpath ALUA port group in configfs directly -- no
rtslib, no API, nothing the agent holds -- and keeps doing so while the deadline stays in the past.
The agent, once it runs again, keeps its groups fenced until the operator saw it
(:mod:`nearpath.target.fence`). When the agent exits cleanly it stops the watchdog first (a rolling
restart is not a fault); when the agent dies, the watchdog enforces the last deadline, then exits.
In a container the watchdog dies with the agent (PID 1): a sidecar container sharing the deadline
file would cover agent crashes there too (not shipped yet).
"""

from __future__ import annotations

import glob
import logging
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

from nearpath.core import identifiers as ids

log = logging.getLogger("nearpath.target.watchdog")

CONFIGFS_CORE = "/sys/kernel/config/target/core"
FENCE_CODE = "3"
TICK_S = 0.25


def write_deadline(path: Path, deadline: float) -> None:
    """Atomically publish the agent's next fence deadline (monotonic seconds)."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(f"{deadline:.3f}\n")
    os.replace(tmp, path)


def read_deadline(path: Path) -> float | None:
    try:
        return float(path.read_text().strip())
    except (OSError, ValueError):
        return None


def group_state_files(core: str = CONFIGFS_CORE) -> list[str]:
    """alua_access_state files of nearpath's port groups on nearpath's backstores."""
    pattern = os.path.join(core, "*", f"{ids.BACKSTORE_PREFIX}*", "alua", f"{ids.PORT_GROUP_PREFIX}*")
    return sorted(os.path.join(group, "alua_access_state") for group in glob.glob(pattern))


def fence_configfs(core: str = CONFIGFS_CORE) -> list[str]:
    """Write unavailable into every nearpath port group not already in it; return the files changed."""
    changed = []
    for path in group_state_files(core):
        try:
            with open(path) as handle:
                if handle.read().strip() == FENCE_CODE:
                    continue
            with open(path, "w") as handle:
                handle.write(FENCE_CODE)
            changed.append(path)
        except OSError as exc:
            log.error("cannot fence a port group", extra={"path": path, "error": str(exc)})
    return changed


def watch(
    deadline_file: Path,
    core: str = CONFIGFS_CORE,
    *,
    monotonic: Callable[[], float] = time.monotonic,
    parent_alive: Callable[[], bool] = lambda: True,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Fence whenever the published deadline lies in the past. Returns once the agent is gone and
    its last deadline has been enforced (a crashed agent's node must not keep serving either)."""
    while True:
        alive = parent_alive()
        deadline = read_deadline(deadline_file)
        lapsed = deadline is not None and monotonic() > deadline
        if lapsed:
            changed = fence_configfs(core)
            if changed:
                log.error("agent missed its fence deadline: port groups set unavailable", extra={"groups": changed})
        if not alive and (lapsed or deadline is None):
            return
        sleep(TICK_S)


def main(argv: list[str]) -> int:
    """``python -m nearpath.target.watchdog DEADLINE_FILE [CONFIGFS_CORE]`` (started by the agent)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s watchdog %(levelname)s %(message)s")
    parent = os.getppid()
    core = argv[1] if len(argv) > 1 else CONFIGFS_CORE
    watch(Path(argv[0]), core, parent_alive=lambda: os.getppid() == parent)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
