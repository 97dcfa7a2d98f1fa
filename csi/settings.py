"""Settings of the CSI driver (``NEARPATH_*`` environment variables, overridable by flags)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from nearpath.core import paths
from nearpath.core.settings import MetricsSettings


class CsiSettings(MetricsSettings):
    mode: Literal["controller", "node", "all"] = Field("all", description="Which CSI services this process serves.")
    endpoint: str = Field(
        "unix:///csi/csi.sock", description="gRPC endpoint: unix:///absolute/path (or a bare absolute path)."
    )
    node_id: str = Field(
        "", description="Kubernetes node name of this node (node mode; usually from the downward API)."
    )
    volume_namespace: str = Field(
        "nearpath-volumes", description="Namespace where the controller creates one VolumeGroup per volume."
    )
    default_backing: Literal["local", "shared"] = Field(
        "local", description="Backing of volumes whose StorageClass has no `backing` parameter."
    )
    allowed_path_prefixes: list[str] = Field(
        default_factory=lambda: list(paths.DEFAULT_ALLOWED_PREFIXES),
        description=(
            "Directories StorageClass `directory` and `devices` must lie under (JSON list in "
            "NEARPATH_ALLOWED_PATH_PREFIXES; chart: security.allowedPathPrefixes)."
        ),
    )
    default_size_bytes: int = Field(1 << 30, ge=1 << 20, description="Size of volumes created without a capacity.")
    ready_timeout_seconds: float = Field(
        30.0, gt=0, description="How long CreateVolume/Publish/Expand wait for the targets before asking for a retry."
    )
    poll_interval_seconds: float = Field(0.5, gt=0, description="Interval of the controller's status polls.")
    max_volumes_per_node: int = Field(64, ge=0, description="NodeGetInfo max_volumes_per_node (0: no limit).")
    initiator_name_file: str = Field(
        "/etc/iscsi/initiatorname.iscsi", description="File holding this node's iSCSI initiator name."
    )
    state_dir: str = Field(
        "/var/lib/nearpath/csi", description="Node directory where staged volumes are recorded (survives restarts)."
    )
    multipath_conf: str = Field(
        "/etc/multipath/conf.d/nearpath.conf", description="dm-multipath drop-in the node plugin maintains."
    )
    noop_out_interval: int = Field(1, ge=1, description="iSCSI NOP-Out interval (s): detects a silent path loss.")
    noop_out_timeout: int = Field(1, ge=1, description="iSCSI NOP-Out timeout (s).")
    replacement_timeout: int = Field(
        0,
        ge=0,
        description="iSCSI session replacement timeout (s). 0: a failed session fails its I/O at once, so "
        "dm-multipath retries it on another path (the session still logs back in in the background). "
        "Measured by `make bench-failover`: with 0 (and fast_io_fail_tmo 0) a silently lost optimized path "
        "costs ~2.1 s (NOP-Out 1 s + 1 s), with 5 and fast_io_fail_tmo 1 ~3.1 s.",
    )
    fast_io_fail_tmo: int = Field(
        0,
        ge=0,
        description="multipath fast_io_fail_tmo (s). multipathd writes it as the iSCSI session's recovery_tmo; "
        "with 0 it leaves recovery_tmo to replacement_timeout (above), so both must be 0 for an immediate "
        "failover (fast_io_fail_tmo 0 with replacement_timeout 5 measured 5.3 s for a withdrawn target).",
    )
    dev_loss_tmo: int = Field(60, ge=1, description="multipath dev_loss_tmo (s).")
    no_path_retry: int = Field(12, ge=0, description="multipath no_path_retry (checker intervals of queueing).")
    command_timeout_seconds: float = Field(30.0, gt=0, description="Timeout of one host command.")
    mkfs_timeout_seconds: float = Field(300.0, gt=0, description="Timeout of mkfs.")
    device_timeout_seconds: float = Field(
        30.0, gt=0, description="How long NodeStage waits for SCSI paths and the multipath device."
    )
    sandbox: bool = Field(
        False,
        description=(
            "Test mode: node operations run the real code over a simulated host (iSCSI, multipath, mounts); "
            "never use in production."
        ),
    )
