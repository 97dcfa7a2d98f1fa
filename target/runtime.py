"""The agent's Kubernetes mode: the reconcile loop, the heartbeat Lease and the self-fence, as threads.

- main loop: list and watch VolumeGroups, reconcile on every change and every ``resync_seconds``;
  every pass (and every watch return) counts as progress;
- heartbeat: renews the node's Lease every duration/3 -- only while the main loop made progress
  within ``progress_timeout_seconds`` (a hung agent must not look alive) -- and tells the self-fence
  the send time of every confirmed renewal;
- fence: every ``tick_seconds``, when the last confirmed renewal is too old, asks the peers and
  fences LIO if it must (:mod:`nearpath.target.fence`); re-applies the fence while it holds;
- backend: every ``BACKEND_CHECK_S`` reads the backing devices of the assigned groups (O_DIRECT,
  :func:`nearpath.target.devices.readable`) and reconciles at once when one appears or fails.

On exit (SIGTERM) the agent leaves LIO as it is, except on a node labelled
``nearpath.io/target=disabled``: that node stops serving (every group unavailable) before it goes.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from nearpath.core.errors import NearpathError
from nearpath.core.kube import KubeApi
from nearpath.target.agent import MIN_RECONCILE_INTERVAL, TargetAgent
from nearpath.target.fence import SelfFence, fence_lio
from nearpath.target.peers import PEER_TIMEOUT_S, probe_peers
from nearpath.target.watchdog import write_deadline

log = logging.getLogger("nearpath.target.runtime")

BACKEND_CHECK_S = 2.0
WATCH_S = 2


@dataclass
class AgentRuntime:
    agent: TargetAgent
    kube: KubeApi
    stop: threading.Event
    resync_seconds: float
    lease_namespace: str
    lease_duration_seconds: int
    wake: threading.Event = field(default_factory=threading.Event)
    """Set to reconcile now (a backing device changed)."""
    deadline_file: Path | None = None
    """Where the fence watchdog process reads the deadline (None: no watchdog)."""

    @property
    def renew_interval(self) -> float:
        return self.lease_duration_seconds / 3

    # heartbeat ---------------------------------------------------------------------------
    def renew_once(self) -> bool:
        fence = self.agent.fence
        if fence is not None and not fence.may_renew():
            log.error("main loop made no progress: not renewing the Lease (the node will fence)")
            self.agent.metrics.lease_errors.inc()
            return False
        sent = fence.monotonic() if fence is not None else time.monotonic()
        # a renewal counts from its send time, so a slow answer is still worth waiting for -- up to
        # the self-fence deadline, past which it can no longer keep the node serving
        timeout = fence.timers.self_fence_seconds if fence is not None else self.renew_interval
        try:
            self.agent.renew_lease(
                self.kube, self.lease_namespace, self.lease_duration_seconds, timeout_seconds=timeout
            )
        except NearpathError as exc:
            self.agent.metrics.lease_errors.inc()
            log.warning("could not renew heartbeat lease", extra={"error": exc.message})
            return False
        if fence is not None:
            fence.renewal_confirmed(sent)
        return True

    def heartbeat(self) -> None:
        """Renew every renew interval counted from the previous send (a slow answer does not
        stretch the period)."""
        while not self.stop.is_set():
            started = time.monotonic()
            self.renew_once()
            self.stop.wait(max(0.0, self.renew_interval - (time.monotonic() - started)))

    # self-fence --------------------------------------------------------------------------
    def fence_once(self) -> None:
        fence = self.agent.fence
        if fence is None:
            return
        self._publish_deadline(fence)
        if fence.due():
            peers = probe_peers(self.agent.peers, self.agent.peer_url or (lambda _node, _host: None))
            if fence.decide(peers):
                changed = fence_lio(self.agent.edge, self.agent.lock)
                log.error("self-fenced: every group unavailable", extra={"reason": fence.reason, "groups": changed})
                self.agent.metrics.self_fences.inc()
        elif fence.fenced:
            fence_lio(self.agent.edge, self.agent.lock)  # nothing may undo it until the operator saw it

    def _publish_deadline(self, fence: SelfFence) -> None:
        """Tell the watchdog when to fence if this process stops taking care: the renewal deadline plus a
        margin for the peer check; pushed forward every tick while holding through an API outage."""
        if self.deadline_file is None:
            return
        margin = 2 * fence.timers.tick_seconds + PEER_TIMEOUT_S
        # fenced: the agent itself keeps LIO fenced, and must be free to follow the operator the
        # moment it acknowledges -- the watchdog must not fence behind it then
        base = fence.monotonic() if fence.holding or fence.fenced else fence.confirmed_at
        try:
            write_deadline(self.deadline_file, base + fence.timers.self_fence_seconds + margin)
        except OSError as exc:  # the watchdog then fences at the last deadline: safe, and loud
            log.error("cannot publish the fence deadline", extra={"path": str(self.deadline_file), "error": str(exc)})

    def fence_loop(self) -> None:
        fence = self.agent.fence
        tick = fence.timers.tick_seconds if fence is not None else 1.0
        while not self.stop.is_set():
            try:
                self.fence_once()
            except Exception as exc:  # the fence thread must outlive any failure: log, retry next tick
                log.exception("self-fence failed", extra={"error": str(exc)})
            self.stop.wait(tick)

    # backend watch -----------------------------------------------------------------------
    def check_backends(self, known: dict[str, bool]) -> bool:
        """Probe the backing paths of the assigned groups; True when one changed (reconcile now)."""
        changed = False
        for path in sorted(self.agent.backing_paths):
            present = self.agent.prober(path).exists
            if known.get(path, present) != present:
                log.warning("backing device changed", extra={"path": path, "present": present})
                changed = True
            known[path] = present
        return changed

    def backend_loop(self) -> None:
        """A backing device that disappears or fails its reads is noticed within ``BACKEND_CHECK_S`` plus
        one watch call, not at the next resync (H10): the reconcile reports it, the operator fences."""
        known: dict[str, bool] = {}
        while not self.stop.wait(BACKEND_CHECK_S):
            if self.check_backends(known):
                self.wake.set()

    # main loop ---------------------------------------------------------------------------
    def progressed(self) -> None:
        if self.agent.fence is not None:
            self.agent.fence.progressed()

    def run(self) -> None:
        threads = [
            threading.Thread(target=self.heartbeat, name="lease", daemon=True),
            threading.Thread(target=self.fence_loop, name="fence", daemon=True),
            threading.Thread(target=self.backend_loop, name="backend", daemon=True),
        ]
        for thread in threads:
            thread.start()
        watchdog = self._start_watchdog()
        try:
            while not self.stop.is_set():
                started = time.monotonic()
                resource_version = None
                try:
                    reports = self.agent.reconcile_kube(self.kube)
                    versions = [int(r.obj["metadata"].get("resourceVersion") or 0) for r in reports if r.obj]
                    resource_version = str(max(versions)) if versions else None
                except NearpathError as exc:
                    log.warning("reconcile failed", extra={"error": exc.message})
                    self.agent.metrics.reconcile_errors.labels("(all)").inc()
                self.progressed()
                self._wait_for_change(resource_version, started + self.resync_seconds)
                self.stop.wait(max(0.0, started + MIN_RECONCILE_INTERVAL - time.monotonic()))
        finally:
            self.stop.set()
            if watchdog is not None:  # a clean stop (rolling restart) is not a fault: no fence
                watchdog.terminate()
                watchdog.wait(timeout=10)
            for thread in threads:
                thread.join(timeout=5)
            if self.agent.disabled:
                changed = fence_lio(self.agent.edge, self.agent.lock)
                log.warning("node disabled: every group unavailable before the agent exits", extra={"groups": changed})

    def _start_watchdog(self) -> subprocess.Popen[bytes] | None:
        if self.deadline_file is None or self.agent.fence is None:
            return None
        try:
            self.deadline_file.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            log.error("no fence watchdog: cannot create its directory", extra={"error": str(exc)})
            return None
        self._publish_deadline(self.agent.fence)
        return subprocess.Popen(
            [sys.executable, "-m", "nearpath.target.watchdog", str(self.deadline_file)],
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # a signal to the agent's process group does not stop it
        )

    def _wait_for_change(self, rv: str | None, deadline: float) -> None:
        while not self.stop.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self.wake.is_set():
                self.wake.clear()
                return
            try:
                for _event, _obj in self.kube.watch_volume_groups(
                    resource_version=rv, timeout_seconds=max(1, min(WATCH_S, int(remaining)))
                ):
                    return
            except NearpathError as exc:
                log.warning("watch failed", extra={"error": exc.message})
                self.stop.wait(min(remaining, 2.0))
                return
            finally:
                self.progressed()
