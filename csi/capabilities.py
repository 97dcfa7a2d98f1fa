"""Volume capability checks shared by the controller and node services."""

from __future__ import annotations

from collections.abc import Iterable

from nearpath.core.errors import InvalidArgument
from nearpath.csi.mount import SUPPORTED_FS
from nearpath.csi.proto import csi_pb2

AccessMode = csi_pb2.VolumeCapability.AccessMode
SINGLE_NODE_MODES = frozenset(
    {
        AccessMode.SINGLE_NODE_WRITER,
        AccessMode.SINGLE_NODE_READER_ONLY,
        AccessMode.SINGLE_NODE_SINGLE_WRITER,
        AccessMode.SINGLE_NODE_MULTI_WRITER,
    }
)
READ_ONLY_MODES = frozenset({AccessMode.SINGLE_NODE_READER_ONLY, AccessMode.MULTI_NODE_READER_ONLY})


def problem(cap: csi_pb2.VolumeCapability) -> str | None:
    """Why nearpath cannot provide ``cap`` (None when it can)."""
    kind = cap.WhichOneof("access_type")
    if kind is None:
        return "volume capability has no access type (block or mount)"
    if cap.access_mode.mode not in SINGLE_NODE_MODES:
        name = AccessMode.Mode.Name(cap.access_mode.mode)
        return f"access mode {name} is not supported (nearpath volumes attach to one node at a time)"
    if kind == "mount" and cap.mount.fs_type and cap.mount.fs_type not in SUPPORTED_FS:
        return f"fsType {cap.mount.fs_type!r} is not supported (use one of {', '.join(SUPPORTED_FS)})"
    return None


def check_all(caps: Iterable[csi_pb2.VolumeCapability]) -> None:
    caps = list(caps)
    if not caps:
        raise InvalidArgument("volume capabilities are required")
    for cap in caps:
        reason = problem(cap)
        if reason:
            raise InvalidArgument(reason)


def check_one(cap: csi_pb2.VolumeCapability | None, *, present: bool) -> csi_pb2.VolumeCapability:
    if not present or cap is None:
        raise InvalidArgument("volume capability is required")
    reason = problem(cap)
    if reason:
        raise InvalidArgument(reason)
    return cap
