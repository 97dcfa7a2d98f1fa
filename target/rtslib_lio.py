"""The LIO edge on the running kernel: :class:`RtslibLio` implements :class:`~nearpath.target.lio.LioEdge`
with rtslib-fb (imported lazily, on first use: only the agent on a node needs configfs and root).

Every rtslib failure becomes a :class:`~nearpath.target.lio.LioError` naming the object and the
operation; a missing object is ``NotFound``; no configfs or no rtslib is ``Unavailable``.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from nearpath.core.chap import ChapCredentials
from nearpath.core.errors import FailedPrecondition, NearpathError, NotFound, Unavailable
from nearpath.target.lio import (
    MANAGED_ATTRIBUTES,
    TPG_ATTRIBUTES,
    AclState,
    AluaGroupState,
    BackstoreState,
    DiscoveryAuthState,
    LioError,
    LunState,
    LunStats,
    SessionState,
    TargetState,
)
from nearpath.target.model import TPG_TAG, DesiredBackstore, Portal

log = logging.getLogger("nearpath.target.lio")

CONFIGFS_TARGET = Path("/sys/kernel/config/target")


def _read_int(path: Path) -> int:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 0


class RtslibLio:
    """:class:`LioEdge` on the running kernel through rtslib-fb (needs root and configfs)."""

    def __init__(self) -> None:
        self._rtslib: Any = None
        self._root: Any = None

    # plumbing ----------------------------------------------------------------------------
    @property
    def rts(self) -> Any:
        if self._rtslib is None:
            try:
                import rtslib_fb  # noqa: PLC0415 (only the node agent needs configfs)
            except ImportError as exc:
                raise Unavailable(f"rtslib-fb is not installed: {exc}") from exc
            self._rtslib = rtslib_fb
        return self._rtslib

    @property
    def root(self) -> Any:
        if self._root is None:
            try:
                self._root = self.rts.RTSRoot()
            except Exception as exc:
                raise Unavailable(f"LIO configfs unavailable (target_core_mod loaded? root?): {exc}") from exc
        return self._root

    def _call(self, what: str, func: Any, *args: Any) -> Any:
        try:
            return func(*args)
        except NearpathError:
            raise
        except Exception as exc:
            raise LioError(f"{what}: {exc}") from exc

    def _so(self, name: str) -> Any:
        for so in self.root.storage_objects:
            if so.name == name:
                return so
        raise NotFound(f"backstore {name} not found")

    def _tpg(self, iqn: str) -> Any:
        try:
            target = self.rts.Target(self.rts.FabricModule("iscsi"), iqn, mode="lookup")
            return self.rts.TPG(target, TPG_TAG, mode="lookup")
        except self.rts.RTSLibNotInCFS as exc:
            raise NotFound(f"target {iqn} (TPG {TPG_TAG}) not found") from exc

    def _lun(self, iqn: str, lun: int) -> Any:
        for candidate in self._tpg(iqn).luns:
            if candidate.lun == lun:
                return candidate
        raise NotFound(f"LUN {lun} of {iqn} not found")

    def _acl(self, iqn: str, initiator: str) -> Any:
        try:
            return self.rts.NodeACL(self._tpg(iqn), initiator, mode="lookup")
        except self.rts.RTSLibNotInCFS as exc:
            raise NotFound(f"ACL {initiator} of {iqn} not found") from exc

    # edge --------------------------------------------------------------------------------
    def prepare(self, dbroot: str = "") -> str:
        root = self.root
        dbroot_file = CONFIGFS_TARGET / "dbroot"
        if dbroot and dbroot_file.exists() and dbroot_file.read_text().strip() != dbroot:
            try:
                Path(dbroot).mkdir(parents=True, exist_ok=True)
                dbroot_file.write_text(dbroot + "\n")
            except OSError as exc:  # the kernel refuses once devices are registered
                log.warning("could not set LIO dbroot", extra={"dbroot": dbroot, "error": str(exc)})
        actual = dbroot_file.read_text().strip() if dbroot_file.exists() else str(getattr(root, "dbroot", ""))
        actual = actual or "/var/target"
        try:
            Path(actual, "pr").mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise FailedPrecondition(f"cannot create {actual}/pr (PERSISTENT RESERVE needs it): {exc}") from exc
        self.rts.FabricModule("iscsi")._check_self()  # loads iscsi_target_mod
        return actual

    def list_backstores(self) -> list[BackstoreState]:
        out = []
        for so in self.root.storage_objects:
            try:
                attributes = {}
                for key in MANAGED_ATTRIBUTES:
                    try:
                        attributes[key] = str(so.get_attribute(key))
                    except Exception:  # noqa: S112 (attribute absent on this kernel/backend)
                        continue
                groups = {}
                for group in so.alua_tpgs:
                    if group.name == "default_tg_pt_gp":
                        continue
                    groups[group.name] = AluaGroupState(
                        group.name, int(group.tg_pt_gp_id), int(group.alua_access_state), int(group.alua_access_type)
                    )
                size = 0
                try:
                    size = int(so.size)
                except Exception:
                    size = 0
                out.append(
                    BackstoreState(
                        name=so.name,
                        kind=so.plugin,
                        path=so.udev_path or "",
                        size_bytes=size,
                        serial=so.wwn or "",
                        attributes=attributes,
                        alua_groups=groups,
                    )
                )
            except self.rts.RTSLibNotInCFS:  # deleted while listing
                continue
        return out

    def list_targets(self) -> list[TargetState]:
        out = []
        for target in self.root.targets:
            if target.fabric_module.name != "iscsi":
                continue
            tpgs = {tpg.tag: tpg for tpg in target.tpgs}
            tpg = tpgs.get(TPG_TAG)
            if tpg is None:
                out.append(TargetState(iqn=target.wwn, has_tpg=False))
                continue
            portals = frozenset(Portal(np.ip_address.strip("[]"), int(np.port)) for np in tpg.network_portals)
            attributes = {key: str(tpg.get_attribute(key)) for key in TPG_ATTRIBUTES}
            luns = {}
            for lun in tpg.luns:
                luns[lun.lun] = LunState(lun.lun, lun.storage_object.name, lun.alua_tg_pt_gp_name or "")
            acls = {}
            for acl in tpg.node_acls:
                mapped = {m.mapped_lun: m.tpg_lun.lun for m in acl.mapped_luns}
                chap = ChapCredentials(
                    acl.chap_userid or "",
                    acl.chap_password or "",
                    acl.chap_mutual_userid or "",
                    acl.chap_mutual_password or "",
                )
                acls[acl.node_wwn] = AclState(acl.node_wwn, mapped, chap, _session(acl))
            out.append(
                TargetState(
                    iqn=target.wwn,
                    has_tpg=True,
                    enabled=bool(tpg.enable),
                    portals=portals,
                    attributes=attributes,
                    luns=luns,
                    acls=acls,
                )
            )
        return out

    def get_discovery_auth(self) -> DiscoveryAuthState:
        fabric = self.rts.FabricModule("iscsi")
        chap = ChapCredentials(
            fabric.discovery_userid or "",
            fabric.discovery_password or "",
            fabric.discovery_mutual_userid or "",
            fabric.discovery_mutual_password or "",
        )
        return DiscoveryAuthState(bool(fabric.discovery_enable_auth), chap)

    def read_lun_stats(self) -> list[LunStats]:
        out = []
        iscsi = CONFIGFS_TARGET / "iscsi"
        for lun_dir in sorted(iscsi.glob(f"iqn.*/tpgt_{TPG_TAG}/lun/lun_*")):
            stats = lun_dir / "statistics" / "scsi_tgt_port"
            backstore = ""
            for entry in lun_dir.iterdir():
                if entry.is_symlink():
                    backstore = os.path.basename(os.readlink(entry))
            out.append(
                LunStats(
                    iqn=lun_dir.parents[2].name,
                    lun=int(lun_dir.name.removeprefix("lun_")),
                    backstore=backstore,
                    commands=_read_int(stats / "in_cmds"),
                    read_bytes=_read_int(stats / "read_mbytes") << 20,
                    write_bytes=_read_int(stats / "write_mbytes") << 20,
                )
            )
        return out

    def create_backstore(self, spec: DesiredBackstore) -> None:
        what = f"create {spec.kind} backstore {spec.name} on {spec.path}"
        if spec.kind == "block":
            self._call(what, self.rts.BlockStorageObject, spec.name, spec.path, spec.serial)
        else:
            self._call(
                what,
                lambda: self.rts.FileIOStorageObject(spec.name, dev=spec.path, size=spec.size_bytes, wwn=spec.serial),
            )

    def delete_backstore(self, name: str) -> None:
        """Refused while a LUN uses it: rtslib's delete would silently remove those LUNs first."""
        so = self._so(name)
        users = [f"LUN {lun.lun} of {lun.parent_tpg.parent_target.wwn}" for lun in so.attached_luns]
        if users:
            raise LioError(f"delete backstore {name}: still used by {', '.join(users)}")
        self._call(f"delete backstore {name}", so.delete)

    def set_backstore_attribute(self, name: str, key: str, value: str) -> None:
        self._call(f"set {key}={value} on backstore {name}", self._so(name).set_attribute, key, value)

    def create_alua_group(self, backstore: str, name: str, group_id: int) -> None:
        so = self._so(backstore)
        self._call(
            f"create ALUA group {name} ({group_id}) on {backstore}", self.rts.ALUATargetPortGroup, so, name, group_id
        )

    def set_alua_group(self, backstore: str, name: str, state_code: int, access_type: int) -> None:
        group = self._call(
            f"look up ALUA group {name} on {backstore}", self.rts.ALUATargetPortGroup, self._so(backstore), name
        )

        def apply() -> None:
            if int(group.alua_access_type) != access_type:
                group.alua_access_type = access_type
            if int(group.alua_access_state) != state_code:
                group.alua_access_state = state_code

        self._call(f"set ALUA group {name} on {backstore} to state {state_code}", apply)

    def delete_alua_group(self, backstore: str, name: str) -> None:
        group = self._call(
            f"look up ALUA group {name} on {backstore}", self.rts.ALUATargetPortGroup, self._so(backstore), name
        )
        self._call(f"delete ALUA group {name} on {backstore}", group.delete)

    def create_target(self, iqn: str) -> None:
        def create() -> None:
            target = self.rts.Target(self.rts.FabricModule("iscsi"), iqn, mode="any")
            tpg = self.rts.TPG(target, TPG_TAG, mode="any")
            tpg.enable = False

        self._call(f"create target {iqn}", create)

    def delete_target(self, iqn: str) -> None:
        def delete() -> None:
            target = self.rts.Target(self.rts.FabricModule("iscsi"), iqn, mode="lookup")
            for tpg in target.tpgs:
                tpg.enable = False  # refuse new I/O before the LUNs disappear
            target.delete()

        self._call(f"delete target {iqn}", delete)

    def set_tpg_enabled(self, iqn: str, enabled: bool) -> None:
        tpg = self._tpg(iqn)
        self._call(f"{'enable' if enabled else 'disable'} TPG of {iqn}", setattr, tpg, "enable", enabled)

    def set_tpg_attribute(self, iqn: str, key: str, value: str) -> None:
        self._call(f"set {key}={value} on TPG of {iqn}", self._tpg(iqn).set_attribute, key, value)

    def create_lun(self, iqn: str, lun: int, backstore: str) -> None:
        self._call(f"create LUN {lun} of {iqn}", self.rts.LUN, self._tpg(iqn), lun, self._so(backstore))

    def delete_lun(self, iqn: str, lun: int) -> None:
        """Refused while an ACL maps it: rtslib's delete would silently unmap it first."""
        target_lun = self._lun(iqn, lun)
        mapped = [m.parent_nodeacl.node_wwn for m in target_lun.mapped_luns]
        if mapped:
            raise LioError(f"delete LUN {lun} of {iqn}: still mapped to {', '.join(sorted(mapped))}")
        self._call(f"delete LUN {lun} of {iqn}", target_lun.delete)

    def set_lun_alua_group(self, iqn: str, lun: int, group: str) -> None:
        self._call(
            f"put LUN {lun} of {iqn} in ALUA group {group}", setattr, self._lun(iqn, lun), "alua_tg_pt_gp_name", group
        )

    def create_portal(self, iqn: str, portal: Portal) -> None:
        self._call(
            f"create portal {portal} on {iqn}", self.rts.NetworkPortal, self._tpg(iqn), portal.ip, portal.port, "create"
        )

    def delete_portal(self, iqn: str, portal: Portal) -> None:
        def delete() -> None:
            self.rts.NetworkPortal(self._tpg(iqn), portal.ip, portal.port, "lookup").delete()

        self._call(f"delete portal {portal} of {iqn}", delete)

    def create_acl(self, iqn: str, initiator: str) -> None:
        self._call(f"create ACL {initiator} on {iqn}", self.rts.NodeACL, self._tpg(iqn), initiator, "create")

    def delete_acl(self, iqn: str, initiator: str) -> None:
        self._call(f"delete ACL {initiator} of {iqn}", self._acl(iqn, initiator).delete)

    def set_acl_chap(self, iqn: str, initiator: str, chap: ChapCredentials) -> None:
        acl = self._acl(iqn, initiator)

        def apply() -> None:
            # In place: the kernel checks these at the next login; live sessions stay.
            acl.chap_userid = chap.username
            acl.chap_password = chap.password
            acl.chap_mutual_userid = chap.mutual_username
            acl.chap_mutual_password = chap.mutual_password

        self._call(f"set CHAP of ACL {initiator} on {iqn}", apply)

    def create_mapped_lun(self, iqn: str, initiator: str, mapped_lun: int, tpg_lun: int) -> None:
        self._call(
            f"map LUN {tpg_lun} of {iqn} to {initiator}",
            self.rts.MappedLUN,
            self._acl(iqn, initiator),
            mapped_lun,
            self._lun(iqn, tpg_lun),
        )

    def delete_mapped_lun(self, iqn: str, initiator: str, mapped_lun: int) -> None:
        def delete() -> None:
            self.rts.MappedLUN(self._acl(iqn, initiator), mapped_lun).delete()

        self._call(f"unmap LUN {mapped_lun} of {iqn} from {initiator}", delete)

    def set_discovery_auth(self, enabled: bool, chap: ChapCredentials) -> None:
        fabric = self.rts.FabricModule("iscsi")

        def apply() -> None:
            fabric.discovery_userid = chap.username
            fabric.discovery_password = chap.password
            fabric.discovery_mutual_userid = chap.mutual_username
            fabric.discovery_mutual_password = chap.mutual_password
            fabric.discovery_enable_auth = enabled

        self._call("set iSCSI discovery authentication", apply)


def _session(acl: Any) -> SessionState | None:
    try:
        info = acl.session
    except Exception:
        return None
    if not info:
        return None
    addresses = tuple(str(c.get("address", "")) for c in info.get("connections", []) if c.get("address"))
    return SessionState(acl.node_wwn, int(info.get("id", 0)), str(info.get("state", "")), addresses)
