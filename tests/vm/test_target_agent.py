"""VM tier: the nearpath target agent (not a script) serves a VolumeGroup to a real initiator.

vm1 runs ``nearpath target`` in file mode (the same reconcile code as in Kubernetes) with a
VolumeGroup of two disks: the shared virtio disk (iblock) and a sparse file (fileio), mutual
CHAP and discovery authentication, allowed initiator vm2. vm2 logs in with open-iscsi:

- without CHAP, with a wrong password, and with a wrong target (mutual) secret: refused;
- an initiator not in the ACLs (vm1's own) with correct credentials: refused;
- correct mutual CHAP: logged in, both LUNs visible, ALUA state as assigned;
- a writer runs on LUN 0 while the agent is SIGKILLed and restarted, the CHAP Secret rotated
  and the ALUA state changed: no I/O error, no gap over 1 s, the session survives; afterwards
  the old password is refused and the new one accepted.
"""

from __future__ import annotations

import time

import pytest

from tests.fixtures.vm import ClusterFactory
from tests.vm import storage
from tests.vm import target_helpers as th

pytestmark = pytest.mark.vm

SECRET = {
    "username": "np-initiator",
    "password": "initsecret0001",
    "mutualUsername": "np-target",
    "mutualPassword": "tgtsecret00001",
}
ROTATED = {**SECRET, "password": "initsecret0002"}
FILE_DISK = "/var/lib/nearpath/volumes/default/vg1/scratch.img"  # files live in their group's own directory
MAX_GAP_SECONDS = 1.0


def test_agent_serves_with_chap_acls_and_survives_restart(vm_cluster: ClusterFactory) -> None:
    cluster = vm_cluster(2, shared_disk_mb=256, services=("iscsid",))
    vm1, vm2 = cluster[0], cluster[1]
    assert cluster.shared_disk is not None
    vm1.run(f"mkdir -p $(dirname {FILE_DISK}) && truncate -s 64M {FILE_DISK}", check=True)
    disks = [
        {"name": "root", "size": "128Mi", "source": {"path": cluster.shared_disk.guest_path}},
        {"name": "scratch", "size": "64Mi", "source": {"path": FILE_DISK}},
    ]

    def group(secret_ok: bool = True, state: str = "active-optimized") -> dict[str, object]:
        return th.volume_group(
            "vg1", vm1.name, disks, [vm2.iqn], chap_secret="vg1-chap", mutual=True, discovery_auth=True, state=state
        )

    th.write_inputs(vm1, [group()], {"default/vg1-chap": SECRET})
    res, status = th.run_agent_once(vm1)
    print("AGENT_ONCE_STDERR\n" + res.stderr[-3000:])
    assert res.rc == 0, res
    entry = status[0]["target"]
    assert entry["ready"] is True and entry["aluaState"] == "active-optimized", entry
    iqn, portal = entry["iqn"], f"{vm1.address}:3260"
    assert iqn == f"iqn.2025-11.io.nearpath:default:vg1:{vm1.name}"
    print("TARGETCLI_LS\n" + vm1.run("targetcli ls 2>/dev/null", timeout=120).stdout)

    # A second run changes nothing (idempotent against the real kernel).
    res2 = vm1.run(th.agent_argv(vm1, once=True), timeout=300, env=th.AGENT_ENV)
    assert res2.rc == 0 and "lio change" not in res2.stderr, res2.stderr[-2000:]

    # Discovery authentication.
    st = vm2.run(f"iscsiadm -m discovery -t st -p {portal}", timeout=90)
    assert not st.ok, f"discovery without CHAP was accepted: {st.stdout}"
    db = f"iscsiadm -m discoverydb -t st -p {portal}"
    auth = "-o update -n discovery.sendtargets.auth"
    disc = (
        f"{db} -o new >/dev/null; {db} {auth}.authmethod -v CHAP && "
        f"{db} {auth}.username -v {SECRET['username']} && {db} {auth}.password -v {SECRET['password']} && "
        f"{db} --discover"
    )
    st = vm2.run(disc, timeout=90)
    assert st.ok and iqn in st.stdout, st

    # Refusals.
    refused = {
        "no CHAP": th.node_login(vm2, iqn, portal),
        "wrong password": th.node_login(vm2, iqn, portal, user=SECRET["username"], password="wrongsecret999"),
        "wrong target secret (mutual)": th.node_login(
            vm2,
            iqn,
            portal,
            user=SECRET["username"],
            password=SECRET["password"],
            mutual_user=SECRET["mutualUsername"],
            mutual_password="notthetarget01",
        ),
        "unlisted initiator": th.node_login(
            vm1,
            iqn,
            portal,
            user=SECRET["username"],
            password=SECRET["password"],
            mutual_user=SECRET["mutualUsername"],
            mutual_password=SECRET["mutualPassword"],
        ),
    }
    for case, result in refused.items():
        print(f"REFUSED[{case}] rc={result.rc} {result.stderr.strip().splitlines()[-1:]}")
        assert not result.ok, f"{case}: login was accepted"
    assert th.session_ids(vm1) == []

    # Mutual CHAP login.
    ok = th.node_login(
        vm2, iqn, portal, user=SECRET["username"], password=SECRET["password"],
        mutual_user=SECRET["mutualUsername"], mutual_password=SECRET["mutualPassword"],
    )  # fmt: skip
    assert ok.ok, ok
    sessions_before = th.session_ids(vm2)
    assert len(sessions_before) == 1
    dev0 = th.lun_device(vm2, iqn, portal, 0)
    th.lun_device(vm2, iqn, portal, 1)
    rtpg = vm2.run(f"sg_rtpg -d {dev0}", timeout=60, check=True).stdout
    print("RTPG\n" + rtpg)
    assert "active/optimized" in rtpg.lower()
    assert "0x2" in rtpg

    # Agent loop; writer; SIGKILL + restart; rotation; ALUA change.
    log = "/tmp/writer-agent-restart.log"
    agent_pid = th.start_agent(vm1, resync_seconds=2)
    th.wait_status(vm1, "vg1", lambda e: e["ready"] and e["sessions"] == 1)
    writer = storage.start_writer(vm2, dev0, log, seconds=600)
    storage.wait_for_writes(vm2, log, minimum=50)
    t_start = vm2.uptime()
    th.kill_agent(vm1, agent_pid, "KILL")
    agent_pid = th.start_agent(vm1, resync_seconds=2)
    time.sleep(8)
    th.write_inputs(vm1, [group()], {"default/vg1-chap": ROTATED})
    deadline = time.monotonic() + 120
    while "set CHAP" not in vm1.run(f"cat {th.AGENT_LOG}", timeout=30).stdout:
        assert time.monotonic() < deadline, "agent never applied the rotated Secret"
        time.sleep(1)
    th.write_inputs(vm1, [group(state="active-non-optimized")], {"default/vg1-chap": ROTATED})
    th.wait_status(vm1, "vg1", lambda e: e.get("aluaState") == "active-non-optimized" and e["ready"])
    th.kill_agent(vm1, agent_pid, "TERM")
    time.sleep(5)
    agent_pid = th.start_agent(vm1, resync_seconds=2)
    th.wait_status(vm1, "vg1", lambda e: e["ready"] and e["sessions"] == 1, timeout=180)
    time.sleep(3)
    storage.stop_writer(vm2, writer)
    stats = storage.analyse_writer_log(vm2.read_file(log).decode(), since=t_start)
    print(
        f"AGENT_RESTART_GAP_SECONDS={stats.max_gap:.3f} writes={stats.n_ok} after={stats.ok_after} errors={stats.n_err}"
    )
    agent_log = vm1.run(f"cat {th.AGENT_LOG}", timeout=30).stdout
    print("AGENT_LOG_TAIL\n" + "\n".join(agent_log.splitlines()[-30:]))
    assert stats.n_err == 0, stats
    assert stats.done and stats.ok_after > 0, stats
    assert stats.max_gap < MAX_GAP_SECONDS, stats
    assert th.session_ids(vm2) == sessions_before, "the session was dropped"
    for secret in (SECRET["password"], ROTATED["password"], SECRET["mutualPassword"]):
        assert secret not in agent_log
    rtpg = vm2.run(f"sg_rtpg -d {dev0}", timeout=60, check=True).stdout
    assert "(active/non optimized)" in rtpg.lower(), rtpg

    # After rotation: the old password is refused, the new one accepted.
    th.kill_agent(vm1, agent_pid, "TERM")
    th.logout(vm2, iqn)
    old = th.node_login(
        vm2, iqn, portal, user=SECRET["username"], password=SECRET["password"],
        mutual_user=SECRET["mutualUsername"], mutual_password=SECRET["mutualPassword"],
    )  # fmt: skip
    assert not old.ok, "old password still accepted after rotation"
    new = th.node_login(
        vm2, iqn, portal, user=ROTATED["username"], password=ROTATED["password"],
        mutual_user=ROTATED["mutualUsername"], mutual_password=ROTATED["mutualPassword"],
    )  # fmt: skip
    assert new.ok, new
    th.logout(vm2, iqn)

    # Removing the group from the file tears the target down; foreign objects stay.
    vm1.run(
        "python3 -c \"import rtslib_fb as r; r.FileIOStorageObject('foreign0', '/tmp/foreign.img', 1048576)\"",
        timeout=120,
        check=True,
    )
    th.write_inputs(vm1, [], {})
    res3, _ = th.run_agent_once(vm1)
    assert res3.rc == 0, res3
    left = vm1.run("ls /sys/kernel/config/target/iscsi/; ls /sys/kernel/config/target/core/*/", timeout=60).stdout
    assert "nearpath" not in left and "np_default" not in left, left
    assert "foreign0" in left, left
