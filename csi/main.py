"""``python -m nearpath csi``: the CSI driver (controller, node or both).

Flags override ``NEARPATH_*`` environment settings (see :class:`~nearpath.csi.settings.CsiSettings`).
"""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from typing import Any

from nearpath.core.logging import configure
from nearpath.core.runner import HostRunner
from nearpath.csi.node_ops import NodeConfig
from nearpath.csi.settings import CsiSettings

log = logging.getLogger("nearpath.csi")


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="nearpath csi", description=__doc__)
    parser.add_argument("--mode", choices=["controller", "node", "all"])
    parser.add_argument("--endpoint", help="unix:///path/to/csi.sock")
    parser.add_argument("--node-id", help="this node's Kubernetes name (node mode)")
    parser.add_argument("--kubeconfig", help="kubeconfig path (controller; default: in-cluster)")
    parser.add_argument("--volume-namespace", help="namespace of the VolumeGroups the controller creates")
    parser.add_argument("--sandbox", action="store_true", default=None, help="simulated node host (tests only)")
    parser.add_argument("--log-level", choices=["debug", "info", "warning", "error"])
    parser.add_argument("--log-format", choices=["json", "text"])
    return parser.parse_args(argv)


def load_settings(argv: list[str]) -> CsiSettings:
    args = parse_args(argv)
    overrides: dict[str, Any] = {k: v for k, v in vars(args).items() if v is not None}
    return CsiSettings(**overrides)


def main(argv: list[str]) -> int:
    settings = load_settings(argv)
    configure(settings.log_level, settings.log_format)
    from nearpath.core.kube import ClusterKube, KubeApi  # noqa: PLC0415 (grpc, kubernetes: loaded when the driver runs)
    from nearpath.csi.controller import ControllerService  # noqa: PLC0415 (see above)
    from nearpath.csi.host import Host, LocalHost  # noqa: PLC0415 (see above)
    from nearpath.csi.identity import IdentityService  # noqa: PLC0415 (see above)
    from nearpath.csi.node import NodeService  # noqa: PLC0415 (see above)
    from nearpath.csi.node_ops import NodeOps  # noqa: PLC0415 (see above)
    from nearpath.csi.path_metrics import PathCollector  # noqa: PLC0415 (see above)
    from nearpath.csi.rpc_metrics import CsiMetrics  # noqa: PLC0415 (see above)
    from nearpath.csi.server import build_server  # noqa: PLC0415 (see above)

    metrics = CsiMetrics()
    serve_controller = settings.mode in ("controller", "all")
    serve_node = settings.mode in ("node", "all")
    kube: KubeApi | None = None
    if serve_controller or settings.sandbox:
        kube = ClusterKube(settings.kubeconfig)
    controller = ControllerService(kube, settings) if serve_controller and kube is not None else None
    node = None
    if serve_node:
        if not settings.node_id:
            log.error("node mode needs --node-id (or NEARPATH_NODE_ID)")
            return 2
        config = node_config(settings)
        if settings.sandbox:
            from nearpath.csi.sandbox import Sandbox, kube_fabric  # noqa: PLC0415 (test double: only with --sandbox)

            assert kube is not None
            sandbox = Sandbox(
                kube_fabric(kube),
                initiator_name=f"iqn.2025-11.io.nearpath.sandbox:{settings.node_id}",
                memory_prefixes=("/etc/", "/sys/", "/dev/", "/proc/", settings.state_dir.rstrip("/") + "/"),
            )
            log.warning("SANDBOX MODE: node operations are simulated, nothing touches the host's storage")
            runner: Any = sandbox.runner
            host: Host = sandbox.host
        else:
            runner, host = HostRunner(), LocalHost()
        ops = NodeOps(runner, host, config)
        metrics.registry.register(PathCollector(ops))
        node = NodeService(ops, settings.node_id, settings.max_volumes_per_node)
    identity = IdentityService(controller=controller is not None)
    server = build_server(settings.endpoint, identity, controller, node, interceptors=(metrics.interceptor(),))
    metrics.serve(settings.metrics_port, settings.metrics_address)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    server.start()
    log.info("CSI driver serving", extra={"endpoint": settings.endpoint, "mode": settings.mode})
    stop.wait()
    server.stop(grace=5).wait(10)
    return 0


def node_config(settings: CsiSettings) -> NodeConfig:
    return NodeConfig(
        node_name=settings.node_id,
        initiator_name_file=settings.initiator_name_file,
        state_dir=settings.state_dir,
        multipath_conf=settings.multipath_conf,
        noop_out_interval=settings.noop_out_interval,
        noop_out_timeout=settings.noop_out_timeout,
        replacement_timeout=settings.replacement_timeout,
        fast_io_fail_tmo=settings.fast_io_fail_tmo,
        dev_loss_tmo=settings.dev_loss_tmo,
        no_path_retry=settings.no_path_retry,
        command_timeout=settings.command_timeout_seconds,
        mkfs_timeout=settings.mkfs_timeout_seconds,
        device_timeout=settings.device_timeout_seconds,
    )
