"""Metrics of the CSI driver's gRPC server: one interceptor times every call.

- ``nearpath_csi_rpc_duration_seconds{method,code}``: a histogram per CSI method (``CreateVolume``,
  ``NodeStageVolume``, ...) and gRPC status code (``OK``, ``UNAVAILABLE``, ...); its ``_count``
  is the number of calls.
- ``nearpath_csi_rpc_in_flight{method}``: calls running now (a stuck stage shows here).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import grpc
from prometheus_client import CollectorRegistry, Gauge, Histogram

from nearpath.core import metrics_http

BUCKETS = (0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)


class CsiMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.rpc_duration = Histogram(
            "nearpath_csi_rpc_duration_seconds",
            "Duration of CSI calls by method and gRPC status code.",
            ["method", "code"],
            buckets=BUCKETS,
            registry=self.registry,
        )
        self.in_flight = Gauge(
            "nearpath_csi_rpc_in_flight", "CSI calls being served, by method.", ["method"], registry=self.registry
        )

    def interceptor(self) -> grpc.ServerInterceptor:
        return RpcMetricsInterceptor(self)

    def serve(self, port: int, address: str = "") -> None:
        metrics_http.serve(self.registry, port, address)


def method_name(full: str) -> str:
    """``/csi.v1.Controller/CreateVolume`` -> ``CreateVolume``."""
    return full.rsplit("/", 1)[-1] or full


def _code(context: grpc.ServicerContext, failed: bool) -> str:
    code = context.code()
    if isinstance(code, grpc.StatusCode):
        return str(code.name)
    return "UNKNOWN" if failed else "OK"


class RpcMetricsInterceptor(grpc.ServerInterceptor):  # type: ignore[misc]
    """Wraps unary-unary handlers (every CSI method is unary) with timing and counting."""

    def __init__(self, metrics: CsiMetrics) -> None:
        self.metrics = metrics

    def intercept_service(
        self, continuation: Callable[[grpc.HandlerCallDetails], Any], details: grpc.HandlerCallDetails
    ) -> Any:
        handler = continuation(details)
        if handler is None or handler.unary_unary is None:
            return handler
        method = method_name(details.method)
        inner = handler.unary_unary

        def timed(request: Any, context: grpc.ServicerContext) -> Any:
            started = time.monotonic()
            failed = True
            self.metrics.in_flight.labels(method).inc()
            try:
                response = inner(request, context)
                failed = False
                return response
            finally:
                self.metrics.in_flight.labels(method).dec()
                elapsed = time.monotonic() - started
                self.metrics.rpc_duration.labels(method, _code(context, failed)).observe(elapsed)

        return grpc.unary_unary_rpc_method_handler(
            timed,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )
