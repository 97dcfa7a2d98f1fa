"""The kopf side, kept thin: login, settings, and one event handler feeding the controller.

kopf watches VolumeGroups (reconnects, relists, batches rapid changes of one object) and hands
every event, including the initial listing (which covers resuming after a restart), to
:meth:`Controller.observe`. Everything else -- decisions, status, finalizer, events -- is
nearpath's own code. kopf never writes nearpath's objects: only an event handler is registered
(no progress or diff-base state, no kopf finalizer), its storages point to ``nearpath.io``
annotations anyway, and its own Kubernetes events are off (the operator emits events.k8s.io
Events itself). The finalizer ``nearpath.io/targets`` is the operator's, not kopf's.
"""

from __future__ import annotations

import logging
from typing import Any

import kopf

from nearpath.core.api import GROUP, PLURAL, VERSION
from nearpath.core.contract import KOPF_ANNOTATION_PREFIX
from nearpath.operator.controller import Controller


def kopf_settings() -> kopf.OperatorSettings:
    settings = kopf.OperatorSettings()
    # NOT nearpath.io/targets: kopf removes "its" finalizer from objects it has no deletion
    # handlers for, which would strip the operator's own finalizer. kopf's default marker is
    # never added (no deletion handler is registered).
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=KOPF_ANNOTATION_PREFIX)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(prefix=KOPF_ANNOTATION_PREFIX)
    settings.posting.enabled = False
    settings.scanning.disabled = True  # no CRD/namespace scanning: one fixed resource, no extra RBAC
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    settings.networking.request_timeout = 60
    settings.queueing.idle_timeout = 5.0
    return settings


def connection_info(kubeconfig: str | None) -> kopf.ConnectionInfo:
    """kopf's credentials from the same source ClusterKube uses (a kubeconfig, else in-cluster)."""
    from kubernetes import client, config  # noqa: PLC0415 (kopf loads the client lazily too)

    cfg = client.Configuration()
    if kubeconfig:
        config.load_kube_config(config_file=kubeconfig, client_configuration=cfg)
    else:
        config.load_incluster_config(client_configuration=cfg)
    header = cfg.get_api_key_with_prefix("BearerToken") or cfg.get_api_key_with_prefix("authorization")
    parts = header.split(" ", 1) if header else []
    scheme, token = (None, None) if not parts else (None, parts[0]) if len(parts) == 1 else (parts[0], parts[1])
    return kopf.ConnectionInfo(
        server=cfg.host,
        ca_path=cfg.ssl_ca_cert,
        insecure=not cfg.verify_ssl,
        scheme=scheme,
        token=token,
        certificate_path=cfg.cert_file,
        private_key_path=cfg.key_file,
    )


def register(registry: kopf.OperatorRegistry, controller: Controller, kubeconfig: str | None) -> None:
    @kopf.on.login(registry=registry)
    def login(**_: Any) -> kopf.ConnectionInfo:
        return connection_info(kubeconfig)

    @kopf.on.event(GROUP, VERSION, PLURAL, registry=registry)
    async def volume_group_event(event: kopf.RawEvent, **_: Any) -> None:
        obj = event.get("object")
        if isinstance(obj, dict):
            controller.observe(event.get("type"), dict(obj))


def quiet_kopf() -> None:
    """kopf logs every handler run at INFO: far too much with thousands of objects."""
    logging.getLogger("kopf").setLevel(logging.WARNING)
