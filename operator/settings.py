"""Operator settings (``NEARPATH_*`` environment variables; command-line flags override some)."""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field

from nearpath.core.contract import LEADER_LEASE_NAME, LEASE_NAMESPACE
from nearpath.core.settings import MetricsSettings
from nearpath.operator.decisions import Policy
from nearpath.operator.health import HealthTimers


class OperatorSettings(MetricsSettings):
    """Everything the operator can be tuned with. Times are in seconds."""

    namespace: str | None = Field(
        None, description="Namespace whose VolumeGroups the operator manages; unset: every namespace."
    )
    lease_namespace: str = Field(
        LEASE_NAMESPACE,
        description="Namespace of the target agents' Leases (nearpath-target-<node>) and of the leader Lease.",
    )
    lease_grace_seconds: float = Field(
        1.0,
        ge=0,
        le=60,
        description="Extra time past leaseDurationSeconds, counted from the operator's own observation of the last "
        "renewal, before a node counts as down (API latency).",
    )
    api_blind_seconds: float = Field(
        3.0,
        gt=0,
        le=600,
        description="No successful Lease listing for this long means the operator could not observe renewals: "
        "on the next listing every Lease counts as renewed then (an API outage is not a node failure).",
    )
    api_regain_hold_seconds: float = Field(
        5.0,
        ge=0,
        le=600,
        description="After such a blind period, no node is declared down for this long (agents reconnect first).",
    )
    mass_expiry_fraction: float = Field(
        0.5,
        gt=0,
        le=1,
        description="A Lease that runs out while this fraction of the live nodes (and at least two) missed renewals "
        "points at the control plane, not the nodes: decisions are held (once per episode).",
    )
    mass_expiry_hold_seconds: float = Field(
        20.0, ge=0, le=600, description="How long a mass Lease expiry holds node-down decisions."
    )
    health_interval_seconds: float = Field(
        1.0,
        gt=0,
        le=60,
        description="How often the agents' Leases are listed. Failover detection takes at most lease "
        "duration + grace + twice this interval after the agent's last renewal.",
    )
    stabilization_window_seconds: float = Field(
        10.0,
        ge=0,
        le=3600,
        description="A fenced node must hold a live Lease this long without interruption (and report its fence "
        "applied) before it serves again; damps flapping nodes.",
    )
    failback_delay_seconds: float = Field(
        30.0,
        ge=0,
        le=86400,
        description="After a failover, how long the returning preferred node must be alive before optimization "
        "moves back to it (only with spec.failover.autoFailback).",
    )
    converge_timeout_seconds: float = Field(
        120.0,
        gt=0,
        le=86400,
        description="Assignments the agents have not applied after this long make the group Degraded (NotConverging).",
    )
    resync_interval_seconds: float = Field(
        300.0,
        gt=0,
        le=86400,
        description="Every VolumeGroup is re-evaluated at least this often, even without a change.",
    )
    node_refresh_seconds: float = Field(
        30.0, gt=0, le=3600, description="How often Node labels (for placement.nodeSelector) are re-read."
    )
    workers: int = Field(4, ge=1, le=64, description="VolumeGroups reconciled in parallel (API calls in flight).")
    leader_election: bool = Field(
        True, description="Run only while holding the leader Lease (several operator replicas: one active)."
    )
    leader_lease_name: str = Field(LEADER_LEASE_NAME, description="Name of the leader-election Lease.")
    leader_lease_seconds: int = Field(
        15, ge=3, le=300, description="Leader Lease duration; a new leader takes over at most this long after a crash."
    )
    identity: str | None = Field(
        None, description="This replica's identity in the leader Lease; default: hostname and process id."
    )

    def health_timers(self) -> HealthTimers:
        return HealthTimers(
            grace=self.lease_grace_seconds,
            blind_after=self.api_blind_seconds,
            regain_hold=self.api_regain_hold_seconds,
            mass_fraction=self.mass_expiry_fraction,
            mass_hold=self.mass_expiry_hold_seconds,
        )

    def policy(self) -> Policy:
        return Policy(
            stabilization_window=timedelta(seconds=self.stabilization_window_seconds),
            failback_delay=timedelta(seconds=self.failback_delay_seconds),
            converge_timeout=timedelta(seconds=self.converge_timeout_seconds),
        )
