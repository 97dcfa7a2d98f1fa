# ruff: noqa: N802  (gRPC method names are fixed by the CSI specification)
"""CSI Node service: request validation and translation onto :class:`~nearpath.csi.node_ops.NodeOps`."""

from __future__ import annotations

import grpc

from nearpath.core.chap import chap_from_secret
from nearpath.core.contract import TOPOLOGY_KEY
from nearpath.core.errors import InvalidArgument, NotFound
from nearpath.csi import capabilities
from nearpath.csi.grpc_errors import grpc_errors
from nearpath.csi.inflight import InFlight
from nearpath.csi.node_ops import NodeOps, StageRequest
from nearpath.csi.proto import csi_pb2, csi_pb2_grpc
from nearpath.csi.publish_context import PublishContext
from nearpath.csi.volume_ids import node_id

RPC = csi_pb2.NodeServiceCapability.RPC


def _require(value: str, what: str) -> str:
    if not value:
        raise InvalidArgument(f"{what} is required")
    return value


class NodeService(csi_pb2_grpc.NodeServicer):  # type: ignore[misc]
    def __init__(self, ops: NodeOps, node_name: str, max_volumes: int, inflight: InFlight | None = None) -> None:
        self.ops = ops
        self.node_name = node_name
        self.max_volumes = max_volumes
        self.inflight = inflight or InFlight()

    @grpc_errors
    def NodeGetInfo(
        self, request: csi_pb2.NodeGetInfoRequest, context: grpc.ServicerContext
    ) -> csi_pb2.NodeGetInfoResponse:
        return csi_pb2.NodeGetInfoResponse(
            node_id=node_id(self.node_name, self.ops.initiator_name()),
            max_volumes_per_node=self.max_volumes,
            accessible_topology=csi_pb2.Topology(segments={TOPOLOGY_KEY: self.node_name}),
        )

    @grpc_errors
    def NodeGetCapabilities(
        self, request: csi_pb2.NodeGetCapabilitiesRequest, context: grpc.ServicerContext
    ) -> csi_pb2.NodeGetCapabilitiesResponse:
        kinds = [RPC.STAGE_UNSTAGE_VOLUME, RPC.GET_VOLUME_STATS, RPC.EXPAND_VOLUME, RPC.VOLUME_CONDITION]
        return csi_pb2.NodeGetCapabilitiesResponse(
            capabilities=[csi_pb2.NodeServiceCapability(rpc=RPC(type=k)) for k in kinds]
        )

    @grpc_errors
    def NodeStageVolume(
        self, request: csi_pb2.NodeStageVolumeRequest, context: grpc.ServicerContext
    ) -> csi_pb2.NodeStageVolumeResponse:
        volume_id = _require(request.volume_id, "volume id")
        staging = _require(request.staging_target_path, "staging target path")
        cap = capabilities.check_one(request.volume_capability, present=request.HasField("volume_capability"))
        publish = PublishContext.from_map(dict(request.publish_context))
        block = cap.WhichOneof("access_type") == "block"
        fs_type = cap.mount.fs_type or request.volume_context.get("fsType", "") or "ext4"
        secrets = dict(request.secrets)
        chap = None
        if secrets and publish.chap != "none":
            chap = chap_from_secret(secrets, mutual=publish.chap == "mutual", source="node-stage secret")
        with self.inflight.guard(volume_id):
            self.ops.stage(
                StageRequest(
                    volume_id=volume_id,
                    staging_path=staging,
                    publish=publish,
                    block=block,
                    fs_type=fs_type,
                    mount_flags=tuple(cap.mount.mount_flags) if not block else (),
                    chap=chap,
                )
            )
        return csi_pb2.NodeStageVolumeResponse()

    @grpc_errors
    def NodeUnstageVolume(
        self, request: csi_pb2.NodeUnstageVolumeRequest, context: grpc.ServicerContext
    ) -> csi_pb2.NodeUnstageVolumeResponse:
        volume_id = _require(request.volume_id, "volume id")
        staging = _require(request.staging_target_path, "staging target path")
        with self.inflight.guard(volume_id):
            self.ops.unstage(volume_id, staging)
        return csi_pb2.NodeUnstageVolumeResponse()

    @grpc_errors
    def NodePublishVolume(
        self, request: csi_pb2.NodePublishVolumeRequest, context: grpc.ServicerContext
    ) -> csi_pb2.NodePublishVolumeResponse:
        volume_id = _require(request.volume_id, "volume id")
        target = _require(request.target_path, "target path")
        cap = capabilities.check_one(request.volume_capability, present=request.HasField("volume_capability"))
        staging = _require(request.staging_target_path, "staging target path")
        read_only = request.readonly or cap.access_mode.mode in capabilities.READ_ONLY_MODES
        with self.inflight.guard(volume_id):
            self.ops.publish(volume_id, staging, target, read_only, cap.WhichOneof("access_type") == "block")
        return csi_pb2.NodePublishVolumeResponse()

    @grpc_errors
    def NodeUnpublishVolume(
        self, request: csi_pb2.NodeUnpublishVolumeRequest, context: grpc.ServicerContext
    ) -> csi_pb2.NodeUnpublishVolumeResponse:
        volume_id = _require(request.volume_id, "volume id")
        target = _require(request.target_path, "target path")
        with self.inflight.guard(volume_id):
            self.ops.unpublish(target)
        return csi_pb2.NodeUnpublishVolumeResponse()

    @grpc_errors
    def NodeExpandVolume(
        self, request: csi_pb2.NodeExpandVolumeRequest, context: grpc.ServicerContext
    ) -> csi_pb2.NodeExpandVolumeResponse:
        volume_id = _require(request.volume_id, "volume id")
        path = _require(request.volume_path, "volume path")
        if self.ops.staged(volume_id) is None:
            raise NotFound(f"volume {volume_id} is not staged on this node")
        with self.inflight.guard(volume_id):
            size = self.ops.expand(volume_id, path)
        return csi_pb2.NodeExpandVolumeResponse(capacity_bytes=size)

    @grpc_errors
    def NodeGetVolumeStats(
        self, request: csi_pb2.NodeGetVolumeStatsRequest, context: grpc.ServicerContext
    ) -> csi_pb2.NodeGetVolumeStatsResponse:
        volume_id = _require(request.volume_id, "volume id")
        path = _require(request.volume_path, "volume path")
        usage = self.ops.usage(volume_id, path)
        usage_cls = csi_pb2.VolumeUsage
        if usage.block or usage.stats is None:
            items = [usage_cls(unit=usage_cls.BYTES, total=usage.size_bytes)]
        else:
            st = usage.stats
            items = [
                usage_cls(unit=usage_cls.BYTES, total=st.total_bytes, available=st.available_bytes, used=st.used_bytes),
                usage_cls(unit=usage_cls.INODES, total=st.total_inodes, available=st.free_inodes, used=st.used_inodes),
            ]
        return csi_pb2.NodeGetVolumeStatsResponse(
            usage=items, volume_condition=csi_pb2.VolumeCondition(abnormal=usage.abnormal, message=usage.message)
        )
