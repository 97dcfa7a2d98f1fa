"""``nearpath target``: the node-local LIO target agent.

Kubernetes mode (the DaemonSet): ``nearpath target`` with NEARPATH_NODE_NAME and
NEARPATH_PORTALS set; watches VolumeGroups, converges LIO, reports status and a Lease.

File mode (no Kubernetes; tests, debugging, recovery):
``nearpath target --node N --portal IP[:PORT] --from-file vg.json [--secrets-file s.json]
[--status-file out.json] [--once]`` converges from VolumeGroup objects in a JSON or YAML
file (an object, a list, or a ``{"items": [...]}`` list; ``status.assignments`` as the
operator would write them) with Secrets from a file mapping ``namespace/name`` to the
Secret's decoded data. Without ``--once`` it re-reads both files every resync period.
The status entries it would write are printed (and written to ``--status-file``).
Exit code with ``--once``: 0 when every assigned group is ready, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any

import yaml

from nearpath.core.errors import NearpathError
from nearpath.core.logging import configure
from nearpath.target.agent import GroupReport, TargetAgent
from nearpath.target.confinement import HostView, PathPolicy
from nearpath.target.fence import SelfFence
from nearpath.target.metrics import TargetMetrics
from nearpath.target.model import Portal
from nearpath.target.peers import metrics_url
from nearpath.target.rtslib_lio import RtslibLio
from nearpath.target.runtime import AgentRuntime
from nearpath.target.settings import TargetSettings

log = logging.getLogger("nearpath.target")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="nearpath target", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--node", help="node name (default NEARPATH_NODE_NAME)")
    p.add_argument(
        "--portal", action="append", default=[], help="portal ip[:port] (repeatable; default NEARPATH_PORTALS)"
    )
    p.add_argument("--from-file", metavar="FILE", help="file mode: VolumeGroups from FILE instead of the API")
    p.add_argument("--secrets-file", metavar="FILE", help='file mode: Secrets as {"ns/name": {key: value}}')
    p.add_argument("--status-file", metavar="FILE", help="file mode: write the status entries here as JSON")
    p.add_argument("--node-label", action="append", default=[], help="file mode: node label key=value (repeatable)")
    p.add_argument("--once", action="store_true", help="file mode: converge once and exit")
    p.add_argument("--metrics-port", type=int, help="Prometheus port (default NEARPATH_METRICS_PORT, 0 = off)")
    return p


def _load_objects(path: str) -> list[dict[str, Any]]:
    data = yaml.safe_load(Path(path).read_text())
    if isinstance(data, dict) and "items" in data:
        data = data["items"]
    if isinstance(data, dict):
        data = [data]
    if not isinstance(data, list):
        raise NearpathError(f"{path}: expected a VolumeGroup, a list of them or {{items: [...]}}")
    return [dict(item) for item in data]


def _load_secrets(path: str | None) -> dict[str, dict[str, str]]:
    if not path:
        return {}
    data = yaml.safe_load(Path(path).read_text()) or {}
    return {str(k): {str(a): str(b) for a, b in v.items()} for k, v in data.items()}


def _render(reports: list[GroupReport]) -> list[dict[str, Any]]:
    return [
        {"volumeGroup": f"{r.namespace}/{r.name}", "target": r.entry.to_wire() if r.entry else None} for r in reports
    ]


def _file_pass(agent: TargetAgent, args: argparse.Namespace) -> list[GroupReport]:
    objs = _load_objects(args.from_file)
    secrets = _load_secrets(args.secrets_file)
    labels = dict(item.split("=", 1) for item in args.node_label)
    reports = agent.reconcile(objs, labels, lambda ns, name: secrets.get(f"{ns}/{name}"))
    rendered = json.dumps(_render(reports), indent=1, sort_keys=True)
    if args.status_file:
        tmp = Path(args.status_file + ".tmp")
        tmp.write_text(rendered + "\n")
        os.replace(tmp, args.status_file)
    return reports


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    settings = TargetSettings()
    configure(settings.log_level, settings.log_format)
    node = args.node or settings.node_name
    if not node:
        log.error("no node name: set NEARPATH_NODE_NAME or pass --node")
        return 2
    portals = _portals(args.portal or settings.portals)
    if portals is None:
        return 2
    edge = RtslibLio()
    metrics = TargetMetrics()
    agent = TargetAgent(
        edge,
        node,
        portals,
        metrics=metrics,
        manage_discovery_auth=settings.manage_discovery_auth,
        local_directory=settings.local_directory,
        full_zero_limit=settings.full_zero_limit_bytes,
        path_policy=PathPolicy(tuple(settings.allowed_path_prefixes), HostView(proc=Path(settings.host_proc))),
    )
    try:
        dbroot = edge.prepare(settings.dbroot)
    except NearpathError as exc:
        log.error("LIO unavailable", extra={"error": exc.message})
        return 1
    log.info("target agent starting", extra={"node": node, "portals": [str(p) for p in portals], "dbroot": dbroot})
    metrics.watch_lio(edge, agent.lock)
    port = args.metrics_port if args.metrics_port is not None else settings.metrics_port
    if port:
        metrics.serve(port, settings.metrics_address)

    stop = _stop_on_signals()
    if args.from_file:
        return _run_file_mode(agent, args, stop, settings.resync_seconds)

    return _run_kube_mode(agent, settings, port, stop)


def _run_kube_mode(agent: TargetAgent, settings: TargetSettings, metrics_port: int, stop: threading.Event) -> int:
    """Serve the API server's VolumeGroups with the heartbeat Lease and the self-fence until stopped."""
    from nearpath.core.kube import ClusterKube  # noqa: PLC0415 (file mode runs without the client)

    kube = ClusterKube(settings.kubeconfig)
    agent.fence = SelfFence(settings.fence_timers())
    agent.peer_url = metrics_url(metrics_port)
    agent.metrics.watch_renewal_age(agent.fence.renewal_age)
    AgentRuntime(
        agent,
        kube,
        stop,
        resync_seconds=settings.resync_seconds,
        lease_namespace=settings.lease_namespace,
        lease_duration_seconds=settings.lease_duration_seconds,
        deadline_file=Path(settings.fence_deadline_file) if settings.fence_deadline_file else None,
    ).run()
    return 0


def _run_file_mode(agent: TargetAgent, args: argparse.Namespace, stop: threading.Event, resync: float) -> int:
    """Serve the VolumeGroups of a file (no API server): once, or every ``resync`` seconds until stopped."""
    while True:
        try:
            reports = _file_pass(agent, args)
        except (NearpathError, OSError, yaml.YAMLError) as exc:
            log.error("file-mode pass failed", extra={"error": str(exc)})
            if args.once:
                return 1
            reports = []
        if args.once:
            sys.stdout.write(json.dumps(_render(reports), indent=1, sort_keys=True) + "\n")
            served = [r.entry for r in reports if r.entry is not None and r.entry.port_group_id is not None]
            return 0 if all(e.ready for e in served) else 1
        if stop.wait(resync):
            return 0


def _portals(texts: list[str]) -> list[Portal] | None:
    """The portals to serve, or None (logged) when one is bad or there is none."""
    try:
        portals = [Portal.parse(p) for p in texts]
    except NearpathError as exc:
        log.error("bad portal", extra={"error": exc.message})
        return None
    if not portals:
        log.error("no portal: set NEARPATH_PORTALS or pass --portal")
        return None
    return portals


def _stop_on_signals() -> threading.Event:
    """An event SIGTERM and SIGINT set (the agent stops between passes; LIO keeps serving)."""
    stop = threading.Event()

    def on_signal(_sig: int, _frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    return stop
