"""A simulated node host for tests: real node-plugin code over fake iSCSI, multipath and mounts.

:class:`Sandbox` pairs a :class:`~nearpath.csi.sandbox_host.MemoryHost` (files, /dev, /sys and the
mount table in memory; paths outside ``memory_prefixes`` go to the real file system, so
csi-sanity's target directories are real) with
:class:`~nearpath.csi.sandbox_runner.SimulatedRunner`, which answers ``iscsiadm``,
``multipath``/``multipathd``, ``mount``/``umount``, ``blkid``, ``mkfs.*``, ``blockdev`` and the
resize tools the way a Linux host would, keeping state between calls. What targets exist is
asked from a :class:`~nearpath.csi.sandbox_fabric.Fabric` (in sanity mode: the VolumeGroup
statuses in the API server).

Never used in production: ``--sandbox`` switches the node service to it for conformance runs.
"""

from __future__ import annotations

from collections.abc import Sequence

from nearpath.csi.sandbox_fabric import Fabric, KubeFabric, Lun, StaticFabric, kube_fabric
from nearpath.csi.sandbox_host import MemoryHost
from nearpath.csi.sandbox_runner import ScsiDisk, SimulatedRunner

__all__ = [
    "Fabric",
    "KubeFabric",
    "Lun",
    "MemoryHost",
    "Sandbox",
    "ScsiDisk",
    "SimulatedRunner",
    "StaticFabric",
    "kube_fabric",
]


class Sandbox:
    def __init__(
        self,
        fabric: Fabric,
        initiator_name: str,
        memory_prefixes: Sequence[str] = ("/",),
        initiator_file: str = "/etc/iscsi/initiatorname.iscsi",
    ) -> None:
        self.host = MemoryHost(memory_prefixes)
        self.runner = SimulatedRunner(self.host, fabric, initiator_name)
        self.host.write_file(initiator_file, f"## sandbox\nInitiatorName={initiator_name}\n")
