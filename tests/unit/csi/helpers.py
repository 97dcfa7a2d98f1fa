"""Helpers for the CSI unit tests: a fake gRPC context and request builders (fixtures: conftest.py)."""

from __future__ import annotations

from dataclasses import dataclass

import grpc
import pytest

from nearpath.csi.proto import csi_pb2


class Aborted(Exception):
    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(f"{code.name}: {message}")
        self.code = code
        self.message = message


@dataclass
class FakeContext:
    remaining: float | None = None

    def abort(self, code: grpc.StatusCode, message: str) -> None:
        raise Aborted(code, message)

    def time_remaining(self) -> float | None:
        return self.remaining


def mount_cap(
    fs: str = "", mode: int = csi_pb2.VolumeCapability.AccessMode.SINGLE_NODE_WRITER
) -> csi_pb2.VolumeCapability:
    return csi_pb2.VolumeCapability(
        mount=csi_pb2.VolumeCapability.MountVolume(fs_type=fs),
        access_mode=csi_pb2.VolumeCapability.AccessMode(mode=mode),
    )


def block_cap() -> csi_pb2.VolumeCapability:
    return csi_pb2.VolumeCapability(
        block=csi_pb2.VolumeCapability.BlockVolume(),
        access_mode=csi_pb2.VolumeCapability.AccessMode(mode=csi_pb2.VolumeCapability.AccessMode.SINGLE_NODE_WRITER),
    )


def code_of(excinfo: pytest.ExceptionInfo[Aborted]) -> grpc.StatusCode:
    return excinfo.value.code
