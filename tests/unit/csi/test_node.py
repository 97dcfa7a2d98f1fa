"""Node plugin: exact host command sequences (recording FakeRunner), idempotency, error codes,
and whole life cycles over the simulated host (sandbox)."""

from __future__ import annotations

from collections.abc import Callable

import grpc
import pytest

from nearpath.core.chap import ChapCredentials
from nearpath.core.errors import CleanupFailed, CommandFailed, ErrorKind, FailedPrecondition
from nearpath.core.fake_runner import FakeRunner
from nearpath.csi.mount import MountEntry
from nearpath.csi.node import NodeService
from nearpath.csi.node_ops import NodeConfig, NodeOps, StageRequest
from nearpath.csi.node_records import NodeRecords
from nearpath.csi.proto import csi_pb2
from nearpath.csi.publish_context import PublishContext, TargetPortal
from nearpath.csi.sandbox import Lun, MemoryHost, Sandbox, StaticFabric
from nearpath.csi.volume_ids import filesystem_uuid
from tests.unit.csi.helpers import Aborted, FakeContext, block_cap, mount_cap

pytestmark = pytest.mark.unit

WWID = "36001405" + "a" * 25
LOCAL_IQN = "iqn.2025-11.io.nearpath:ns:vg:node-a"
REMOTE_IQN = "iqn.2025-11.io.nearpath:ns:vg:node-b"
LOCAL_PORTAL, REMOTE_PORTAL = "10.0.0.1:3260", "10.0.0.2:3260"
ME = "iqn.1993-08.org.debian:01:node-a"
VID = "ns/vg"
PUBLISH = PublishContext(
    targets=(TargetPortal("node-b", REMOTE_IQN, (REMOTE_PORTAL,)), TargetPortal("node-a", LOCAL_IQN, (LOCAL_PORTAL,))),
    lun=0,
    wwid=WWID,
    size_bytes=1 << 30,
)
CONFIG = NodeConfig(node_name="node-a")
FS_UUID = filesystem_uuid(WWID)
ISCSI_SETTINGS = [
    ("node.startup", "manual"),
    ("node.session.timeo.replacement_timeout", "0"),
    ("node.conn[0].timeo.noop_out_interval", "1"),
    ("node.conn[0].timeo.noop_out_timeout", "1"),
]


def seeded_host() -> MemoryHost:
    """A host where udev already made the by-path links, the disks and the multipath map."""
    host = MemoryHost()
    host.write_file("/etc/iscsi/initiatorname.iscsi", f"## DO NOT EDIT\nInitiatorName={ME}\n")
    for portal, iqn, dev in ((LOCAL_PORTAL, LOCAL_IQN, "sdb"), (REMOTE_PORTAL, REMOTE_IQN, "sdc")):
        host.add_block_device(f"/dev/{dev}", 1 << 30)
        host.add_link(f"/dev/disk/by-path/ip-{portal}-iscsi-{iqn}-lun-0", f"../../{dev}")
        host.make_dir(f"/sys/block/{dev}/device")
    return host


def add_map(host: MemoryHost) -> None:
    host.add_block_device("/dev/dm-3", 1 << 30)
    host.add_link(f"/dev/mapper/{WWID}", "../dm-3")
    for dev in ("sdb", "sdc"):
        host.files[f"/sys/block/dm-3/slaves/{dev}"] = ""


def remove_map(host: MemoryHost) -> None:
    host.links.pop(f"/dev/mapper/{WWID}", None)
    host.block_devices.pop("/dev/dm-3", None)
    for dev in ("sdb", "sdc"):
        host.files.pop(f"/sys/block/dm-3/slaves/{dev}", None)


def record_file(iqn: str, portal: str) -> str:
    ip, _, port = portal.rpartition(":")
    return f"/etc/iscsi/nodes/{iqn}/{ip},{port}"  # what open-iscsi 2.1.8's ``-o new`` writes (tpgt -1)


def _creates_record(host: MemoryHost, iqn: str, portal: str) -> Callable[[list[str]], tuple[int, str, str]]:
    """``iscsiadm -o new`` writes the node record file (open-iscsi's idbm layout)."""

    def respond(_argv: list[str]) -> tuple[int, str, str]:
        text = f"# BEGIN RECORD 2.1.8\nnode.name = {iqn}\nnode.session.auth.authmethod = None\n# END RECORD\n"
        host.write_file(record_file(iqn, portal), text, mode=0o600)
        return 0, "New iSCSI node added\n", ""

    return respond


def scripted_runner(host: MemoryHost) -> FakeRunner:
    runner = FakeRunner(strict=True)
    runner.on("iscsiadm", "-m", "session", rc=21)
    runner.on(
        "iscsiadm", "-m", "discovery", "-t", "sendtargets", "-p", LOCAL_PORTAL, stdout=f"{LOCAL_PORTAL},1 {LOCAL_IQN}\n"
    )
    runner.on(
        "iscsiadm",
        "-m",
        "discovery",
        "-t",
        "sendtargets",
        "-p",
        REMOTE_PORTAL,
        stdout=f"{REMOTE_PORTAL},1 {REMOTE_IQN}\n",
    )
    for iqn, portal in ((LOCAL_IQN, LOCAL_PORTAL), (REMOTE_IQN, REMOTE_PORTAL)):
        runner.on(
            "iscsiadm", "-m", "node", "-T", iqn, "-p", portal, "-o", "new", respond=_creates_record(host, iqn, portal)
        )
        runner.on("iscsiadm", "-m", "node", "-T", iqn, "-p", portal, "--login")
        runner.on("iscsiadm", "-m", "node", "-T", iqn, "-p", portal, "-o")
        runner.on("iscsiadm", "-m", "node", "-T", iqn, "-p", portal, "--logout")
        runner.on("iscsiadm", "-m", "node", "-T", iqn, "-p", portal, rc=21)
    runner.on("multipathd", "reconfigure")

    def add_map_now(_argv: list[str]) -> tuple[int, str, str]:
        add_map(host)
        return 0, "ok\n", ""

    runner.on("multipath", "-a", WWID)
    runner.on("multipathd", "add", "path", "sdb", respond=add_map_now)
    runner.on("multipathd", "add", "path", "sdc")
    runner.on("blkid", rc=2)
    runner.on("mkfs.ext4")
    runner.on("mount")
    runner.on("umount")
    runner.on("blockdev", "--flushbufs")
    runner.on("blockdev", "--getsize64", stdout=f"{2 << 30}\n")

    def flush_map_now(_argv: list[str]) -> tuple[int, str, str]:
        remove_map(host)  # as the real `multipath -f`: the map is gone
        return 0, "", ""

    runner.on("multipath", "-f", WWID, respond=flush_map_now)
    runner.on("multipath", "-w", WWID)
    runner.on("multipathd", "resize", "map", WWID)
    runner.on("resize2fs")
    return runner


def login_commands(iqn: str, portal: str) -> list[list[str]]:
    node = ["iscsiadm", "-m", "node", "-T", iqn, "-p", portal]
    return [
        ["iscsiadm", "-m", "discovery", "-t", "sendtargets", "-p", portal, "-o", "nonpersistent"],
        node,
        [*node, "-o", "new"],
        *[[*node, "-o", "update", "-n", k, "-v", v] for k, v in ISCSI_SETTINGS],
        [*node, "-o", "update", "-n", "node.session.auth.authmethod", "-v", "None"],
        [*node, "--login"],
    ]


def test_stage_command_sequence_local_path_first() -> None:
    host = seeded_host()
    runner = scripted_runner(host)
    ops = NodeOps(runner, host, CONFIG)
    ops.stage(StageRequest(VID, "/stage/vg", PUBLISH, fs_type="ext4"))
    assert runner.argvs() == [
        ["multipathd", "reconfigure"],
        ["iscsiadm", "-m", "session"],
        *login_commands(LOCAL_IQN, LOCAL_PORTAL),
        *login_commands(REMOTE_IQN, REMOTE_PORTAL),
        ["multipath", "-a", WWID],
        ["multipathd", "add", "path", "sdb"],
        ["multipathd", "add", "path", "sdc"],
        ["blkid", "-p", "-s", "TYPE", "-s", "PTTYPE", "-s", "UUID", "-o", "export", f"/dev/mapper/{WWID}"],
        ["mkfs.ext4", "-q", "-m", "0", "-U", FS_UUID, "-E", "nodiscard,lazy_itable_init=1", f"/dev/mapper/{WWID}"],
        ["mount", "-t", "ext4", f"/dev/mapper/{WWID}", "/stage/vg"],
    ]
    conf = host.read_file("/etc/multipath/conf.d/nearpath.conf") or ""
    for line in ("group_by_prio", "prio alua", 'hardware_handler "1 alua"', "failback immediate", "fast_io_fail_tmo 0"):
        assert line in conf
    assert all(c.timeout > 0 for c in runner.calls)


def test_chap_secrets_never_reach_argv_and_land_in_the_record_file() -> None:
    host = seeded_host()
    runner = scripted_runner(host)
    publish = PublishContext(targets=PUBLISH.targets[1:], lun=0, wwid=WWID, size_bytes=1 << 30, chap="mutual")
    chap = ChapCredentials("user", "s3cret-passw0rd", "tgt", "mutual-passw0rd")
    NodeOps(runner, host, CONFIG).stage(StageRequest(VID, "/stage/vg", publish, block=True, chap=chap))
    for call in runner.calls:
        assert not any(secret in arg for arg in call.argv for secret in ("s3cret-passw0rd", "mutual-passw0rd")), call
    path = record_file(LOCAL_IQN, LOCAL_PORTAL)
    lines = (host.read_file(path) or "").splitlines()
    assert lines[-1] == "# END RECORD"
    assert [line for line in lines if ".auth." in line] == [
        "node.session.auth.authmethod = CHAP",
        "node.session.auth.username = user",
        "node.session.auth.password = s3cret-passw0rd",
        "node.session.auth.username_in = tgt",
        "node.session.auth.password_in = mutual-passw0rd",
    ]
    assert host.modes[path] == 0o600
    node = ["iscsiadm", "-m", "node", "-T", LOCAL_IQN, "-p", LOCAL_PORTAL]
    assert runner.argvs().index([*node, "--login"]) > runner.argvs().index([*node, "-o", "new"])
    assert not runner.commands("blkid") and not runner.commands("mount")  # raw block: no file system


def test_chap_without_a_record_fails_instead_of_logging_in_without_it() -> None:
    host = seeded_host()
    runner = FakeRunner().on("iscsiadm", "-m", "discovery", stdout=f"{LOCAL_PORTAL},1 {LOCAL_IQN}\n")
    runner.on("iscsiadm")  # -o new "succeeds" but writes no record
    publish = PublishContext(targets=PUBLISH.targets[1:], lun=0, wwid=WWID, size_bytes=1 << 30, chap="normal")
    with pytest.raises(FailedPrecondition, match="no open-iscsi node record"):
        NodeOps(runner, host, CONFIG).stage(
            StageRequest(VID, "/stage/vg", publish, block=True, chap=ChapCredentials("user", "s3cret-passw0rd"))
        )
    assert not [a for a in runner.argvs() if "--login" in a]


def test_unstage_safe_order() -> None:
    host = seeded_host()
    runner = scripted_runner(host)
    ops = NodeOps(runner, host, CONFIG)
    ops.stage(StageRequest(VID, "/stage/vg", PUBLISH, fs_type="ext4"))
    host.mounts.append(MountEntry(f"/dev/mapper/{WWID}", "/stage/vg", "ext4", ("rw",), "/"))
    deleted: list[str] = []
    host.write_hooks["/device/delete"] = lambda path, _t: deleted.append(path)
    runner.calls.clear()
    ops.unstage(VID, "/stage/vg")
    assert deleted == ["/sys/block/sdb/device/delete", "/sys/block/sdc/device/delete"]
    assert runner.argvs() == [
        ["umount", "/stage/vg"],
        ["blockdev", "--flushbufs", f"/dev/mapper/{WWID}"],
        ["multipath", "-f", WWID],
        ["iscsiadm", "-m", "node", "-T", LOCAL_IQN, "-p", LOCAL_PORTAL, "--logout"],
        ["iscsiadm", "-m", "node", "-T", LOCAL_IQN, "-p", LOCAL_PORTAL, "-o", "delete"],
        ["iscsiadm", "-m", "node", "-T", REMOTE_IQN, "-p", REMOTE_PORTAL, "--logout"],
        ["iscsiadm", "-m", "node", "-T", REMOTE_IQN, "-p", REMOTE_PORTAL, "-o", "delete"],
        ["multipath", "-w", WWID],
    ]
    assert ops.staged(VID) is None


def test_unstage_deletes_scsi_disks_before_logout() -> None:
    box = sandbox_with_targets()
    ops = NodeOps(box.runner, box.host, CONFIG)
    ops.stage(StageRequest(VID, "/stage/vg", PUBLISH, block=True))
    order: list[str] = []
    box.host.write_hooks["/device/delete"] = lambda path, _t: order.append(path)
    original = box.runner.run

    def run(argv: list[str], **kw: object) -> object:
        if "--logout" in argv:
            order.append("logout")
        return original(argv, **kw)  # type: ignore[arg-type]

    box.runner.run = run  # type: ignore[method-assign,assignment]
    ops.unstage(VID, "/stage/vg")
    assert order[:2] == ["/sys/block/sda/device/delete", "/sys/block/sdb/device/delete"]
    assert order[2:] == ["logout", "logout"]


def staged_for_unstage() -> tuple[MemoryHost, NodeOps]:
    """A volume staged (mounted, map assembled) through the scripted runner."""
    host = seeded_host()
    ops = NodeOps(scripted_runner(host), host, CONFIG)
    ops.stage(StageRequest(VID, "/stage/vg", PUBLISH, fs_type="ext4"))
    host.mounts.append(MountEntry(f"/dev/mapper/{WWID}", "/stage/vg", "ext4", ("rw",), "/"))
    return host, ops


def unstage_runner(host: MemoryHost) -> FakeRunner:
    """The unstage commands, answering like the host (``multipath -f`` removes the map)."""
    runner = FakeRunner(strict=True)

    def flush_map_now(_argv: list[str]) -> tuple[int, str, str]:
        remove_map(host)
        return 0, "", ""

    runner.on("umount").on("blockdev", "--flushbufs").on("multipath", "-f", WWID, respond=flush_map_now)
    return runner


def test_unstage_runs_every_teardown_step_and_reports_all_failures() -> None:
    host, _ops = staged_for_unstage()
    runner = unstage_runner(host)
    local = ["iscsiadm", "-m", "node", "-T", LOCAL_IQN, "-p", LOCAL_PORTAL]
    remote = ["iscsiadm", "-m", "node", "-T", REMOTE_IQN, "-p", REMOTE_PORTAL]
    runner.on(*local, "--logout", rc=8, stderr="iscsiadm: Could not logout: connection timed out\n")
    runner.on(*remote, "--logout").on(*remote, "-o", "delete")
    runner.on("multipath", "-w", WWID, timeout=True)
    deleted: list[str] = []

    def delete_disk(path: str, _text: str) -> None:
        if "/sdb/" in path:
            raise OSError(16, "Device or resource busy", path)
        deleted.append(path)

    host.write_hooks["/device/delete"] = delete_disk
    ops = NodeOps(runner, host, CONFIG)
    with pytest.raises(CleanupFailed) as caught:
        ops.unstage(VID, "/stage/vg")
    err = caught.value
    assert [step for step, _e in err.failures] == [
        "delete SCSI disk sdb",
        f"log out of {LOCAL_IQN} at {LOCAL_PORTAL}",
        f"forget WWID {WWID}",
    ]
    assert err.kind is ErrorKind.INTERNAL  # mixed causes
    assert "3 step(s) failed" in err.message and "connection timed out" in err.message
    assert err.__cause__ is err.failures[0][1]
    assert deleted == ["/sys/block/sdc/device/delete"]  # the other disk went all the same
    assert runner.argvs() == [
        ["umount", "/stage/vg"],
        ["blockdev", "--flushbufs", f"/dev/mapper/{WWID}"],
        ["multipath", "-f", WWID],
        [*local, "--logout"],  # failed: its record stays (iscsiadm refuses to delete a record in use)
        [*remote, "--logout"],
        [*remote, "-o", "delete"],
        ["multipath", "-w", WWID],
    ]
    assert ops.staged(VID) is not None  # kept: a retry repeats what is left

    retry = FakeRunner(strict=True).on("umount").on("iscsiadm").on("multipath", "-w", WWID)
    host.write_hooks["/device/delete"] = lambda path, _t: deleted.append(path)
    NodeOps(retry, host, CONFIG).unstage(VID, "/stage/vg")
    assert [*local, "--logout"] in retry.argvs() and [*local, "-o", "delete"] in retry.argvs()
    assert ops.staged(VID) is None


def test_unstage_stops_at_once_while_the_volume_is_busy() -> None:
    host, ops = staged_for_unstage()
    runner = FakeRunner(strict=True).on("umount", rc=32, stderr="umount: /stage/vg: target is busy.\n")
    with pytest.raises(CommandFailed, match="target is busy"):
        NodeOps(runner, host, CONFIG).unstage(VID, "/stage/vg")
    assert runner.argvs() == [["umount", "/stage/vg"]]  # no flush, no logout under a mounted file system
    assert ops.staged(VID) is not None


def test_unstage_failures_reach_the_co_as_one_error() -> None:
    host, _ops = staged_for_unstage()
    runner = unstage_runner(host).on("iscsiadm", rc=8, stderr="iscsiadm: Could not logout\n").on("multipath", "-w")
    host.write_hooks["/device/delete"] = lambda _path, _text: None
    svc = NodeService(NodeOps(runner, host, CONFIG), "node-a", 16)
    request = csi_pb2.NodeUnstageVolumeRequest(volume_id=VID, staging_target_path="/stage/vg")
    with pytest.raises(Aborted) as caught:
        svc.NodeUnstageVolume(request, FakeContext())
    assert caught.value.code is grpc.StatusCode.INTERNAL
    message = caught.value.message
    assert "2 step(s) failed" in message and LOCAL_PORTAL in message and REMOTE_PORTAL in message


def test_expand_command_sequence() -> None:
    host = seeded_host()
    runner = scripted_runner(host)
    ops = NodeOps(runner, host, CONFIG)
    ops.stage(StageRequest(VID, "/stage/vg", PUBLISH, fs_type="ext4"))
    rescans: list[str] = []
    host.write_hooks["/device/rescan"] = lambda path, _t: rescans.append(path)
    runner.calls.clear()
    host.make_dir("/pods/x")
    assert ops.expand(VID, "/pods/x") == 2 << 30
    assert rescans == ["/sys/block/sdb/device/rescan", "/sys/block/sdc/device/rescan"]
    assert runner.argvs() == [
        ["multipathd", "resize", "map", WWID],
        ["resize2fs", f"/dev/mapper/{WWID}"],
        ["blockdev", "--getsize64", f"/dev/mapper/{WWID}"],
    ]


def test_stage_survives_one_unreachable_portal() -> None:
    host = seeded_host()
    runner = FakeRunner()
    runner.on("iscsiadm", "-m", "session", rc=21)
    runner.on(
        "iscsiadm", "-m", "discovery", "-t", "sendtargets", "-p", REMOTE_PORTAL, rc=4, stderr="connection refused"
    )
    runner.on(
        "iscsiadm", "-m", "discovery", "-t", "sendtargets", "-p", LOCAL_PORTAL, stdout=f"{LOCAL_PORTAL},1 {LOCAL_IQN}\n"
    )
    runner.on("iscsiadm", "-m", "node", "-T", LOCAL_IQN, "-p", LOCAL_PORTAL, "-o")
    runner.on("iscsiadm", "-m", "node", "-T", LOCAL_IQN, "-p", LOCAL_PORTAL, "--login")
    runner.on("iscsiadm", "-m", "node", "-T", LOCAL_IQN, "-p", LOCAL_PORTAL, rc=21)

    def add_map_now(_argv: list[str]) -> tuple[int, str, str]:
        add_map(host)
        return 0, "", ""

    runner.on("multipathd", "add", "path", "sdb", respond=add_map_now)
    state = NodeOps(runner, host, CONFIG).stage(StageRequest(VID, "/stage/vg", PUBLISH, block=True))
    assert state.paths == [(LOCAL_IQN, LOCAL_PORTAL)]


# ------------------------------------------------------------------ sandbox life cycles


def sandbox_with_targets(size: int = 1 << 30) -> Sandbox:
    fabric = StaticFabric(
        {
            LOCAL_IQN: ([LOCAL_PORTAL], [Lun(0, WWID, size)], {ME}),
            REMOTE_IQN: ([REMOTE_PORTAL], [Lun(0, WWID, size)], {ME}),
        }
    )
    return Sandbox(fabric, ME)


def node_service(box: Sandbox) -> NodeService:
    return NodeService(NodeOps(box.runner, box.host, CONFIG), "node-a", 16)


def stage_req(path: str = "/stage/vg", cap: csi_pb2.VolumeCapability | None = None) -> csi_pb2.NodeStageVolumeRequest:
    return csi_pb2.NodeStageVolumeRequest(
        volume_id=VID,
        staging_target_path=path,
        volume_capability=cap or mount_cap("xfs"),
        publish_context=PUBLISH.to_map(),
    )


def code(fn: object, req: object) -> grpc.StatusCode:
    with pytest.raises(Aborted) as excinfo:
        fn(req, FakeContext())  # type: ignore[operator]
    return excinfo.value.code


def test_node_info_reads_initiator_name_from_host() -> None:
    box = sandbox_with_targets()
    info = node_service(box).NodeGetInfo(csi_pb2.NodeGetInfoRequest(), FakeContext())
    assert info.node_id == f"node-a|{ME}"
    assert dict(info.accessible_topology.segments) == {"topology.nearpath.io/node": "node-a"}
    assert info.max_volumes_per_node == 16
    box.host.files.pop("/etc/iscsi/initiatorname.iscsi")
    assert code(node_service(box).NodeGetInfo, csi_pb2.NodeGetInfoRequest()) is grpc.StatusCode.FAILED_PRECONDITION


def test_full_life_cycle_leaves_nothing_behind_ten_times() -> None:
    box = sandbox_with_targets()
    svc = node_service(box)
    ctx = FakeContext()
    box.host.make_dir("/pods/p1")
    for _ in range(10):
        svc.NodeStageVolume(stage_req(), ctx)
        svc.NodeStageVolume(stage_req(), ctx)  # twice: OK
        pub = csi_pb2.NodePublishVolumeRequest(
            volume_id=VID,
            staging_target_path="/stage/vg",
            target_path="/pods/p1/mnt",
            volume_capability=mount_cap("xfs"),
        )
        svc.NodePublishVolume(pub, ctx)
        svc.NodePublishVolume(pub, ctx)
        stats = svc.NodeGetVolumeStats(
            csi_pb2.NodeGetVolumeStatsRequest(volume_id=VID, volume_path="/pods/p1/mnt"), ctx
        )
        assert stats.usage[0].total == 1 << 30
        assert not stats.volume_condition.abnormal, stats.volume_condition.message
        svc.NodeUnpublishVolume(csi_pb2.NodeUnpublishVolumeRequest(volume_id=VID, target_path="/pods/p1/mnt"), ctx)
        assert not box.host.exists("/pods/p1/mnt")
        svc.NodeUnstageVolume(csi_pb2.NodeUnstageVolumeRequest(volume_id=VID, staging_target_path="/stage/vg"), ctx)
        svc.NodeUnstageVolume(csi_pb2.NodeUnstageVolumeRequest(volume_id=VID, staging_target_path="/stage/vg"), ctx)
        assert box.runner.leftovers() == {
            "sessions": [],
            "records": [],
            "disks": [],
            "maps": [],
            "mounts": [],
            "wwids": [],
        }
    assert box.runner.commands("mkfs.xfs") == [["mkfs.xfs", "-q", "-K", "-m", f"uuid={FS_UUID}", f"/dev/mapper/{WWID}"]]


def test_stage_at_another_path_is_failed_precondition() -> None:
    box = sandbox_with_targets()
    svc = node_service(box)
    svc.NodeStageVolume(stage_req(), FakeContext())
    assert code(svc.NodeStageVolume, stage_req("/stage/other")) is grpc.StatusCode.FAILED_PRECONDITION


def test_raw_block_publish_and_read_only() -> None:
    box = sandbox_with_targets()
    svc = node_service(box)
    ctx = FakeContext()
    svc.NodeStageVolume(stage_req(cap=block_cap()), ctx)
    pub = csi_pb2.NodePublishVolumeRequest(
        volume_id=VID,
        staging_target_path="/stage/vg",
        target_path="/pods/p1/dev",
        volume_capability=block_cap(),
        readonly=True,
    )
    svc.NodePublishVolume(pub, ctx)
    mount = box.host.mounts[-1]
    assert (mount.source, mount.target, mount.read_only) == (f"/dev/mapper/{WWID}", "/pods/p1/dev", True)
    rw = csi_pb2.NodePublishVolumeRequest()
    rw.CopyFrom(pub)
    rw.readonly = False
    assert code(svc.NodePublishVolume, rw) is grpc.StatusCode.ALREADY_EXISTS


def test_volume_condition_abnormal_when_a_path_is_down() -> None:
    box = sandbox_with_targets()
    svc = node_service(box)
    ctx = FakeContext()
    svc.NodeStageVolume(stage_req(cap=block_cap()), ctx)
    box.runner.disks.pop("sdb")  # the remote path vanished
    box.host.make_dir("/pods/x")
    stats = svc.NodeGetVolumeStats(csi_pb2.NodeGetVolumeStatsRequest(volume_id=VID, volume_path="/pods/x"), ctx)
    assert stats.volume_condition.abnormal
    assert "1 of 2 paths up" in stats.volume_condition.message


def test_node_error_codes() -> None:
    box = sandbox_with_targets()
    svc = node_service(box)
    no_cap = csi_pb2.NodeStageVolumeRequest(volume_id=VID, staging_target_path="/s", publish_context=PUBLISH.to_map())
    assert code(svc.NodeStageVolume, no_cap) is grpc.StatusCode.INVALID_ARGUMENT
    no_ctx = csi_pb2.NodeStageVolumeRequest(volume_id=VID, staging_target_path="/s", volume_capability=mount_cap())
    assert code(svc.NodeStageVolume, no_ctx) is grpc.StatusCode.INVALID_ARGUMENT
    chap_needed = csi_pb2.NodeStageVolumeRequest()
    chap_needed.CopyFrom(stage_req())
    chap_needed.publish_context["chap"] = "session"
    assert code(svc.NodeStageVolume, chap_needed) is grpc.StatusCode.INVALID_ARGUMENT
    chap_needed.secrets["username"] = "user"  # no password: the one Secret parser refuses it
    assert code(svc.NodeStageVolume, chap_needed) is grpc.StatusCode.INVALID_ARGUMENT
    assert not box.runner.commands("iscsiadm")
    stats = csi_pb2.NodeGetVolumeStatsRequest(volume_id="ns/unknown", volume_path="some/path")
    assert code(svc.NodeGetVolumeStats, stats) is grpc.StatusCode.NOT_FOUND
    expand = csi_pb2.NodeExpandVolumeRequest(volume_id="ns/unknown", volume_path="some/path")
    assert code(svc.NodeExpandVolume, expand) is grpc.StatusCode.NOT_FOUND
    publish = csi_pb2.NodePublishVolumeRequest(
        volume_id=VID, staging_target_path="/stage/vg", target_path="/t", volume_capability=mount_cap()
    )
    assert code(svc.NodePublishVolume, publish) is grpc.StatusCode.FAILED_PRECONDITION  # not staged
    with svc.inflight.guard(VID):
        assert code(svc.NodeStageVolume, stage_req()) is grpc.StatusCode.ABORTED


def test_existing_other_filesystem_is_not_formatted() -> None:
    box = sandbox_with_targets()
    box.runner.filesystems[WWID] = "ext4"
    assert code(node_service(box).NodeStageVolume, stage_req()) is grpc.StatusCode.FAILED_PRECONDITION
    assert not box.runner.commands("mkfs.xfs")


def test_a_file_system_nearpath_did_not_make_for_this_volume_is_never_mounted() -> None:
    """C3: a reused device still carrying the previous tenant's file system (same type)."""
    box = sandbox_with_targets()
    box.runner.filesystems[WWID] = "xfs 0b5c8e9e-1111-4222-8333-944455556666"
    assert code(node_service(box).NodeStageVolume, stage_req()) is grpc.StatusCode.FAILED_PRECONDITION
    assert not box.runner.commands("mkfs.xfs") and not box.runner.commands("mount")
    box.runner.filesystems[WWID] = f"xfs {FS_UUID}"  # the volume's own file system (a restage)
    assert node_service(box).NodeStageVolume(stage_req(), FakeContext()) is not None
    assert box.runner.commands("mount")


def test_expand_grows_to_new_size_in_sandbox() -> None:
    box = sandbox_with_targets()
    svc = node_service(box)
    ctx = FakeContext()
    svc.NodeStageVolume(stage_req(), ctx)
    box.runner.fabric = sandbox_with_targets(2 << 30).runner.fabric
    box.host.make_dir("/pods/x")
    resp = svc.NodeExpandVolume(csi_pb2.NodeExpandVolumeRequest(volume_id=VID, volume_path="/pods/x"), ctx)
    assert resp.capacity_bytes == 2 << 30
    assert box.runner.commands("xfs_growfs") == [["xfs_growfs", "/stage/vg"]]


def test_chap_reaches_every_iface_record_of_a_discovered_portal() -> None:
    """Records made by discovery live in ``<ip>,<port>,<tpgt>/<iface>``; each one gets the credentials."""
    host = MemoryHost()
    base = f"/etc/iscsi/nodes/{LOCAL_IQN}/10.0.0.1,3260,1"
    for iface in ("default", "iface0"):
        host.write_file(f"{base}/{iface}", "# BEGIN RECORD 2.1.8\nnode.session.auth.password = old\n# END RECORD\n")
    host.write_file(f"/etc/iscsi/nodes/{LOCAL_IQN}/10.0.0.10,3260", "# another portal\n")
    NodeRecords(host).set_node_auth(LOCAL_IQN, LOCAL_PORTAL, ChapCredentials("user", "s3cret-passw0rd"))
    for iface in ("default", "iface0"):
        text = host.read_file(f"{base}/{iface}") or ""
        assert "node.session.auth.password = s3cret-passw0rd" in text and "= old" not in text
    assert host.read_file(f"/etc/iscsi/nodes/{LOCAL_IQN}/10.0.0.10,3260") == "# another portal\n"
