"""StorageClass parameters of nearpath volumes (documented in csi/README.md)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

from nearpath.core import identifiers as core_ids
from nearpath.core import paths
from nearpath.core.api import AluaState, BackingType
from nearpath.core.errors import InvalidArgument
from nearpath.csi.mount import SUPPORTED_FS

CSI_PREFIX = "csi.storage.k8s.io/"
KNOWN = (
    "backing",
    "directory",
    "devices",
    "fsType",
    "chapSecretName",
    "mutualChap",
    "discoveryAuth",
    "nonOptimizedState",
    "autoFailback",
    "nodes",
)


@dataclass(frozen=True)
class VolumeParams:
    backing: BackingType
    directory: str = ""
    devices: tuple[str, ...] = ()
    fs_type: str = ""
    chap_secret_name: str = ""
    mutual_chap: bool = False
    discovery_auth: bool = False
    non_optimized_state: AluaState = AluaState.ACTIVE_NON_OPTIMIZED
    auto_failback: bool = True
    nodes: tuple[str, ...] = ()

    def fingerprint(self) -> str:
        """A stable text form, stored on the VolumeGroup to recognise a repeated CreateVolume."""
        data = asdict(self)
        data["backing"] = self.backing.value
        data["non_optimized_state"] = self.non_optimized_state.value
        return json.dumps(data, sort_keys=True, separators=(",", ":"))


def _bool(name: str, value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("true", "yes", "1"):
        return True
    if lowered in ("false", "no", "0"):
        return False
    raise InvalidArgument(f"parameter {name}: expected true or false, not {value!r}")


def _list(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(",") if part.strip())


def _check_path(name: str, value: str, allowed_prefixes: Sequence[str]) -> None:
    problem = paths.path_problem(value)
    if problem:
        raise InvalidArgument(f"parameter {name}: {problem}, not {value!r}"[:300])
    if not paths.under_prefixes(value, allowed_prefixes):
        raise InvalidArgument(
            f"parameter {name}: {value!r} is outside the allowed prefixes ({paths.prefixes_text(allowed_prefixes)})"
        )


def parse(
    params: Mapping[str, str],
    default_backing: str,
    allowed_prefixes: Sequence[str] = paths.DEFAULT_ALLOWED_PREFIXES,
) -> VolumeParams:
    """The parameters of a StorageClass; disk paths must lie under ``allowed_prefixes``."""
    unknown = sorted(k for k in params if k not in KNOWN and not k.startswith(CSI_PREFIX))
    if unknown:
        raise InvalidArgument(f"unknown StorageClass parameter {unknown[0]!r} (known: {', '.join(KNOWN)})")
    raw_backing = params.get("backing", default_backing)
    if raw_backing not in (BackingType.LOCAL.value, BackingType.SHARED.value):
        raise InvalidArgument(f"parameter backing: must be local or shared, not {raw_backing!r}")
    backing = BackingType(raw_backing)
    directory = params.get("directory", "")
    if directory and (backing is not BackingType.LOCAL or not directory.startswith("/")):
        raise InvalidArgument("parameter directory: an absolute path, only with backing local")
    if directory:
        _check_path("directory", directory, allowed_prefixes)
    devices = _list(params.get("devices", ""))
    if backing is BackingType.SHARED and not devices:
        raise InvalidArgument("parameter devices: shared backing needs candidate device paths (comma-separated)")
    if backing is BackingType.LOCAL and devices:
        raise InvalidArgument("parameter devices: only with backing shared")
    for device in devices:
        _check_path("devices", device, allowed_prefixes)
    fs_type = params.get("fsType", "")
    if fs_type and fs_type not in SUPPORTED_FS:
        raise InvalidArgument(f"parameter fsType: {fs_type!r} is not supported (use one of {', '.join(SUPPORTED_FS)})")
    secret = params.get("chapSecretName", "")
    if secret and not core_ids.is_dns_label(secret):
        raise InvalidArgument(f"parameter chapSecretName: {secret!r} is not a Secret name")
    mutual = _bool("mutualChap", params.get("mutualChap", "false"))
    discovery = _bool("discoveryAuth", params.get("discoveryAuth", "false"))
    if (mutual or discovery) and not secret:
        raise InvalidArgument("parameters mutualChap and discoveryAuth need chapSecretName")
    raw_state = params.get("nonOptimizedState", AluaState.ACTIVE_NON_OPTIMIZED.value)
    if raw_state not in (AluaState.ACTIVE_NON_OPTIMIZED.value, AluaState.STANDBY.value):
        raise InvalidArgument(
            f"parameter nonOptimizedState: must be active-non-optimized or standby, not {raw_state!r}"
        )
    nodes = _list(params.get("nodes", ""))
    for node in nodes:
        if not core_ids.is_dns_subdomain(node):
            raise InvalidArgument(f"parameter nodes: {node!r} is not a node name")
    if backing is BackingType.LOCAL and len(nodes) > 1:
        raise InvalidArgument("parameter nodes: local backing is served by exactly one node")
    return VolumeParams(
        backing=backing,
        directory=directory,
        devices=devices,
        fs_type=fs_type,
        chap_secret_name=secret,
        mutual_chap=mutual,
        discovery_auth=discovery,
        non_optimized_state=AluaState(raw_state),
        auto_failback=_bool("autoFailback", params.get("autoFailback", "true")),
        nodes=nodes,
    )
