"""``python -m nearpath operator``: the VolumeGroup operator process.

Flow: parse flags and ``NEARPATH_*`` settings, (optionally) wait for the leader Lease, then run
kopf (watching VolumeGroups) and the controller (work queue, health polling) side by side until
SIGTERM/SIGINT or a lost leadership. Exit code 0 on a requested stop, 1 when leadership was lost
or a part crashed (Kubernetes restarts the pod, which then competes as a follower).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
from typing import Any

import kopf

from nearpath.core import logging as np_logging
from nearpath.core.kube import ClusterKube, KubeApi
from nearpath.operator.controller import Controller
from nearpath.operator.handlers import kopf_settings, quiet_kopf, register
from nearpath.operator.health import LeaseTracker
from nearpath.operator.leader import LeaderElector, default_identity
from nearpath.operator.metrics import OperatorMetrics
from nearpath.operator.reconciler import Reconciler
from nearpath.operator.settings import OperatorSettings

log = logging.getLogger("nearpath.operator")


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="nearpath operator", description=__doc__.split("\n\n")[0])
    parser.add_argument("--kubeconfig", help="kubeconfig path (default: NEARPATH_KUBECONFIG, else in-cluster)")
    scope = parser.add_mutually_exclusive_group()
    scope.add_argument("--namespace", help="manage VolumeGroups of this namespace only")
    scope.add_argument("--all-namespaces", action="store_true", help="manage every namespace (the default)")
    election = parser.add_mutually_exclusive_group()
    election.add_argument(
        "--leader-election", dest="leader_election", action="store_true", default=None, help="hold a leader Lease"
    )
    election.add_argument(
        "--standalone",
        dest="leader_election",
        action="store_false",
        help="no leader election (exactly one replica must run)",
    )
    parser.add_argument("--lease-namespace", help="namespace of the agents' Leases and of the leader Lease")
    parser.add_argument("--metrics-port", type=int, help="Prometheus port (0: off)")
    parser.add_argument("--log-level", choices=["debug", "info", "warning", "error"])
    parser.add_argument("--log-format", choices=["json", "text"])
    return parser.parse_args(argv)


def build_settings(args: argparse.Namespace) -> OperatorSettings:
    overrides: dict[str, Any] = {}
    for name in ("kubeconfig", "namespace", "leader_election", "lease_namespace", "metrics_port"):
        value = getattr(args, name)
        if value is not None:
            overrides[name] = value
    if args.all_namespaces:
        overrides["namespace"] = None
    for name in ("log_level", "log_format"):
        if getattr(args, name):
            overrides[name] = getattr(args, name)
    return OperatorSettings(**overrides)


async def run(settings: OperatorSettings, kube: KubeApi, stop: asyncio.Event) -> int:
    metrics = OperatorMetrics()
    if settings.metrics_port:
        metrics.serve(settings.metrics_port, settings.metrics_address)
    elector = None
    if settings.leader_election:
        elector = LeaderElector(
            kube,
            settings.lease_namespace,
            settings.leader_lease_name,
            settings.identity or default_identity(),
            settings.leader_lease_seconds,
        )
        acquiring = asyncio.create_task(elector.acquire())
        stopping = asyncio.create_task(stop.wait())
        await asyncio.wait({acquiring, stopping}, return_when=asyncio.FIRST_COMPLETED)
        for task in (acquiring, stopping):
            task.cancel()
        if stop.is_set():
            return 0
    may_write = elector.holds if elector is not None else lambda: True
    reconciler = Reconciler(
        kube, settings.policy(), metrics, LeaseTracker(settings.health_timers()), may_write=may_write
    )
    controller = Controller(reconciler, kube, settings)
    registry = kopf.OperatorRegistry()
    register(registry, controller, settings.kubeconfig)
    kopf_stop: asyncio.Event = asyncio.Event()
    scope: dict[str, Any] = {"namespaces": [settings.namespace]} if settings.namespace else {"clusterwide": True}
    parts: set[asyncio.Task[Any]] = {
        asyncio.create_task(
            kopf.operator(registry=registry, settings=kopf_settings(), standalone=True, stop_flag=kopf_stop, **scope),
            name="kopf",
        ),
        asyncio.create_task(controller.run(), name="controller"),
        asyncio.create_task(stop.wait(), name="stop"),
    }
    if elector is not None:
        parts.add(asyncio.create_task(elector.hold(), name="leadership"))
    log.info("operator running", extra={"namespace": settings.namespace or "*", "workers": settings.workers})
    done, _ = await asyncio.wait(parts, return_when=asyncio.FIRST_COMPLETED)
    ended = {task.get_name() for task in done}
    # kopf installs its own SIGTERM/SIGINT handlers: a kopf that ends without an error was stopped
    kopf_done = [t for t in done if t.get_name() == "kopf"]
    stopped = "stop" in ended or any(not t.cancelled() and t.exception() is None for t in kopf_done)
    code = 0 if stopped else 1
    for task in done:
        if task.get_name() != "stop" and not task.cancelled() and task.exception() is not None:
            log.error("operator part failed", extra={"part": task.get_name(), "error": repr(task.exception())})
    kopf_stop.set()
    for task in parts:
        if task.get_name() != "kopf":
            task.cancel()
    for task in parts:
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await asyncio.wait_for(task, timeout=15)
    if elector is not None and code == 0:
        await asyncio.to_thread(elector.release)
    log.info("operator stopped", extra={"reason": "signal" if code == 0 else "lost leadership or failure"})
    return code


async def _main(settings: OperatorSettings) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    kube = ClusterKube(settings.kubeconfig)
    return await run(settings, kube, stop)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    settings = build_settings(args)
    np_logging.configure(settings.log_level, settings.log_format)
    quiet_kopf()
    return asyncio.run(_main(settings))
