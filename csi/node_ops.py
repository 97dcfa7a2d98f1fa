"""The node plugin's host work: stage, publish, expand, inspect and clean up volumes.

Pure Python over two edges (the core :class:`~nearpath.core.runner.Runner` for commands and
:class:`~nearpath.csi.host.Host` for files), without gRPC: the gRPC node service
(:mod:`nearpath.csi.node`) translates requests into calls of :class:`NodeOps`, and the VM
tier drives :class:`NodeOps` directly inside guests.

Stage (one VolumeGroup, one LUN, one target per serving node):

1. keep the multipath drop-in current (``multipathd reconfigure`` only when it changed);
2. for every portal of every target, the same-node target first: SendTargets discovery
   (no stored records; discovery CHAP when asked), a node record with ``node.startup=manual``,
   short NOP-Out timeouts and session CHAP, and a login (already logged in is fine).
   A portal that fails is logged and skipped: the volume stages while one path works;
3. wait for each path's SCSI disk (udev by-path link), let multipath claim the WWID and its
   paths, wait for ``/dev/mapper/<wwid>``;
4. mount volumes: format only an empty device, then mount on the staging path.

The staged volume is recorded in ``<state_dir>/volumes/`` (unstage gets only the volume id and
path, and must know the targets to log out of). Unstage reverses in the safe order
(:mod:`nearpath.csi.detach`): unmount, flush and remove the map, then delete the SCSI disks,
log out, delete the node records and forget the WWID, reporting every failed step at once.
"""

from __future__ import annotations

import hashlib
import json
import logging
import posixpath
from dataclasses import asdict, dataclass, field

from nearpath.core import identifiers as core_ids
from nearpath.core.chap import ChapCredentials
from nearpath.core.errors import (
    AlreadyExists,
    CommandError,
    DeadlineExceeded,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    Unavailable,
)
from nearpath.core.runner import Runner
from nearpath.csi.detach import Detacher
from nearpath.csi.host import FsStats, Host
from nearpath.csi.iscsi import Iscsiadm, NodeSettings, by_path_link
from nearpath.csi.mount import SUPPORTED_FS, Mounter
from nearpath.csi.multipath import Multipath, config_text
from nearpath.csi.node_records import NodeRecords
from nearpath.csi.publish_context import PublishContext, TargetPortal
from nearpath.csi.volume_ids import filesystem_uuid

log = logging.getLogger("nearpath.csi.node")


@dataclass(frozen=True)
class NodeConfig:
    node_name: str
    initiator_name_file: str = "/etc/iscsi/initiatorname.iscsi"
    state_dir: str = "/var/lib/nearpath/csi"
    multipath_conf: str = "/etc/multipath/conf.d/nearpath.conf"
    noop_out_interval: int = 1
    noop_out_timeout: int = 1
    replacement_timeout: int = 0
    fast_io_fail_tmo: int = 0
    dev_loss_tmo: int = 60
    no_path_retry: int = 12
    command_timeout: float = 30.0
    mkfs_timeout: float = 300.0
    device_timeout: float = 30.0
    poll_interval: float = 0.2


@dataclass(frozen=True)
class StageRequest:
    volume_id: str
    staging_path: str
    publish: PublishContext
    block: bool = False
    fs_type: str = "ext4"
    mount_flags: tuple[str, ...] = ()
    chap: ChapCredentials | None = None


@dataclass
class StagedVolume:
    """What a stage did, persisted so unstage, expand and stats can undo or inspect it."""

    volume_id: str
    staging_path: str
    wwid: str
    lun: int
    block: bool
    fs_type: str
    paths: list[tuple[str, str]] = field(default_factory=list)  # (target iqn, portal) logged in

    @property
    def device(self) -> str:
        return f"/dev/mapper/{self.wwid}"

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> StagedVolume:
        data = json.loads(text)
        data["paths"] = [tuple(p) for p in data.get("paths", [])]
        return cls(**data)


@dataclass(frozen=True)
class VolumeUsage:
    block: bool
    stats: FsStats | None
    size_bytes: int
    abnormal: bool
    message: str


class NodeOps:
    def __init__(self, runner: Runner, host: Host, config: NodeConfig) -> None:
        self.runner = runner
        self.host = host
        self.config = config
        self.iscsi = Iscsiadm(runner, config.command_timeout, NodeRecords(host))
        self.multipath = Multipath(runner, config.command_timeout)
        self.mounter = Mounter(runner, host, config.command_timeout, config.mkfs_timeout)
        self.detacher = Detacher(host, self.iscsi, self.multipath, self.mounter)

    # -- node identity -------------------------------------------------------------------
    def initiator_name(self) -> str:
        """This node's initiator name, as open-iscsi has it (never invented)."""
        text = self.host.read_file(self.config.initiator_name_file)
        if text is None:
            raise FailedPrecondition(
                f"{self.config.initiator_name_file} does not exist: install open-iscsi on the node "
                "(it generates the initiator name)"
            )
        for line in text.splitlines():
            key, sep, value = line.strip().partition("=")
            if sep and key.strip() == "InitiatorName":
                name = value.strip()
                if not core_ids.is_initiator_name(name):
                    raise FailedPrecondition(
                        f"{self.config.initiator_name_file} holds {name!r}, not a valid initiator name"
                    )
                return name
        raise FailedPrecondition(
            f"{self.config.initiator_name_file} has no InitiatorName= line (start iscsid once to generate it)"
        )

    # -- state -----------------------------------------------------------------------------
    def _state_path(self, volume_id: str) -> str:
        digest = hashlib.sha256(volume_id.encode()).hexdigest()[:32]
        return posixpath.join(self.config.state_dir, "volumes", f"{digest}.json")

    def staged(self, volume_id: str) -> StagedVolume | None:
        text = self.host.read_file(self._state_path(volume_id))
        if text is None:
            return None
        state = StagedVolume.from_json(text)
        return state if state.volume_id == volume_id else None

    def staged_volumes(self) -> list[StagedVolume]:
        """Every volume this node has staged (from the state directory)."""
        directory = posixpath.join(self.config.state_dir, "volumes")
        out = []
        for entry in self.host.list_dir(directory):
            text = self.host.read_file(posixpath.join(directory, entry)) if entry.endswith(".json") else None
            if text is not None:
                out.append(StagedVolume.from_json(text))
        return sorted(out, key=lambda s: s.volume_id)

    def _save(self, state: StagedVolume) -> None:
        self.host.write_file(self._state_path(state.volume_id), state.to_json())

    def _forget(self, volume_id: str) -> None:
        self.host.remove_file(self._state_path(volume_id))

    # -- stage -------------------------------------------------------------------------------
    def stage(self, req: StageRequest) -> StagedVolume:
        if not req.block and req.fs_type not in SUPPORTED_FS:
            raise InvalidArgument(f"fsType {req.fs_type!r} is not supported (use one of {', '.join(SUPPORTED_FS)})")
        if req.publish.chap != "none" and (req.chap is None or not req.chap.username or not req.chap.password):
            raise InvalidArgument(
                "the volume requires CHAP but the request has no username/password secrets "
                "(set csi.storage.k8s.io/node-stage-secret-name/namespace in the StorageClass)"
            )
        previous = self.staged(req.volume_id)
        if previous is not None and previous.staging_path != req.staging_path:
            raise FailedPrecondition(
                f"volume {req.volume_id} is already staged at {previous.staging_path}, not {req.staging_path}"
            )
        if previous is not None and previous.block != req.block:
            raise FailedPrecondition(f"volume {req.volume_id} is already staged with another access type")
        publish = req.publish
        self.ensure_multipath_config()
        logged_in = self._connect_all(publish, req.chap)
        state = StagedVolume(
            volume_id=req.volume_id,
            staging_path=req.staging_path,
            wwid=publish.wwid,
            lun=publish.lun,
            block=req.block,
            fs_type="" if req.block else req.fs_type,
            paths=sorted(set(logged_in) | set(previous.paths if previous else [])),
        )
        self._save(state)  # from here on, unstage can clean up whatever follows
        devices = self._wait_paths(logged_in, publish.lun)
        self._assemble_map(publish.wwid, devices)
        if not req.block:
            self._mount_staging(state, list(req.mount_flags))
        log.info("volume staged", extra={"volume": req.volume_id, "paths": len(devices), "wwid": publish.wwid})
        return state

    def ensure_multipath_config(self) -> bool:
        wanted = config_text(
            fast_io_fail_tmo=self.config.fast_io_fail_tmo,
            dev_loss_tmo=self.config.dev_loss_tmo,
            no_path_retry=self.config.no_path_retry,
        )
        if self.host.read_file(self.config.multipath_conf) == wanted:
            return False
        self.host.write_file(self.config.multipath_conf, wanted)
        self.multipath.reconfigure()
        return True

    def _ordered_targets(self, publish: PublishContext) -> list[TargetPortal]:
        local = [t for t in publish.targets if t.node == self.config.node_name]
        return local + [t for t in publish.targets if t.node != self.config.node_name]

    def _connect_all(self, publish: PublishContext, chap: ChapCredentials | None) -> list[tuple[str, str]]:
        sessions = {(s.iqn, s.portal) for s in self.iscsi.sessions()}
        session_chap = chap if publish.chap != "none" else None
        discovery_chap = chap if publish.discovery_chap else None
        settings = NodeSettings(
            self.config.noop_out_interval, self.config.noop_out_timeout, self.config.replacement_timeout
        )
        logged_in: list[tuple[str, str]] = []
        failures: list[str] = []
        for target in self._ordered_targets(publish):
            for portal in target.portals:
                try:
                    offered = self.iscsi.discover(portal, discovery_chap)
                    if target.iqn not in offered:
                        failures.append(f"{portal} does not offer {target.iqn} (access list not applied yet?)")
                        continue
                    if (target.iqn, portal) not in sessions:
                        if not self.iscsi.record_exists(target.iqn, portal):
                            self.iscsi.create_record(target.iqn, portal)
                        self.iscsi.configure(target.iqn, portal, settings, session_chap)
                        self.iscsi.login(target.iqn, portal)
                    logged_in.append((target.iqn, portal))
                except CommandError as exc:
                    failures.append(f"{portal} ({target.node}): {exc.message}")
                    log.warning("path not connected", extra={"portal": portal, "iqn": target.iqn, "error": exc.message})
        if not logged_in:
            raise Unavailable("could not log in to any target portal: " + "; ".join(failures))
        return logged_in

    def _wait_paths(self, logged_in: list[tuple[str, str]], lun: int) -> list[str]:
        """The SCSI disks (sdX) of the logged-in paths, waiting for udev up to the device timeout."""
        links = {by_path_link(portal, iqn, lun) for iqn, portal in logged_in}
        deadline = self.host.monotonic() + self.config.device_timeout
        found: dict[str, str] = {}
        while True:
            for link in sorted(links - set(found)):
                if self.host.exists(link):
                    found[link] = posixpath.basename(self.host.realpath(link))
            if len(found) == len(links) or self.host.monotonic() >= deadline:
                break
            self.host.sleep(self.config.poll_interval)
        if not found:
            raise DeadlineExceeded(
                f"no SCSI disk for LUN {lun} appeared within {self.config.device_timeout:g} s after login"
            )
        if len(found) < len(links):
            log.warning("some paths have no disk", extra={"missing": sorted(links - set(found))})
        return sorted(found.values())

    def _assemble_map(self, wwid: str, devices: list[str]) -> None:
        mapper = f"/dev/mapper/{wwid}"
        if self.host.is_block_device(mapper):
            for dev in devices:
                self.multipath.add_path(dev)
            return
        self.multipath.allow_wwid(wwid)
        for dev in devices:
            self.multipath.add_path(dev)
        deadline = self.host.monotonic() + self.config.device_timeout
        created = False
        while not self.host.is_block_device(mapper):
            if self.host.monotonic() >= deadline:
                raise DeadlineExceeded(
                    f"multipath device {mapper} did not appear within {self.config.device_timeout:g} s "
                    f"(paths: {', '.join(devices)})"
                )
            if not created:
                self.multipath.create_map(wwid)
                created = True
                continue
            self.host.sleep(self.config.poll_interval)

    def _mount_staging(self, state: StagedVolume, flags: list[str]) -> None:
        current = self.mounter.mount_at(state.staging_path)
        device = state.device
        if current is not None:
            if self.host.realpath(current.source) != self.host.realpath(device):
                raise FailedPrecondition(f"{state.staging_path} is already a mount of {current.source}")
            return
        found, fs_uuid = self.mounter.signature(device)
        wanted_uuid = filesystem_uuid(state.wwid)
        if not found:
            self.mounter.mkfs(device, state.fs_type, wanted_uuid)
        elif found != state.fs_type:
            raise FailedPrecondition(
                f"volume {state.volume_id} holds {found}, not the requested {state.fs_type}: refusing to format it"
            )
        elif fs_uuid != wanted_uuid:
            # Not made by nearpath for this volume: another tenant's data on a reused device.
            raise FailedPrecondition(
                f"volume {state.volume_id} holds a {found} file system nearpath did not create for it "
                f"(UUID {fs_uuid or 'none'}, expected {wanted_uuid}): refusing to mount it"
            )
        self.host.make_dir(state.staging_path)
        self.mounter.mount(device, state.staging_path, state.fs_type, flags)

    # -- unstage -----------------------------------------------------------------------------
    def unstage(self, volume_id: str, staging_path: str) -> None:
        state = self.staged(volume_id)
        if state is None or state.staging_path != staging_path:
            if self.mounter.mount_at(staging_path) is not None and state is None:
                self.mounter.unmount(staging_path)
            return
        self.detacher.detach(
            volume_id, staging_path, wwid=state.wwid, lun=state.lun, block=state.block, paths=state.paths
        )
        self._forget(volume_id)
        log.info("volume unstaged", extra={"volume": volume_id, "wwid": state.wwid})

    # -- publish ------------------------------------------------------------------------------
    def publish(self, volume_id: str, staging_path: str, target_path: str, read_only: bool, block: bool) -> None:
        state = self.staged(volume_id)
        if state is None or state.staging_path != staging_path:
            raise FailedPrecondition(f"volume {volume_id} is not staged at {staging_path}")
        if state.block != block:
            raise FailedPrecondition(f"volume {volume_id} was staged with another access type")
        current = self.mounter.mount_at(target_path)
        if current is not None:
            if current.read_only != read_only:
                raise AlreadyExists(
                    f"{target_path} is already published {'read-only' if current.read_only else 'read-write'}"
                )
            return
        if block:
            self.host.make_file(target_path)
            self.mounter.bind(state.device, target_path, read_only)
        else:
            self.host.make_dir(target_path)
            self.mounter.bind(staging_path, target_path, read_only)

    def unpublish(self, target_path: str) -> None:
        while self.mounter.mount_at(target_path) is not None:
            self.mounter.unmount(target_path)
        if self.host.is_dir(target_path):
            self.host.remove_dir(target_path)
        elif self.host.exists(target_path):
            self.host.remove_file(target_path)

    # -- expand and stats ---------------------------------------------------------------------
    def expand(self, volume_id: str, volume_path: str) -> int:
        state = self._require(volume_id, volume_path)
        for dev in self.detacher.map_paths(state.wwid):
            self.host.write_file(f"/sys/block/{dev}/device/rescan", "1")
        self.multipath.resize_map(state.wwid)
        if not state.block:
            self.mounter.grow_fs(state.device, state.staging_path, state.fs_type)
        return self.mounter.device_size(state.device)

    def usage(self, volume_id: str, volume_path: str) -> VolumeUsage:
        state = self._require(volume_id, volume_path)
        abnormal, message = self.path_health(state)
        if state.block:
            return VolumeUsage(True, None, self.mounter.device_size(state.device), abnormal, message)
        return VolumeUsage(False, self.host.fs_stats(volume_path), 0, abnormal, message)

    def path_health(self, state: StagedVolume) -> tuple[bool, str]:
        paths = [p for p in self.multipath.paths() if p.wwid == state.wwid]
        bad = [f"{p.dev} {p.dm_state}/{p.checker_state}" for p in paths if not p.healthy]
        expected = len(state.paths)
        if not paths:
            return True, f"multipath map {state.wwid} has no paths"
        if bad or len(paths) < expected:
            detail = ", ".join(bad) if bad else "none failed"
            return True, f"{len(paths) - len(bad)} of {expected} paths up ({detail})"
        return False, f"all {len(paths)} paths up"

    def _require(self, volume_id: str, volume_path: str) -> StagedVolume:
        state = self.staged(volume_id)
        if state is None:
            raise NotFound(f"volume {volume_id} is not staged on this node")
        if not volume_path or not self.host.exists(volume_path):
            raise NotFound(f"volume path {volume_path!r} does not exist")
        return state
