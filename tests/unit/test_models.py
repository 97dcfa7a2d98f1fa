"""The VolumeGroup models: valid samples parse, invalid ones are rejected naming the field."""

from __future__ import annotations

import pytest

from nearpath.core import identifiers as ids
from nearpath.core.api import (
    AluaState,
    BackingType,
    TargetAssignment,
    VolumeGroup,
    VolumeGroupStatus,
    parse_volume_group,
)
from nearpath.core.crd import openapi_schema
from nearpath.core.errors import InvalidSpec
from nearpath.core.quantity import format_bytes, parse_bytes
from tests.samples import INVALID_SAMPLES, VALID_SAMPLES, Sample

pytestmark = pytest.mark.unit


def test_there_are_at_least_fifteen_invalid_samples() -> None:
    assert len(INVALID_SAMPLES) >= 15
    assert len({s.id for s in INVALID_SAMPLES}) == len(INVALID_SAMPLES)


@pytest.mark.parametrize("sample", VALID_SAMPLES, ids=lambda s: s.id)
def test_valid_sample_parses(sample: Sample) -> None:
    vg = parse_volume_group(sample.manifest)
    assert vg.metadata.name == sample.manifest["metadata"]["name"]
    assert [d.name for d in vg.spec.disks] == [d["name"] for d in sample.manifest["spec"]["disks"]]


@pytest.mark.parametrize("sample", INVALID_SAMPLES, ids=lambda s: s.id)
def test_invalid_sample_is_rejected_naming_the_field(sample: Sample) -> None:
    with pytest.raises(InvalidSpec) as caught:
        parse_volume_group(sample.manifest)
    paths = [path for path, _ in caught.value.field_errors]
    assert any(sample.field in path for path in paths), (sample.field, caught.value.field_errors)
    assert sample.field in str(caught.value)


def test_replicated_is_reserved_with_a_clear_message() -> None:
    sample = next(s for s in INVALID_SAMPLES if s.id == "replicated-reserved")
    with pytest.raises(InvalidSpec, match="not yet supported"):
        parse_volume_group(sample.manifest)


def test_defaults_are_filled() -> None:
    vg = parse_volume_group(VALID_SAMPLES[0].manifest)
    assert vg.spec.backing.type is BackingType.LOCAL
    assert vg.spec.failover.alua_mode.value == "implicit"
    assert vg.spec.failover.auto_failback is True
    assert vg.spec.failover.non_optimized_state is AluaState.ACTIVE_NON_OPTIMIZED
    assert vg.spec.capacity.warning_threshold_percent == 80


def test_wire_form_round_trips() -> None:
    for sample in VALID_SAMPLES:
        vg = parse_volume_group(sample.manifest)
        again = parse_volume_group(vg.to_wire())
        assert again == vg
        assert "preferredNode" in str(vg.to_wire()) or vg.spec.placement.preferred_node is None


def test_sizes_are_quantity_strings() -> None:
    vg = parse_volume_group(VALID_SAMPLES[1].manifest)
    assert vg.spec.disks[0].size_bytes == 20 * 1024**3


def _with_uid(sample: Sample, uid: str) -> VolumeGroup:
    manifest = {**sample.manifest, "metadata": {**sample.manifest["metadata"], "uid": uid}}
    return parse_volume_group(manifest)


def test_disk_identities_are_stable_and_unique_in_naa_digits() -> None:
    vg = _with_uid(VALID_SAMPLES[0], "3f1c2d4e-0000-4000-8000-000000000001")
    first = vg.disk_identities()
    assert first == vg.disk_identities()
    assert [d.lun for d in first] == [0, 1]
    heads = {d.serial[: ids.SERIAL_NAA_DIGITS] for d in first}
    assert len(heads) == len(first)
    for disk in first:
        assert disk.wwid == "36001405" + disk.serial[:25]
    other = _with_uid(VALID_SAMPLES[0], "3f1c2d4e-0000-4000-8000-000000000002")
    assert {d.serial for d in other.disk_identities()}.isdisjoint({d.serial for d in first})


def test_serial_override_is_kept() -> None:
    vg = _with_uid(VALID_SAMPLES[1], "u")
    root = vg.disk_identities()[0]
    assert root.serial == "a1b2c3d4e5f60718293a4b5c6d7e8f90"
    assert root.wwid == "36001405a1b2c3d4e5f60718293a4b5c6"


@pytest.mark.parametrize(
    ("text", "expected"),
    [("1Mi", 1 << 20), ("10Gi", 10 << 30), ("1.5Gi", 3 << 29), ("500M", 500_000_000), ("7", 7), (42, 42)],
)
def test_quantities(text: str | int, expected: int) -> None:
    assert parse_bytes(text) == expected


def test_format_bytes() -> None:
    assert format_bytes(10 << 30) == "10Gi"
    assert format_bytes(1536) == "1536"  # not a whole Ki multiple of a larger unit: 1.5Ki
    assert format_bytes(3 << 19) == "1536Ki"
    assert format_bytes(1000) == "1000"


def test_target_iqn_scheme() -> None:
    assert ids.target_iqn("default", "db", "node-a") == "iqn.2025-11.io.nearpath:default:db:node-a"
    long_node = "n" * 60 + "." + "x" * 60 + "." + "y" * 60
    iqn = ids.target_iqn("a" * 63, "b" * 63, long_node)
    assert len(iqn) <= ids.MAX_IQN_LENGTH
    assert ids.is_initiator_name(iqn)
    assert iqn != ids.target_iqn("a" * 63, "b" * 63, long_node + "z")
    assert ids.is_nearpath_iqn(iqn)
    assert not ids.is_nearpath_iqn("iqn.2003-01.org.linux-iscsi.host:sn.1234")
    assert ids.is_node_iqn(iqn, long_node) and not ids.is_node_iqn(iqn, long_node + "z")


def test_node_iqn_names_its_node_only() -> None:
    iqn = ids.target_iqn("default", "db", "node-a")
    assert ids.is_node_iqn(iqn, "node-a")
    assert not ids.is_node_iqn(iqn, "node-b")
    assert not ids.is_node_iqn(iqn, "a")  # a suffix of the node's name is another node
    assert not ids.is_node_iqn("iqn.2003-01.org.linux-iscsi.host:sn.1234:node-a", "node-a")


def test_backstore_names_are_owned_and_bounded() -> None:
    name = ids.backstore_name("default", "db", "data")
    assert name == "np_default_db_data"
    assert ids.is_nearpath_backstore(name)
    long_name = ids.backstore_name("a" * 63, "b" * 63, "c" * 63)
    assert len(long_name) <= 64 and ids.is_nearpath_backstore(long_name)


@pytest.mark.parametrize(
    "name",
    [
        "iqn.1994-05.com.redhat:abc",
        "iqn.2004-10.com.ubuntu:01:a1b2",
        "eui.02004567A425678D",
        "naa.60014055f2b9e8a1",
    ],
)
def test_initiator_names_accepted(name: str) -> None:
    assert ids.is_initiator_name(name)


@pytest.mark.parametrize(
    "name",
    ["iqn.bad", "iqn.2004-13.com.x", "IQN.2004-10.com.x", "eui.1234", "naa.xyz", "", "iqn.2004-10.com.x: y"],
)
def test_initiator_names_rejected(name: str) -> None:
    assert not ids.is_initiator_name(name)


def test_device_paths_per_backing() -> None:
    local = parse_volume_group(VALID_SAMPLES[0].manifest)
    assert local.device_path("data", "node-a") == "/var/lib/nearpath/volumes/default/pg-data/data.img"
    shared = parse_volume_group(VALID_SAMPLES[1].manifest)
    assert shared.device_path("root", "node-a") == "/dev/disk/by-id/virtio-shared0"
    assert shared.device_path("root", "node-c") == "/dev/sdb"
    assert shared.device_path("scratch", "node-c") == "/srv/nearpath/scratch.img"


def test_placement_allows_nodes() -> None:
    shared = parse_volume_group(VALID_SAMPLES[1].manifest)
    assert shared.allows_node("node-a", {}) and not shared.allows_node("node-x", {})
    external = parse_volume_group(VALID_SAMPLES[2].manifest)
    assert external.allows_node("any", {"nearpath.io/san": "true"})
    assert not external.allows_node("any", {})


def test_target_applied_requires_state_generation_and_port_group() -> None:
    status = VolumeGroupStatus.model_validate(
        {
            "assignments": [{"node": "a", "aluaState": "active-optimized", "portGroupId": 2}],
            "targets": [
                {"node": "a", "aluaState": "active-optimized", "portGroupId": 2, "ready": True, "observedGeneration": 2}
            ],
        }
    )
    assert status.target_applied("a", 2)
    assert status.target_applied("a", 1)  # a later generation applies the earlier one too
    assert not status.target_applied("a", 3)  # the agent reports an older generation
    assert not status.target_applied("b", 1)  # no assignment, no report
    moving = TargetAssignment(node="a", alua_state=AluaState.ACTIVE_NON_OPTIMIZED, port_group_id=2)
    assert not status.target_applied("a", 2, moving)  # not the state about to be assigned
    renumbered = status.targets[0].model_copy(update={"port_group_id": 7})
    assert not renumbered.reports_applied(status.assignments[0], 2)
    not_ready = status.targets[0].model_copy(update={"ready": False})
    assert not not_ready.reports_applied(status.assignments[0], 2)


def test_status_list_map_keys_are_the_crds() -> None:
    status = openapi_schema()["properties"]["status"]["properties"]
    declared = {
        name: prop["x-kubernetes-list-map-keys"][0]
        for name, prop in status.items()
        if prop.get("x-kubernetes-list-type") == "map"
    }
    assert declared and VolumeGroupStatus.list_map_keys() == declared
