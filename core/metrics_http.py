"""Serving a Prometheus registry over HTTP: the one place that binds a /metrics endpoint."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, start_http_server


def serve(registry: CollectorRegistry, port: int, address: str = "") -> None:
    """Serve ``registry`` on ``port``; ``address`` empty binds every address (the client's default)."""
    if not port:
        return
    if address:
        start_http_server(port, addr=address, registry=registry)
    else:
        start_http_server(port, registry=registry)
