"""The chart's ServiceAccounts as the control-plane tier uses them (rendering: :mod:`tests.support.chart`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

# Rendering lives in tests.support.chart; these names stay importable from here for branches
# written before the move (import them from tests.support.chart).
from tests.support.chart import CHART_CRD_DIR, VALUES_SETS, documents, render

__all__ = ["CHART_CRD_DIR", "VALUES_SETS", "documents", "render", "service_account_names", "token_kubeconfig"]


def service_account_names(release: str, fullname: str | None = None) -> dict[str, str]:
    """Component -> ServiceAccount name the chart creates for ``release``."""
    prefix = fullname or (release if "nearpath" in release else f"{release}-nearpath")
    return {c: f"{prefix}-{c}" for c in ("operator", "csi-controller", "csi-node", "target")}


def token_kubeconfig(
    kubectl: Any, server: str, ca_cert: Path, namespace: str, service_account: str, path: Path
) -> Path:
    """A kubeconfig holding a TokenRequest token of ``service_account`` (``kubectl create token``)."""
    token = kubectl("-n", namespace, "create", "token", service_account, "--duration=60m")
    if token.returncode != 0:
        raise RuntimeError(f"TokenRequest for {namespace}/{service_account}: {token.stderr}")
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "t", "cluster": {"server": server, "certificate-authority": str(ca_cert)}}],
        "users": [{"name": service_account, "user": {"token": token.stdout.strip()}}],
        "contexts": [{"name": "t", "context": {"cluster": "t", "user": service_account, "namespace": namespace}}],
        "current-context": "t",
    }
    path.write_text(json.dumps(config))
    path.chmod(0o600)
    return path
