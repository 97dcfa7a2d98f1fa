# ruff: noqa: N802  (gRPC method names are fixed by the CSI specification)
"""CSI Identity service."""

from __future__ import annotations

from typing import Any

import grpc
from google.protobuf import wrappers_pb2  # type: ignore[import-untyped]

from nearpath.core.contract import DRIVER_NAME
from nearpath.csi.grpc_errors import grpc_errors
from nearpath.csi.proto import csi_pb2, csi_pb2_grpc

VERSION = "0.1.0"
Service = csi_pb2.PluginCapability.Service


class IdentityService(csi_pb2_grpc.IdentityServicer):  # type: ignore[misc]
    def __init__(self, *, controller: bool, ready: Any = None) -> None:
        self.controller = controller
        self.ready = ready

    @grpc_errors
    def GetPluginInfo(
        self, request: csi_pb2.GetPluginInfoRequest, context: grpc.ServicerContext
    ) -> csi_pb2.GetPluginInfoResponse:
        return csi_pb2.GetPluginInfoResponse(name=DRIVER_NAME, vendor_version=VERSION)

    @grpc_errors
    def GetPluginCapabilities(
        self, request: csi_pb2.GetPluginCapabilitiesRequest, context: grpc.ServicerContext
    ) -> csi_pb2.GetPluginCapabilitiesResponse:
        caps = [
            csi_pb2.PluginCapability(
                service=csi_pb2.PluginCapability.Service(type=Service.VOLUME_ACCESSIBILITY_CONSTRAINTS)
            ),
            csi_pb2.PluginCapability(
                volume_expansion=csi_pb2.PluginCapability.VolumeExpansion(
                    type=csi_pb2.PluginCapability.VolumeExpansion.ONLINE
                )
            ),
        ]
        if self.controller:
            caps.insert(0, csi_pb2.PluginCapability(service=Service(type=Service.CONTROLLER_SERVICE)))
        return csi_pb2.GetPluginCapabilitiesResponse(capabilities=caps)

    @grpc_errors
    def Probe(self, request: csi_pb2.ProbeRequest, context: grpc.ServicerContext) -> csi_pb2.ProbeResponse:
        ready = True if self.ready is None else bool(self.ready())
        return csi_pb2.ProbeResponse(ready=wrappers_pb2.BoolValue(value=ready))
