"""What the agent relies on from LIO, as one scripted sequence any :class:`LioEdge` can run.

:func:`run` drives an edge through the operations the converger uses (backstore, attributes,
ALUA group and state, target, LUN, portal, ACL with CHAP, mapped LUN, TPG attribute, enable),
the refusals it relies on (a LUN on a missing backstore, deleting a backstore a LUN uses,
duplicates), an ordered teardown and discovery authentication, and returns what happened:
each step's outcome (``ok`` or ``refused (<error class>)``) and normalised read-backs of nearpath's objects.

``tests/unit/test_lio_contract.py`` runs it on :class:`~nearpath.target.fake_lio.FakeLio`;
``tests/vm/test_lio_contract.py`` runs it on :class:`~nearpath.target.rtslib_lio.RtslibLio` in a
VM booting Debian's kernel (``python3 -m tests.support.lio_contract --portal IP --directory D``
prints the result as JSON) and requires the fake's result to be identical. No pytest import:
the module runs inside the guest.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from nearpath.core.chap import NO_CHAP, ChapCredentials
from nearpath.core.contract import backstore_name, is_nearpath_backstore, is_nearpath_iqn, port_group_name, target_iqn
from nearpath.core.errors import NearpathError
from nearpath.target.desired import BackstoreKind, DesiredBackstore, Portal
from nearpath.target.lio import LioEdge

NAMESPACE, GROUP, NODE = "default", "lio-contract", "node-a"
INITIATOR = "iqn.2024-01.io.nearpath.test:contract"
SERIAL = "0123456789abcdef0123456789abcdef"
SIZE = 64 << 20
CHAP = ChapCredentials("contract-user", "contract-pass01", "contract-tgt", "contract-tgtpw1")
IMPLICIT = 1  # ALUA access type: implicit
ACTIVE_OPTIMIZED, ACTIVE_NON_OPTIMIZED = 0, 1
KEPT_ATTRIBUTES = ("emulate_caw", "authentication")


def backstore_spec(directory: str) -> DesiredBackstore:
    return DesiredBackstore(
        name=backstore_name(NAMESPACE, GROUP, "d0"),
        kind=BackstoreKind.FILEIO,
        path=f"{directory.rstrip('/')}/d0.img",
        size_bytes=SIZE,
        serial=SERIAL,
        attributes=(),
    )


def observe(edge: LioEdge) -> dict[str, Any]:
    """nearpath's objects as plain data (other objects and unmanaged attributes left out)."""
    backstores = {
        b.name: {
            "kind": b.kind,
            "path": b.path,
            "size_bytes": b.size_bytes,
            "serial": b.serial,
            "attributes": {k: v for k, v in b.attributes.items() if k in KEPT_ATTRIBUTES},
            "alua_groups": {
                g.name: [g.group_id, g.state_code, g.access_type]
                for g in b.alua_groups.values()
                if g.name != "default_tg_pt_gp"
            },
        }
        for b in edge.list_backstores()
        if is_nearpath_backstore(b.name)
    }
    targets = {
        t.iqn: {
            "has_tpg": t.has_tpg,
            "enabled": t.enabled,
            "portals": sorted(str(p) for p in t.portals),
            "attributes": {k: v for k, v in t.attributes.items() if k in KEPT_ATTRIBUTES},
            "luns": {str(n): [lun.backstore, lun.alua_group] for n, lun in sorted(t.luns.items())},
            "acls": {
                i: {"mapped": {str(m): tl for m, tl in sorted(a.mapped_luns.items())}, "chap": asdict(a.chap)}
                for i, a in sorted(t.acls.items())
            },
        }
        for t in edge.list_targets()
        if is_nearpath_iqn(t.iqn)
    }
    auth = edge.get_discovery_auth()
    return {"backstores": backstores, "targets": targets, "discovery": [auth.enabled, asdict(auth.chap)]}


def run(edge: LioEdge, portal_ip: str, directory: str) -> dict[str, Any]:
    """The whole sequence; the result is JSON-serialisable and the same for equal edges."""
    spec = backstore_spec(directory)
    store, iqn, group = spec.name, target_iqn(NAMESPACE, GROUP, NODE), port_group_name(2)
    portal = Portal(portal_ip)
    steps: list[list[str]] = []
    snapshots: dict[str, Any] = {}

    def step(name: str, op: Callable[[], None]) -> None:
        try:
            op()
            steps.append([name, "ok"])
        except NearpathError as err:  # LioError: refused; NotFound: a lookup found nothing
            steps.append([name, f"refused ({type(err).__name__})"])

    step("create backstore", lambda: edge.create_backstore(spec))
    step("create the same backstore again", lambda: edge.create_backstore(spec))
    step("set emulate_caw", lambda: edge.set_backstore_attribute(store, "emulate_caw", "0"))
    step("create ALUA group", lambda: edge.create_alua_group(store, group, 2))
    step("set ALUA state", lambda: edge.set_alua_group(store, group, ACTIVE_NON_OPTIMIZED, IMPLICIT))
    step("create target", lambda: edge.create_target(iqn))
    step("create the same target again", lambda: edge.create_target(iqn))
    step("LUN on a missing backstore", lambda: edge.create_lun(iqn, 1, backstore_name(NAMESPACE, GROUP, "none")))
    step("create LUN", lambda: edge.create_lun(iqn, 0, store))
    step("put LUN in the ALUA group", lambda: edge.set_lun_alua_group(iqn, 0, group))
    step("create portal", lambda: edge.create_portal(iqn, portal))
    step("create ACL", lambda: edge.create_acl(iqn, INITIATOR))
    step("set ACL CHAP", lambda: edge.set_acl_chap(iqn, INITIATOR, CHAP))
    step("map LUN", lambda: edge.create_mapped_lun(iqn, INITIATOR, 0, 0))
    step("require authentication", lambda: edge.set_tpg_attribute(iqn, "authentication", "1"))
    step("enable TPG", lambda: edge.set_tpg_enabled(iqn, True))
    step("promote", lambda: edge.set_alua_group(store, group, ACTIVE_OPTIMIZED, IMPLICIT))
    snapshots["served"] = observe(edge)
    step("delete a backstore a LUN uses", lambda: edge.delete_backstore(store))
    step("disable TPG", lambda: edge.set_tpg_enabled(iqn, False))
    step("delete a LUN an ACL maps", lambda: edge.delete_lun(iqn, 0))
    step("unmap LUN", lambda: edge.delete_mapped_lun(iqn, INITIATOR, 0))
    step("delete ACL", lambda: edge.delete_acl(iqn, INITIATOR))
    step("delete portal", lambda: edge.delete_portal(iqn, portal))
    step("delete LUN", lambda: edge.delete_lun(iqn, 0))
    step("delete target", lambda: edge.delete_target(iqn))
    step("delete ALUA group", lambda: edge.delete_alua_group(store, group))
    step("delete backstore", lambda: edge.delete_backstore(store))
    snapshots["removed"] = observe(edge)
    step("discovery CHAP on", lambda: edge.set_discovery_auth(True, CHAP))
    snapshots["discovery on"] = observe(edge)["discovery"]
    step("discovery CHAP off", lambda: edge.set_discovery_auth(False, NO_CHAP))
    snapshots["discovery off"] = observe(edge)["discovery"]
    return {"steps": steps, "snapshots": snapshots}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description="Run the LIO contract sequence on the kernel's LIO (rtslib).")
    parser.add_argument("--portal", required=True, help="an address of this host for the portal")
    parser.add_argument("--directory", required=True, help="where the fileio backing file is created")
    args = parser.parse_args(argv)
    from nearpath.target.rtslib_lio import RtslibLio  # noqa: PLC0415 (rtslib exists only where LIO runs)

    edge = RtslibLio()
    edge.prepare()
    os.makedirs(args.directory, exist_ok=True)
    with open(backstore_spec(args.directory).path, "wb") as backing:
        backing.truncate(SIZE)
    json.dump(run(edge, args.portal, args.directory), sys.stdout, indent=1, sort_keys=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
