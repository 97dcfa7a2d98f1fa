"""Where the sandbox's simulated initiator finds targets: a :class:`Fabric` answers discovery and logins.

:class:`StaticFabric` takes the targets up front (unit tests); :class:`KubeFabric` reads them from
the VolumeGroup statuses in the API server (csi-sanity runs). Test double, see :mod:`nearpath.csi.sandbox`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol

from nearpath.core.api import parse_volume_group
from nearpath.core.errors import InvalidSpec
from nearpath.core.kube import KubeApi


@dataclass(frozen=True)
class Lun:
    lun: int
    wwid: str
    size_bytes: int


class Fabric(Protocol):
    def offered(self, portal: str, initiator: str) -> list[str]:
        """Target IQNs a SendTargets discovery at ``portal`` returns to ``initiator``."""
        ...

    def luns(self, iqn: str, initiator: str) -> list[Lun]: ...


@dataclass
class StaticFabric:
    """Targets given up front: ``targets[iqn] = (portals, luns, allowed initiators)``."""

    targets: dict[str, tuple[list[str], list[Lun], set[str]]] = field(default_factory=dict)

    def offered(self, portal: str, initiator: str) -> list[str]:
        return [
            iqn for iqn, (portals, _l, allowed) in self.targets.items() if portal in portals and initiator in allowed
        ]

    def luns(self, iqn: str, initiator: str) -> list[Lun]:
        portals_luns_allowed = self.targets.get(iqn)
        if portals_luns_allowed is None or initiator not in portals_luns_allowed[2]:
            return []
        return list(portals_luns_allowed[1])


@dataclass
class KubeFabric:
    """Targets as the VolumeGroup statuses report them (ready targets, access list from the spec)."""

    kube: KubeApi

    def _groups(self) -> Iterable[tuple[object, list[str], list[Lun], set[str], str]]:
        for obj in self.kube.list_volume_groups(None):
            try:
                vg = parse_volume_group(obj)
            except InvalidSpec:
                continue
            disks = {d.name: d for d in vg.status.disks}
            luns = [
                Lun(ident.lun, disks[ident.name].wwid if ident.name in disks else ident.wwid, ident.size_bytes)
                for ident in vg.disk_identities()
            ]
            for target in vg.status.targets:
                if target.ready and target.iqn:
                    yield vg, list(target.portals), luns, set(vg.spec.access.initiators or []), target.iqn

    def offered(self, portal: str, initiator: str) -> list[str]:
        return [iqn for _vg, portals, _l, allowed, iqn in self._groups() if portal in portals and initiator in allowed]

    def luns(self, iqn: str, initiator: str) -> list[Lun]:
        for _vg, _p, luns, allowed, target_iqn in self._groups():
            if target_iqn == iqn and initiator in allowed:
                return luns
        return []


def kube_fabric(kube: KubeApi) -> KubeFabric:
    return KubeFabric(kube)
