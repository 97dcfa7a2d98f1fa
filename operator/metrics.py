"""Prometheus metrics of the operator, in their own registry (tests read it directly)."""

from __future__ import annotations

from collections.abc import Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from nearpath.core import metrics_http

CONDITION_TYPES = ("Ready", "Degraded", "Progressing")
CONDITION_STATUSES = ("True", "False", "Unknown")


class OperatorMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.volumegroups = Gauge(
            "nearpath_operator_volumegroups",
            "VolumeGroups by condition type and status.",
            ["condition", "status"],
            registry=self.registry,
        )
        self.reconcile_duration = Histogram(
            "nearpath_operator_reconcile_duration_seconds",
            "Time to reconcile one VolumeGroup (decision and status write).",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry,
        )
        self.failovers = Counter(
            "nearpath_operator_failovers_total",
            "Active/optimized moved away from a node that failed, by reason.",
            ["reason"],
            registry=self.registry,
        )
        self.converge_duration = Histogram(
            "nearpath_operator_converge_duration_seconds",
            "Time from a changed decision (spec change, failover) until every live node reports it applied.",
            buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300),
            registry=self.registry,
        )
        self.reconcile_errors = Counter(
            "nearpath_operator_reconcile_errors_total",
            "Reconciles that failed (retried with backoff), by error kind.",
            ["kind"],
            registry=self.registry,
        )
        for type_ in CONDITION_TYPES:
            for status in CONDITION_STATUSES:
                self.volumegroups.labels(type_, status).set(0)
        self._conditions: dict[str, dict[str, str]] = {}

    def set_conditions(self, key: str, conditions: Mapping[str, str]) -> None:
        """Record the condition statuses of one VolumeGroup (type -> status); keeps the gauge exact."""
        old = self._conditions.get(key, {})
        for type_, status in old.items():
            if conditions.get(type_) != status:
                self.volumegroups.labels(type_, status).dec()
        for type_, status in conditions.items():
            if old.get(type_) != status:
                self.volumegroups.labels(type_, status).inc()
        self._conditions[key] = dict(conditions)

    def forget(self, key: str) -> None:
        self.set_conditions(key, {})
        self._conditions.pop(key, None)

    def serve(self, port: int, address: str = "") -> None:
        metrics_http.serve(self.registry, port, address)
