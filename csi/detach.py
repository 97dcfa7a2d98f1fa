"""Detach a staged volume from this node, in os-brick's careful order.

1. **Guards** (stop at the first failure): unmount the staging path, flush the device's
   buffers, flush (remove) the multipath map. Nothing below is safe while the file system is
   mounted or the map is open, and nothing is torn down yet when one of these fails, so the
   error is raised at once and the CO's retry starts over.
2. **Teardown** (every step runs, failures are collected): delete each SCSI disk of the map,
   log out of each (target, portal) and delete its node record (only after its logout
   worked), flush the map again if multipathd re-created it from a path removed late, forget
   the WWID. One :class:`~nearpath.core.errors.CleanupFailed` then lists every failed step;
   the caller keeps its stage record, so a retry repeats what is left (each step is idempotent).
"""

from __future__ import annotations

import logging
import posixpath
from collections.abc import Sequence
from functools import partial

from nearpath.core.errors import Cleanup, CommandError
from nearpath.csi.host import Host
from nearpath.csi.iscsi import Iscsiadm, by_path_link
from nearpath.csi.mount import Mounter
from nearpath.csi.multipath import Multipath

log = logging.getLogger("nearpath.csi.node")

FLUSH_ATTEMPTS = 3


class Detacher:
    def __init__(self, host: Host, iscsi: Iscsiadm, multipath: Multipath, mounter: Mounter) -> None:
        self.host = host
        self.iscsi = iscsi
        self.multipath = multipath
        self.mounter = mounter

    def detach(
        self,
        volume_id: str,
        staging_path: str,
        *,
        wwid: str,
        lun: int,
        block: bool,
        paths: Sequence[tuple[str, str]],
    ) -> None:
        """Undo a stage of ``volume_id`` (``paths``: the (target IQN, portal) pairs it logged in to)."""
        device = f"/dev/mapper/{wwid}"
        if not block and self.mounter.mount_at(staging_path) is not None:
            self.mounter.unmount(staging_path)
        disks = set(self.map_paths(wwid))
        for iqn, portal in paths:
            link = by_path_link(portal, iqn, lun)
            if self.host.exists(link):
                disks.add(posixpath.basename(self.host.realpath(link)))
        if self.host.is_block_device(device):
            self.mounter.flush_buffers(device)
            self.flush_map(wwid)
        cleanup = Cleanup(f"unstage of volume {volume_id}")
        for disk in sorted(disks):
            if self.host.exists(f"/sys/block/{disk}"):
                path = f"/sys/block/{disk}/device/delete"
                cleanup.step(f"delete SCSI disk {disk}", partial(self.host.write_file, path, "1"))
        for iqn, portal in paths:
            if cleanup.step(f"log out of {iqn} at {portal}", partial(self.iscsi.logout, iqn, portal)):
                cleanup.step(
                    f"delete the node record of {iqn} at {portal}", partial(self.iscsi.delete_record, iqn, portal)
                )
        if self.host.exists(device):
            cleanup.step(f"flush multipath map {wwid} again", partial(self.flush_map, wwid))
        cleanup.step(f"forget WWID {wwid}", partial(self.multipath.forget_wwid, wwid))
        for step, err in cleanup.failures:
            log.warning("unstage step failed", extra={"volume": volume_id, "step": step, "error": str(err)})
        cleanup.raise_failures()

    def map_paths(self, wwid: str) -> list[str]:
        """The SCSI disks under the multipath map of ``wwid`` (none when there is no map)."""
        mapper = f"/dev/mapper/{wwid}"
        if not self.host.exists(mapper):
            return []
        dm = posixpath.basename(self.host.realpath(mapper))
        return self.host.list_dir(f"/sys/block/{dm}/slaves")

    def flush_map(self, wwid: str) -> None:
        for attempt in range(1, FLUSH_ATTEMPTS + 1):
            try:
                self.multipath.flush_map(wwid)
                return
            except CommandError:
                if attempt == FLUSH_ATTEMPTS:
                    raise
                self.host.sleep(1.0)
