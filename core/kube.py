"""The Kubernetes API edge every component uses: one small interface, two implementations.

:class:`KubeApi` is what components code against. :class:`ClusterKube` talks to a real API
server through the official client; :class:`nearpath.core.fake_kube.FakeKube` keeps objects
in memory for unit tests, with the semantics components rely on (resourceVersion,
generation bumped by spec changes only, a status subresource, server-side apply of status
with per-manager ownership of list-map entries, conflicts, finalizers, watch events).

Objects are plain dicts in their wire form. Status is written only with
:meth:`KubeApi.apply_volume_group_status` (server-side apply on ``/status`` with the
caller's field manager), so the operator, each node's agent and the CSI controller each
own their part of the status and never overwrite another writer's entries.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any, Protocol

from nearpath.core.api import API_VERSION, GROUP, KIND, PLURAL, VERSION
from nearpath.core.clock import rfc3339, utc_now
from nearpath.core.errors import AlreadyExists, Conflict, InvalidArgument, NearpathError, NotFound, Unavailable

log = logging.getLogger("nearpath.kube")

Obj = dict[str, Any]


class KubeApi(Protocol):
    # VolumeGroups
    def get_volume_group(self, namespace: str, name: str) -> Obj | None: ...

    def list_volume_groups(self, namespace: str | None = None) -> list[Obj]: ...

    def create_volume_group(self, body: Obj) -> Obj: ...

    def patch_volume_group(self, namespace: str, name: str, patch: Obj, resource_version: str | None = None) -> Obj:
        """JSON merge patch of metadata/spec. With ``resource_version``, fails with Conflict if stale."""
        ...

    def delete_volume_group(self, namespace: str, name: str) -> bool:
        """Request deletion; False when it was already gone."""
        ...

    def apply_volume_group_status(self, namespace: str, name: str, status: Obj, field_manager: str) -> Obj:
        """Server-side apply of ``status`` (the caller's whole intent for its part) on /status."""
        ...

    def watch_volume_groups(
        self, namespace: str | None = None, resource_version: str | None = None, timeout_seconds: int = 30
    ) -> Iterator[tuple[str, Obj]]:
        """(event type, object) until the timeout; types ADDED, MODIFIED, DELETED."""
        ...

    # Secrets
    def read_secret(self, namespace: str, name: str) -> dict[str, str] | None:
        """The decoded data of a Secret, or None when it does not exist."""
        ...

    # Leases (coordination.k8s.io/v1)
    def get_lease(self, namespace: str, name: str) -> Obj | None: ...

    def list_leases(self, namespace: str, label_selector: str | None = None) -> list[Obj]: ...

    def apply_lease(
        self,
        namespace: str,
        name: str,
        holder: str,
        duration_seconds: int,
        labels: dict[str, str] | None = None,
        field_manager: str = "nearpath",
        timeout_seconds: float | None = None,
    ) -> Obj:
        """Create or renew a Lease held by ``holder`` with renewTime now (``timeout_seconds``: give up
        after that long; a renewal confirmed too late is worth nothing to a self-fencing holder)."""
        ...

    def update_lease(
        self,
        namespace: str,
        name: str,
        spec: Obj,
        resource_version: str | None,
        labels: dict[str, str] | None = None,
    ) -> Obj:
        """Compare-and-swap write of a whole Lease (leader election).

        ``resource_version`` None creates it (Conflict if it exists); otherwise replaces it only if
        it is unchanged since it was read at that version (Conflict if not). A Lease deleted
        meanwhile is created (Leases allow create-on-update).
        """
        ...

    # Nodes and events
    def list_nodes(self, label_selector: str | None = None) -> list[Obj]: ...

    def get_node(self, name: str) -> Obj | None: ...

    def annotate_node(self, name: str, annotations: dict[str, str]) -> Obj:
        """Merge-patch ``annotations`` onto Node ``name`` (NotFound if it does not exist)."""
        ...

    def emit_event(
        self, involved: Obj, reason: str, message: str, type_: str = "Normal", component: str = "nearpath"
    ) -> None: ...


REQUEST_TIMEOUT_S = 15.0
"""Default bound of one API call (connect, then read): a frozen API server must not hang a caller."""


def _guard_transport(rest_client: Any, api_exception: Any) -> None:
    """Give every non-streaming call a timeout, and turn transport failures (connection refused, reset,
    timeout: urllib3 errors the generated client lets through) into ``ApiException`` with status 0, so
    callers see them as :class:`Unavailable` like any other API failure."""
    import urllib3  # noqa: PLC0415

    original = rest_client.request

    def request(method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        if kwargs.get("_request_timeout") is None and kwargs.get("_preload_content", True):
            kwargs["_request_timeout"] = (REQUEST_TIMEOUT_S, REQUEST_TIMEOUT_S)
        try:
            return original(method, url, *args, **kwargs)
        except urllib3.exceptions.HTTPError as exc:
            raise api_exception(status=0, reason=f"API server unreachable: {type(exc).__name__}") from exc

    rest_client.request = request


def status_apply_body(namespace: str, name: str, status: Obj) -> Obj:
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": {"name": name, "namespace": namespace},
        "status": status,
    }


class ClusterKube:
    """:class:`KubeApi` against a real API server (kubeconfig path or in-cluster)."""

    def __init__(self, kubeconfig: str | None = None, clock: Callable[[], datetime] = utc_now) -> None:
        self.clock = clock
        """This node's clock: stamps Lease renewTime and event times (tests skew it)."""
        from kubernetes import client, config  # noqa: PLC0415 (import cost only where used)

        if kubeconfig:
            self._api_client = config.new_client_from_config(config_file=kubeconfig)
        else:
            config.load_incluster_config()
            self._api_client = client.ApiClient()
        _guard_transport(self._api_client.rest_client, client.ApiException)
        self._custom = client.CustomObjectsApi(self._api_client)
        self._core = client.CoreV1Api(self._api_client)
        self._coord = client.CoordinationV1Api(self._api_client)
        self._events = client.EventsV1Api(self._api_client)
        self._client = client

    # errors ------------------------------------------------------------------------------
    def _translate(self, exc: Exception, what: str) -> NearpathError:
        status = getattr(exc, "status", None)
        reason = getattr(exc, "reason", "") or ""
        body = getattr(exc, "body", "") or ""
        if status == 404:
            return NotFound(f"{what} not found")
        if status == 409:
            if "AlreadyExists" in str(body):
                return AlreadyExists(f"{what} already exists")
            return Conflict(f"{what} changed concurrently: {reason}")
        if status == 422:
            return InvalidArgument(f"{what} rejected by the API server: {_api_message(body)}")
        if status == 403:
            return Unavailable(f"{what}: forbidden: {_api_message(body)}")
        if not status:
            return Unavailable(f"{what}: {reason}")
        return Unavailable(f"{what}: API server error {status}: {reason}")

    def _server_side_apply(self, path: str, body: Obj, field_manager: str, timeout_s: float = 30.0) -> Obj:
        """PATCH with application/apply-patch+yaml (force): the generated client cannot choose
        that content type for every resource, so the request is made through ``call_api``."""
        result = self._api_client.call_api(
            path,
            "PATCH",
            query_params=[("fieldManager", field_manager), ("force", "true")],
            header_params={"Content-Type": "application/apply-patch+yaml", "Accept": "application/json"},
            body=body,
            response_type="object",
            auth_settings=["BearerToken"],
            _return_http_data_only=True,
            _request_timeout=(timeout_s, timeout_s),
        )
        return dict(result)

    # VolumeGroups ------------------------------------------------------------------------
    def get_volume_group(self, namespace: str, name: str) -> Obj | None:
        try:
            return dict(self._custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name))
        except self._client.ApiException as exc:
            if exc.status == 404:
                return None
            raise self._translate(exc, f"VolumeGroup {namespace}/{name}") from exc

    def list_volume_groups(self, namespace: str | None = None) -> list[Obj]:
        try:
            if namespace:
                result = self._custom.list_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL)
            else:
                result = self._custom.list_cluster_custom_object(GROUP, VERSION, PLURAL)
        except self._client.ApiException as exc:
            raise self._translate(exc, "VolumeGroups") from exc
        return [dict(item) for item in result.get("items", [])]

    def create_volume_group(self, body: Obj) -> Obj:
        namespace = body["metadata"]["namespace"]
        try:
            return dict(self._custom.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, body))
        except self._client.ApiException as exc:
            raise self._translate(exc, f"VolumeGroup {namespace}/{body['metadata'].get('name')}") from exc

    def patch_volume_group(self, namespace: str, name: str, patch: Obj, resource_version: str | None = None) -> Obj:
        body = patch
        if resource_version is not None:
            body = {**patch, "metadata": {**patch.get("metadata", {}), "resourceVersion": resource_version}}
        try:
            return dict(
                # the generated client sends custom-object patches as merge patches
                self._custom.patch_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name, body)
            )
        except self._client.ApiException as exc:
            raise self._translate(exc, f"VolumeGroup {namespace}/{name}") from exc

    def delete_volume_group(self, namespace: str, name: str) -> bool:
        try:
            self._custom.delete_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)
        except self._client.ApiException as exc:
            if exc.status == 404:
                return False
            raise self._translate(exc, f"VolumeGroup {namespace}/{name}") from exc
        return True

    def apply_volume_group_status(self, namespace: str, name: str, status: Obj, field_manager: str) -> Obj:
        try:
            return self._server_side_apply(
                f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/{PLURAL}/{name}/status",
                status_apply_body(namespace, name, status),
                field_manager,
            )
        except self._client.ApiException as exc:
            raise self._translate(exc, f"VolumeGroup {namespace}/{name} status") from exc

    def watch_volume_groups(
        self, namespace: str | None = None, resource_version: str | None = None, timeout_seconds: int = 30
    ) -> Iterator[tuple[str, Obj]]:
        import urllib3  # noqa: PLC0415 (import cost only where used)
        from kubernetes import watch  # noqa: PLC0415 (import cost only where used)

        stream = watch.Watch()
        kwargs: dict[str, Any] = {"timeout_seconds": timeout_seconds, "allow_watch_bookmarks": False}
        if resource_version:
            kwargs["resource_version"] = resource_version
        if namespace:
            func = self._custom.list_namespaced_custom_object
            args: tuple[Any, ...] = (GROUP, VERSION, namespace, PLURAL)
        else:
            func = self._custom.list_cluster_custom_object
            args = (GROUP, VERSION, PLURAL)
        try:
            for event in stream.stream(func, *args, **kwargs):
                if event["type"] in ("ADDED", "MODIFIED", "DELETED"):
                    yield event["type"], dict(event["object"])
        except self._client.ApiException as exc:
            if exc.status == 410:
                return  # resourceVersion too old: the caller relists
            raise self._translate(exc, "VolumeGroup watch") from exc
        except (urllib3.exceptions.HTTPError, OSError) as exc:  # the stream broke mid-read
            raise Unavailable(f"VolumeGroup watch: API server unreachable: {type(exc).__name__}") from exc
        finally:
            stream.stop()

    # Secrets -----------------------------------------------------------------------------
    def read_secret(self, namespace: str, name: str) -> dict[str, str] | None:
        try:
            secret = self._core.read_namespaced_secret(name, namespace)
        except self._client.ApiException as exc:
            if exc.status == 404:
                return None
            raise self._translate(exc, f"Secret {namespace}/{name}") from exc
        data = secret.data or {}
        return {key: base64.b64decode(value).decode() for key, value in data.items()}

    # Leases ------------------------------------------------------------------------------
    def get_lease(self, namespace: str, name: str) -> Obj | None:
        try:
            lease = self._coord.read_namespaced_lease(name, namespace)
        except self._client.ApiException as exc:
            if exc.status == 404:
                return None
            raise self._translate(exc, f"Lease {namespace}/{name}") from exc
        return dict(self._api_client.sanitize_for_serialization(lease))

    def list_leases(self, namespace: str, label_selector: str | None = None) -> list[Obj]:
        try:
            leases = self._coord.list_namespaced_lease(namespace, label_selector=label_selector or "")
        except self._client.ApiException as exc:
            raise self._translate(exc, "Leases") from exc
        return [dict(self._api_client.sanitize_for_serialization(item)) for item in leases.items]

    def apply_lease(
        self,
        namespace: str,
        name: str,
        holder: str,
        duration_seconds: int,
        labels: dict[str, str] | None = None,
        field_manager: str = "nearpath",
        timeout_seconds: float | None = None,
    ) -> Obj:
        body = {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": name, "namespace": namespace, "labels": labels or {}},
            "spec": {
                "holderIdentity": holder,
                "leaseDurationSeconds": duration_seconds,
                "renewTime": rfc3339(self.clock()),
            },
        }
        try:
            return self._server_side_apply(
                f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases/{name}",
                body,
                field_manager,
                timeout_seconds or REQUEST_TIMEOUT_S,
            )
        except self._client.ApiException as exc:
            raise self._translate(exc, f"Lease {namespace}/{name}") from exc

    def update_lease(
        self,
        namespace: str,
        name: str,
        spec: Obj,
        resource_version: str | None,
        labels: dict[str, str] | None = None,
    ) -> Obj:
        metadata: Obj = {"name": name, "namespace": namespace, "labels": labels or {}}
        if resource_version is not None:
            metadata["resourceVersion"] = resource_version
        body = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": metadata, "spec": spec}
        try:
            if resource_version is None:
                lease = self._coord.create_namespaced_lease(namespace, body)
            else:
                lease = self._coord.replace_namespaced_lease(name, namespace, body)
        except self._client.ApiException as exc:
            error = self._translate(exc, f"Lease {namespace}/{name}")
            if isinstance(error, AlreadyExists):
                raise Conflict(f"Lease {namespace}/{name} was created concurrently") from exc
            raise error from exc
        return dict(self._api_client.sanitize_for_serialization(lease))

    # Nodes and events --------------------------------------------------------------------
    def list_nodes(self, label_selector: str | None = None) -> list[Obj]:
        try:
            nodes = self._core.list_node(label_selector=label_selector or "")
        except self._client.ApiException as exc:
            raise self._translate(exc, "Nodes") from exc
        return [dict(self._api_client.sanitize_for_serialization(item)) for item in nodes.items]

    def get_node(self, name: str) -> Obj | None:
        try:
            node = self._core.read_node(name)
        except self._client.ApiException as exc:
            if exc.status == 404:
                return None
            raise self._translate(exc, f"Node {name}") from None
        return dict(self._api_client.sanitize_for_serialization(node))

    def annotate_node(self, name: str, annotations: dict[str, str]) -> Obj:
        try:
            node = self._core.patch_node(name, {"metadata": {"annotations": annotations}})
        except self._client.ApiException as exc:
            raise self._translate(exc, f"Node {name}") from None
        return dict(self._api_client.sanitize_for_serialization(node))

    def emit_event(
        self, involved: Obj, reason: str, message: str, type_: str = "Normal", component: str = "nearpath"
    ) -> None:
        meta = involved.get("metadata", {})
        namespace = meta.get("namespace") or "default"
        body = {
            "apiVersion": "events.k8s.io/v1",
            "kind": "Event",
            "metadata": {"generateName": f"{meta.get('name', 'nearpath')}-", "namespace": namespace},
            "eventTime": rfc3339(self.clock()),
            "reportingController": f"nearpath.io/{component}",
            "reportingInstance": component,
            "action": reason,
            "reason": reason,
            "note": message[:1024],
            "type": type_,
            "regarding": {
                "apiVersion": involved.get("apiVersion", API_VERSION),
                "kind": involved.get("kind", KIND),
                "name": meta.get("name"),
                "namespace": meta.get("namespace"),
                "uid": meta.get("uid"),
                "resourceVersion": meta.get("resourceVersion"),
            },
        }
        try:
            self._events.create_namespaced_event(namespace, body)
        except self._client.ApiException as exc:  # events are best effort
            log.warning("could not emit event", extra={"reason": reason, "status": exc.status})


def _api_message(body: Any) -> str:
    try:
        return str(json.loads(body).get("message", body))
    except (ValueError, TypeError, AttributeError):
        return str(body)
