"""The gRPC server on a unix socket."""

from __future__ import annotations

import contextlib
import os
from concurrent import futures

import grpc

from nearpath.core.errors import InvalidArgument
from nearpath.csi.controller import ControllerService
from nearpath.csi.identity import IdentityService
from nearpath.csi.node import NodeService
from nearpath.csi.proto import csi_pb2_grpc


def socket_path(endpoint: str) -> str:
    path = endpoint.removeprefix("unix://") if endpoint.startswith("unix://") else endpoint
    if not path.startswith("/"):
        raise InvalidArgument(f"endpoint {endpoint!r}: expected unix:///absolute/path")
    return path


def build_server(
    endpoint: str,
    identity: IdentityService,
    controller: ControllerService | None,
    node: NodeService | None,
    max_workers: int = 8,
    interceptors: tuple[grpc.ServerInterceptor, ...] = (),
) -> grpc.Server:
    path = socket_path(endpoint)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)  # a stale socket of a previous run
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="csi"), interceptors=interceptors
    )
    csi_pb2_grpc.add_IdentityServicer_to_server(identity, server)
    if controller is not None:
        csi_pb2_grpc.add_ControllerServicer_to_server(controller, server)
    if node is not None:
        csi_pb2_grpc.add_NodeServicer_to_server(node, server)
    server.add_insecure_port(f"unix://{path}")
    return server
