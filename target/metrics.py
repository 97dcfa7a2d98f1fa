"""Prometheus metrics of the target agent, on a per-agent CollectorRegistry.

LIO keeps its statistics in configfs; they are read at scrape time (a custom collector),
so the numbers are the kernel's, not a copy that ages between reconciles:

- ``nearpath_target_lun_commands_total{target,lun,backstore}``: SCSI commands received
  on the LUN's target port (LIO ``scsi_tgt_port/in_cmds``; LIO counts no read/write split);
- ``nearpath_target_lun_read_bytes_total`` / ``..._write_bytes_total``: LIO counts whole
  MiB (``read_mbytes``/``write_mbytes``), exported in bytes;
- ``nearpath_target_alua_state{target,group,state}``: 1 for the state the target's ALUA
  port group reports (one series per state, the others 0);
- ``nearpath_target_sessions{target}``: logged-in iSCSI sessions;
- ``nearpath_target_reconcile_errors_total{volumegroup}``, ``nearpath_target_reconciles_total``,
  ``nearpath_target_lio_changes_total``, ``nearpath_target_lease_renewal_errors_total``,
  ``nearpath_target_self_fences_total``;
- ``nearpath_target_lease_renewal_age_seconds``: time since the last confirmed Lease renewal was
  sent (the self-fence's clock; peers read it, :mod:`nearpath.target.peers`).

LIO has no per-command latency statistics, so there is no latency metric.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from nearpath.core import identifiers as ids
from nearpath.core import metrics_http
from nearpath.core.errors import NearpathError
from nearpath.target.lio import LioEdge
from nearpath.target.model import ALUA_STATE_CODES

log = logging.getLogger("nearpath.target.metrics")


class LioCollector(Collector):
    """Reads LIO at scrape time (nearpath-owned targets only)."""

    def __init__(self, edge: LioEdge, lock: threading.Lock | threading.RLock) -> None:
        self._edge = edge
        self._lock = lock

    def collect(self) -> Iterator[Metric]:
        commands = CounterMetricFamily(
            "nearpath_target_lun_commands", "SCSI commands received by a LUN", labels=["target", "lun", "backstore"]
        )
        read = CounterMetricFamily(
            "nearpath_target_lun_read_bytes",
            "Bytes read from a LUN (LIO counts whole MiB)",
            labels=["target", "lun", "backstore"],
        )
        write = CounterMetricFamily(
            "nearpath_target_lun_write_bytes",
            "Bytes written to a LUN (LIO counts whole MiB)",
            labels=["target", "lun", "backstore"],
        )
        alua = GaugeMetricFamily(
            "nearpath_target_alua_state",
            "1 for the ALUA state a target's port group reports",
            labels=["target", "group", "state"],
        )
        sessions = GaugeMetricFamily("nearpath_target_sessions", "Logged-in iSCSI sessions", labels=["target"])
        try:
            with self._lock:
                stats = self._edge.read_lun_stats()
                targets = [t for t in self._edge.list_targets() if ids.is_nearpath_iqn(t.iqn)]
                backstores = {b.name: b for b in self._edge.list_backstores()}
        except (NearpathError, OSError) as exc:
            log.warning("could not read LIO statistics", extra={"error": str(exc)})
            return
        for s in stats:
            if not ids.is_nearpath_iqn(s.iqn):
                continue
            labels = [s.iqn, str(s.lun), s.backstore]
            commands.add_metric(labels, s.commands)
            read.add_metric(labels, s.read_bytes)
            write.add_metric(labels, s.write_bytes)
        for t in targets:
            sessions.add_metric([t.iqn], len(t.sessions()))
            groups = {}
            for lun in t.luns.values():
                b = backstores.get(lun.backstore)
                if b is not None and lun.alua_group in b.alua_groups:
                    groups[lun.alua_group] = b.alua_groups[lun.alua_group].state_code
            for group, code in sorted(groups.items()):
                for state, state_code in ALUA_STATE_CODES.items():
                    alua.add_metric([t.iqn, group, state.value], 1.0 if code == state_code else 0.0)
        yield from (commands, read, write, alua, sessions)


class TargetMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.reconcile_errors = Counter(
            "nearpath_target_reconcile_errors",
            "VolumeGroups whose target could not be converged, per reconcile",
            ["volumegroup"],
            registry=self.registry,
        )
        self.reconciles = Counter("nearpath_target_reconciles", "Reconcile passes", registry=self.registry)
        self.changes = Counter("nearpath_target_lio_changes", "LIO objects changed", registry=self.registry)
        self.lease_errors = Counter(
            "nearpath_target_lease_renewal_errors", "Failed heartbeat Lease renewals", registry=self.registry
        )
        self.self_fences = Counter(
            "nearpath_target_self_fences", "Times this node fenced itself (Lease lost)", registry=self.registry
        )
        self.renewal_age = Gauge(
            "nearpath_target_lease_renewal_age_seconds",
            "Time since the agent sent its last confirmed Lease renewal (peers read it to tell an API outage "
            "from a partition)",
            registry=self.registry,
        )

    def watch_renewal_age(self, age: Callable[[], float]) -> None:
        self.renewal_age.set_function(age)

    def watch_lio(self, edge: LioEdge, lock: threading.Lock | threading.RLock) -> None:
        self.registry.register(LioCollector(edge, lock))

    def serve(self, port: int, address: str = "") -> None:
        metrics_http.serve(self.registry, port, address)
