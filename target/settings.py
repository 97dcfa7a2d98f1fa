"""Settings of the node-local target agent (``NEARPATH_*`` environment variables)."""

from __future__ import annotations

from pydantic import Field

from nearpath.core import paths
from nearpath.core.api.spec import DEFAULT_LOCAL_DIRECTORY
from nearpath.core.contract import LEASE_NAMESPACE
from nearpath.core.settings import MetricsSettings


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
