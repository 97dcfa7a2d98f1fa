#!/usr/bin/python3
"""Call CSI RPCs on a unix socket from a JSON description; print the responses as JSON.

Runs inside guests (node plugin socket) and on the host (controller socket)::

    echo '{"endpoint": "unix:///run/nearpath/csi.sock",
           "calls": [{"method": "NodeGetInfo", "request": {}}]}' | python3 csi_call.py

Requests and responses use protobuf's JSON mapping (camelCase field names). Calls run in
order and stop at the first failure; the output is a list of
``{"method", "ok", "code", "details", "response"}``. Exit code 0 when every call succeeded.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import grpc
from google.protobuf import json_format  # type: ignore[import-untyped]

from nearpath.csi.proto import csi_pb2, csi_pb2_grpc

IDENTITY = {"GetPluginInfo", "GetPluginCapabilities", "Probe"}


def _stub(channel: grpc.Channel, method: str) -> Any:
    if method in IDENTITY:
        return csi_pb2_grpc.IdentityStub(channel)
    if method.startswith("Node"):
        return csi_pb2_grpc.NodeStub(channel)
    return csi_pb2_grpc.ControllerStub(channel)


def call(endpoint: str, calls: list[dict[str, Any]], timeout: float = 120.0) -> list[dict[str, Any]]:
    """Run ``calls`` against ``endpoint`` (``unix:///path``); one result per call made."""
    results: list[dict[str, Any]] = []
    with grpc.insecure_channel(endpoint) as channel:
        for item in calls:
            method = str(item["method"])
            request = json_format.ParseDict(item.get("request") or {}, getattr(csi_pb2, f"{method}Request")())
            try:
                response = getattr(_stub(channel, method), method)(request, timeout=float(item.get("timeout", timeout)))
            except grpc.RpcError as exc:
                results.append(
                    {"method": method, "ok": False, "code": exc.code().name, "details": exc.details(), "response": None}
                )
                break
            body = json_format.MessageToDict(response, preserving_proto_field_name=False)
            results.append({"method": method, "ok": True, "code": "OK", "details": "", "response": body})
    return results


def main() -> int:
    spec = json.load(sys.stdin)
    results = call(spec["endpoint"], spec["calls"], float(spec.get("timeout", 120.0)))
    sys.stdout.write(json.dumps(results) + "\n")
    return 0 if results and all(r["ok"] for r in results) and len(results) == len(spec["calls"]) else 1


if __name__ == "__main__":
    sys.exit(main())
