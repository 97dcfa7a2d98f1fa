#!/usr/bin/python3
"""Export a block device through LIO iSCSI with one ALUA target port group.

Test-bed helper (the real nearpath agent replaces it later). Runs in the guest:
  python3 lio_export.py --dev /dev/disk/by-id/virtio-X --serial HEX --iqn IQN \
      --portal 192.168.100.1 --group-id 2 --state ao --acl INITIATOR_IQN [--acl ...]
Prints a JSON summary. The TPG is enabled last (never enabled without its LUN).
"""

from __future__ import annotations

import argparse
import json
import os

from rtslib_fb import (
    LUN,
    TPG,
    ALUATargetPortGroup,
    BlockStorageObject,
    FabricModule,
    MappedLUN,
    NetworkPortal,
    NodeACL,
    Target,
)

STATES = {"ao": 0, "ano": 1, "standby": 2, "unavailable": 3}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--dev", required=True)
    p.add_argument("--name", default="np0")
    p.add_argument("--serial", required=True)
    p.add_argument("--iqn", required=True)
    p.add_argument("--portal", required=True)
    p.add_argument("--group-id", type=int, required=True)
    p.add_argument("--state", choices=sorted(STATES), default="ao")
    p.add_argument("--acl", action="append", default=[])
    a = p.parse_args()
    if a.group_id < 2:
        raise SystemExit("ALUA group id 1 is default_tg_pt_gp: use >= 2")
    os.makedirs("/var/target/pr", exist_ok=True)

    so = BlockStorageObject(a.name, dev=os.path.realpath(a.dev), wwn=a.serial)
    group = ALUATargetPortGroup(so, f"np_tpg{a.group_id}", a.group_id)
    group.alua_access_type = 1  # implicit ALUA
    group.alua_access_state = STATES[a.state]
    target = Target(FabricModule("iscsi"), a.iqn)
    tpg = TPG(target, 1)
    tpg.set_attribute("authentication", "0")
    tpg.set_attribute("generate_node_acls", "0")
    tpg.set_attribute("demo_mode_write_protect", "0")
    NetworkPortal(tpg, a.portal, 3260)
    lun = LUN(tpg, 0, so)
    lun.alua_tg_pt_gp_name = group.name
    for initiator in a.acl:
        MappedLUN(NodeACL(tpg, initiator), 0, lun)
    tpg.enable = True
    print(
        json.dumps(
            {
                "wwn": so.wwn,
                "iqn": a.iqn,
                "group": group.name,
                "group_id": group.tg_pt_gp_id,
                "state": group.alua_access_state,
                "lun_group": lun.alua_tg_pt_gp_name,
            }
        )
    )


if __name__ == "__main__":
    main()
