"""The agent's self-fence: a node that lost its right to serve stops serving by itself (issue 14, H4).

The right to serve is the node's Lease. The agent times it on its own monotonic clock from the
moment it *sent* its last renewal the API server confirmed (a renewal cannot be observed by the
operator before it was sent). When that is older than ``self_fence_seconds``:

- if every peer that could take over one of this node's groups answers that it has not renewed since
  this node's first failed attempt either (its own renewal age is at least ours minus one renew interval),
  the API server is down for everyone: nobody can be promoted (a promotion is written to and read
  from the API), so the node keeps serving and holds -- an API outage changes no ALUA state;
- otherwise (a peer renews, a peer does not answer, no witness is configured) the node fences: every
  nearpath ALUA group in this node's LIO goes *unavailable*, directly in LIO, without the API.

The operator declares a node down at the earliest ``leaseDuration + grace`` after it observed the
node's last renewal, which is no earlier than the agent sent it. The fence is therefore in place
before any promotion as long as (peers are asked in parallel)::

    self_fence_seconds + tick_seconds + peer_timeout + LIO write  <  leaseDuration + grace

and a partitioned node can tell a renewing peer from an outage only if a healthy peer's renewal age
(at most one renew interval, leaseDuration/3) is below its own minus a renew interval::

    self_fence_seconds  >  2 x leaseDuration/3 + slack

With the defaults (Lease 10 s, grace 1 s, self-fence 8 s, tick 0.5 s, peer timeout 0.5 s):
7.2 s < 8 s and 8 + 0.5 + 0.5 + LIO (< 0.5) = 9.5 s < 11 s.

A fence is sticky: the agent keeps every group unavailable (and reports it) until the operator has
assigned the node ``unavailable`` for that group or removed it (the operator saw the fence); only
then does the node follow its assignments again, through the operator's stabilization window.

The Lease also stands for reconcile progress: the heartbeat renews only while the main loop has
completed a pass within ``progress_timeout_seconds``, so a hung agent loses its Lease and fences.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field

from nearpath.core import identifiers as ids
from nearpath.core.api import AluaState
from nearpath.target.desired import ALUA_STATE_CODES
from nearpath.target.lio import LioEdge

log = logging.getLogger("nearpath.target.fence")

FENCE_CODE = ALUA_STATE_CODES[AluaState.UNAVAILABLE]
LOCK_WAIT_S = 1.0

PeerAges = Mapping[str, float | None]
"""Per peer node: how long ago it sent its last confirmed Lease renewal (None: no answer)."""


PEER_SLACK_S = 0.5


@dataclass(frozen=True)
class FenceTimers:
    self_fence_seconds: float
    renew_interval_seconds: float
    progress_timeout_seconds: float
    tick_seconds: float = 0.5


@dataclass
class SelfFence:
    """The fence state machine (pure; times are the agent's monotonic clock)."""

    timers: FenceTimers
    monotonic: Callable[[], float] = time.monotonic
    confirmed_at: float = field(default=-1.0)
    """Send time of the last confirmed renewal (agent start until the first one)."""
    progress_at: float = field(default=-1.0)
    fenced: bool = False
    holding: bool = False
    reason: str = ""

    def __post_init__(self) -> None:
        now = self.monotonic()
        self.confirmed_at = now if self.confirmed_at < 0 else self.confirmed_at
        self.progress_at = now if self.progress_at < 0 else self.progress_at

    def renewal_confirmed(self, sent_at: float) -> None:
        self.confirmed_at = max(self.confirmed_at, sent_at)
        self.holding = False

    def progressed(self) -> None:
        """The main loop completed a pass (or a wait): it is not hung."""
        self.progress_at = self.monotonic()

    def may_renew(self) -> bool:
        """Renew the Lease only while the main loop makes progress."""
        return self.monotonic() - self.progress_at < self.timers.progress_timeout_seconds

    def renewal_age(self) -> float:
        return self.monotonic() - self.confirmed_at

    def due(self) -> bool:
        """The last confirmed renewal is too old: peers must be asked (or the node fences)."""
        return not self.fenced and self.renewal_age() >= self.timers.self_fence_seconds

    def decide(self, peers: PeerAges) -> bool:
        """With the peers' answers, decide; True when the node must fence now."""
        if not self.due():
            return False
        # A peer renews while this node cannot when its last confirmed renewal is more recent than this
        # node's first failed attempt (confirmed_at + renew interval). In an outage of the API server every
        # peer's last renewal predates it.
        limit = self.renewal_age() - self.timers.renew_interval_seconds - PEER_SLACK_S
        if all(age is not None and age >= limit for age in peers.values()):
            if not self.holding:
                log.warning(
                    "Lease not renewed, but no peer can renew either: API outage, keeping the node serving",
                    extra={"renewal_age": round(self.renewal_age(), 1), "peers": sorted(peers)},
                )
            self.holding = True
            return False
        fresh = sorted(p for p, age in peers.items() if age is not None and age < limit)
        silent = sorted(p for p, age in peers.items() if age is None)
        self.reason = (
            f"Lease not renewed for {self.renewal_age():.1f}s"
            + (f"; peers renewing: {', '.join(fresh)}" if fresh else "")
            + (f"; peers not answering: {', '.join(silent)}" if silent else "")
        )
        self.fenced, self.holding = True, False
        return True

    def acknowledged(self) -> None:
        """The operator assigned ``unavailable`` (or nothing) to every group: follow assignments again."""
        if self.fenced:
            log.info("self-fence acknowledged by the operator; following assignments again")
        self.fenced, self.reason = False, ""


def fence_lio(edge: LioEdge, lock: threading.Lock | threading.RLock, only: Collection[str] | None = None) -> list[str]:
    """Set every nearpath ALUA group in this node's LIO (of the backstores ``only``, if given) to
    unavailable; return the groups changed.

    Works without the API. Takes the agent's LIO lock if it can within a second (a hung reconcile
    must not keep the fence out)."""
    locked = lock.acquire(timeout=LOCK_WAIT_S)
    try:
        changed = []
        for store in edge.list_backstores():
            if not ids.is_nearpath_backstore(store.name) or (only is not None and store.name not in only):
                continue
            for group in store.alua_groups.values():
                if group.name.startswith(ids.PORT_GROUP_PREFIX) and group.state_code != FENCE_CODE:
                    edge.set_alua_group(store.name, group.name, FENCE_CODE, group.access_type)
                    changed.append(f"{store.name}/{group.name}")
        return changed
    finally:
        if locked:
            lock.release()
