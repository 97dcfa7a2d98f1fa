"""Hostile StorageClass parameters: the CSI controller refuses disk paths outside the allow-list."""

from __future__ import annotations

import pytest

from nearpath.core.errors import InvalidArgument
from nearpath.csi.params import parse

pytestmark = pytest.mark.unit

HOSTILE = [
    ("local-directory-devtmpfs", {"backing": "local", "directory": "/dev"}, "outside the allowed prefixes"),
    ("local-directory-host-etc", {"backing": "local", "directory": "/etc"}, "outside the allowed prefixes"),
    ("local-directory-dot-dot", {"backing": "local", "directory": "/var/lib/nearpath/volumes/../../.."}, "'..'"),
    ("local-directory-newline", {"backing": "local", "directory": "/var/lib/nearpath/volumes/x\nfd"}, "control"),
    ("shared-raw-root-disk", {"backing": "shared", "devices": "/dev/sda"}, "outside the allowed prefixes"),
    ("shared-sibling-prefix", {"backing": "shared", "devices": "/dev/disk/by-idx/a"}, "outside the allowed prefixes"),
    ("shared-control-character", {"backing": "shared", "devices": "/dev/disk/by-id/\x1bx"}, "control"),
    ("shared-over-long", {"backing": "shared", "devices": "/dev/disk/by-id/" + "x" * 600}, "at most 512"),
]


@pytest.mark.parametrize(("case", "params", "reason"), HOSTILE, ids=[h[0] for h in HOSTILE])
def test_hostile_parameters_are_refused(case: str, params: dict[str, str], reason: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        parse(params, "local")
    name = "directory" if "directory" in params else "devices"
    assert f"parameter {name}:" in caught.value.message and reason in caught.value.message, (case, caught.value)


def test_allowed_paths_and_an_admin_allow_list() -> None:
    assert parse({"backing": "local", "directory": "/var/lib/nearpath/volumes/fast"}, "local").directory
    assert parse({"backing": "shared", "devices": "/dev/disk/by-id/a,/dev/disk/by-path/b"}, "local").devices
    with pytest.raises(InvalidArgument):
        parse({"backing": "shared", "devices": "/dev/loop20"}, "local")
    assert parse({"backing": "shared", "devices": "/dev/loop20"}, "local", ["/dev/loop20"]).devices == ("/dev/loop20",)
    with pytest.raises(InvalidArgument):
        parse({"backing": "shared", "devices": "/dev/loop200"}, "local", ["/dev/loop20"])
