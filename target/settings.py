"""Settings of the node-local target agent (``NEARPATH_*`` environment variables)."""

from __future__ import annotations

from pydantic import Field, model_validator

from nearpath.core import paths
from nearpath.core.api.spec import DEFAULT_LOCAL_DIRECTORY
from nearpath.core.contract import LEASE_NAMESPACE
from nearpath.core.settings import MetricsSettings
from nearpath.target.fence import PEER_SLACK_S, FenceTimers


class TargetSettings(MetricsSettings):
    node_name: str = Field("", description="This node's Kubernetes name (NEARPATH_NODE_NAME, from the downward API).")
    portals: list[str] = Field(
        default_factory=list,
        description=(
            "iSCSI portals this node serves, as `ip` or `ip:port` (JSON list in NEARPATH_PORTALS). "
            "Every target of the node listens on all of them."
        ),
    )
    lease_namespace: str = Field(LEASE_NAMESPACE, description="Namespace of the heartbeat Lease.")
    lease_duration_seconds: int = Field(10, ge=3, le=600, description="Lease duration; renewed every third of it.")
    self_fence_seconds: float | None = Field(
        None,
        gt=0,
        le=600,
        description="Without a confirmed Lease renewal for this long (timed from when it was sent), the node "
        "fences itself (every group unavailable) unless every peer reports that it cannot renew either (an "
        "API outage). Must lie in (2 x leaseDuration/3 + 0.5, leaseDuration); the operator's lease grace must "
        "cover the fence tick, the peer timeout and the LIO write (README: timers). Default: "
        "max(0.8 x leaseDuration, 2 x leaseDuration/3 + 0.75).",
    )
    progress_timeout_seconds: float = Field(
        60.0,
        gt=0,
        le=3600,
        description="The Lease is renewed only while the reconcile loop completed a pass or a watch within this "
        "long: a hung agent loses its Lease and fences.",
    )

    fence_deadline_file: str = Field(
        "/run/nearpath/fence-deadline",
        description="File through which the agent hands its fence deadline to the fence watchdog process "
        "(fences LIO in configfs when the agent is stopped, hung or dead); empty: no watchdog.",
    )

    @property
    def self_fence_after(self) -> float:
        lease = self.lease_duration_seconds
        return self.self_fence_seconds or max(0.8 * lease, 2 * lease / 3 + 0.75)

    @model_validator(mode="after")
    def _fence_bounds(self) -> TargetSettings:
        low = 2 * self.lease_duration_seconds / 3 + PEER_SLACK_S
        if not low < self.self_fence_after < self.lease_duration_seconds:
            raise ValueError(
                f"self_fence_seconds must lie in ({low:.2f}, {self.lease_duration_seconds}) for a "
                f"{self.lease_duration_seconds}s Lease (peers must tell an outage from a partition, and the fence "
                "must land before the operator's decision bound)"
            )
        return self

    def fence_timers(self) -> FenceTimers:
        return FenceTimers(
            self_fence_seconds=self.self_fence_after,
            renew_interval_seconds=self.lease_duration_seconds / 3,
            progress_timeout_seconds=self.progress_timeout_seconds,
        )

    resync_seconds: float = Field(
        30.0, gt=0, le=3600, description="Full re-convergence period (also picks up Secret rotations)."
    )
    local_directory: str = Field(
        DEFAULT_LOCAL_DIRECTORY,
        description=(
            "The host directory (mounted at the same path) where `local` disks' sparse files may live; "
            "a VolumeGroup whose files would land elsewhere is refused (they would live in the container)."
        ),
    )
    dbroot: str = Field(
        "",
        description="LIO dbroot override (persistent reservations live in <dbroot>/pr); empty: the kernel's.",
    )
    manage_discovery_auth: bool = Field(
        True,
        description=(
            "Own the node-global iSCSI discovery authentication: on if any served VolumeGroup asks for it, "
            "off otherwise."
        ),
    )
    allowed_path_prefixes: list[str] = Field(
        default_factory=lambda: list(paths.DEFAULT_ALLOWED_PREFIXES),
        description=(
            "Directories under which disk paths (devices, files, local directories) may lie "
            "(JSON list in NEARPATH_ALLOWED_PATH_PREFIXES; chart: security.allowedPathPrefixes)."
        ),
    )
    full_zero_limit_bytes: int = Field(
        64 << 30,
        ge=0,
        description=(
            "Released block devices up to this size are zeroed whole even without WRITE ZEROES offload; "
            "larger ones without it get wipefs + zeroed first/last MiB (target/wipe.py)."
        ),
    )
    host_proc: str = Field(
        "/proc",
        description="The host's /proc (its 1/mountinfo and swaps tell which devices are in use); chart: /host/proc.",
    )
