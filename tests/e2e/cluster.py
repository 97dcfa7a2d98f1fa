"""A thin kubectl/helm driver for the e2e suite (any cluster, given by a kubeconfig)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.kubectl import run_kubectl

REPO_ROOT = Path(__file__).resolve().parents[2]
CHART_DIR = REPO_ROOT / "charts" / "nearpath"
ENV_KUBECONFIG = "NEARPATH_E2E_KUBECONFIG"
ENV_IMAGE = "NEARPATH_E2E_IMAGE"
ENV_VALUES = "NEARPATH_E2E_VALUES"
ENV_NAMESPACE = "NEARPATH_E2E_NAMESPACE"
ENV_SC_PARAMETERS = "NEARPATH_E2E_SC_PARAMETERS"
DEFAULT_IMAGE = "nearpath:dev"
DEFAULT_NAMESPACE = "nearpath-e2e"
# `shared` backing on block devices every node reaches at the same path: on kind, host loop
# devices (kind-config.yaml shares the host's /dev with every node; README: losetup steps).
DEFAULT_SC_PARAMETERS = {"backing": "shared", "devices": "/dev/loop20,/dev/loop21"}


class E2EError(AssertionError):
    """A cluster command failed or a wait timed out."""


def sc_parameters() -> dict[str, str]:
    raw = os.environ.get("NEARPATH_E2E_SC_PARAMETERS")
    if not raw:
        return dict(DEFAULT_SC_PARAMETERS)
    try:
        parsed = json.loads(raw)
    except ValueError as exc:
        raise E2EError(f"NEARPATH_E2E_SC_PARAMETERS is not JSON: {exc}") from None
    return {str(k): str(v) for k, v in parsed.items()}


def find_tool(name: str) -> str | None:
    """The tool from PATH, else from the test-bed cache (tests/controlplane/fetch puts helm/kubectl there)."""
    found = shutil.which(name)
    if found:
        return found
    cache = Path(os.environ.get("NEARPATH_CACHE") or Path.home() / ".cache" / "nearpath") / "bin" / name
    return str(cache) if os.access(cache, os.X_OK) else None


@dataclass
class Cluster:
    kubeconfig: Path
    kubectl_bin: str
    helm_bin: str
    namespace: str

    def kubectl(
        self, *args: str, input: str | None = None, timeout: float = 120, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        return run_kubectl(
            self.kubectl_bin, self.kubeconfig, args, input=input, timeout=timeout, check=check, request_timeout=False
        )

    def helm(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        cmd = [self.helm_bin, f"--kubeconfig={self.kubeconfig}", *args]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
        if proc.returncode != 0:
            raise E2EError(f"helm {' '.join(args)} failed ({proc.returncode}): {proc.stderr.strip()[:2000]}")
        return proc

    def get(self, *args: str) -> Any:
        return json.loads(self.kubectl("get", *args, "-o", "json").stdout)

    def get_or_none(self, *args: str) -> Any:
        proc = self.kubectl("get", *args, "-o", "json", check=False)
        if proc.returncode != 0:
            if "NotFound" in proc.stderr or "not found" in proc.stderr:
                return None
            raise E2EError(f"kubectl get {' '.join(args)}: {proc.stderr.strip()}")
        return json.loads(proc.stdout)

    def apply(self, manifest: dict[str, Any]) -> None:
        self.kubectl("apply", "-f", "-", input=json.dumps(manifest))

    def exec(
        self,
        namespace: str,
        pod: str,
        argv: Sequence[str],
        container: str | None = None,
        timeout: float = 120,
        check: bool = True,
    ) -> subprocess.CompletedProcess[str]:
        args = ["-n", namespace, "exec", pod]
        if container:
            args += ["-c", container]
        return self.kubectl(*args, "--", *argv, timeout=timeout, check=check)

    def component_pods(self, component: str) -> list[dict[str, Any]]:
        selector = f"app.kubernetes.io/name=nearpath,app.kubernetes.io/component={component}"
        items: list[dict[str, Any]] = self.get("-n", self.namespace, "pods", "-l", selector)["items"]
        return [p for p in items if not p["metadata"].get("deletionTimestamp")]

    def component_pod_on(self, component: str, node: str) -> dict[str, Any] | None:
        pods = [p for p in self.component_pods(component) if p["spec"].get("nodeName") == node]
        return pods[0] if pods else None
