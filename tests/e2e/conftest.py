"""e2e tier: a real cluster given by NEARPATH_E2E_KUBECONFIG (skips cleanly without one).

Environment
  NEARPATH_E2E_KUBECONFIG     kubeconfig of the cluster (required; unset: every e2e test skips).
  NEARPATH_E2E_IMAGE          the nearpath image the cluster can run (default nearpath:dev).
  NEARPATH_E2E_VALUES         extra values file for the chart (kind: charts/nearpath/ci/kind-values.yaml).
  NEARPATH_E2E_NAMESPACE      release namespace (default nearpath-e2e).
  NEARPATH_E2E_SC_PARAMETERS  JSON parameters of the test StorageClass
                              (default {"backing": "shared", "devices": "/dev/loop20,/dev/loop21"}).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.cluster import (
    CHART_DIR,
    DEFAULT_IMAGE,
    DEFAULT_NAMESPACE,
    ENV_IMAGE,
    ENV_KUBECONFIG,
    ENV_NAMESPACE,
    ENV_VALUES,
    Cluster,
    find_tool,
)
from tests.support.polling import wait_for

SKIP_REASON = f"e2e tier skipped: {ENV_KUBECONFIG} is not set (point it at a cluster's kubeconfig)"
RELEASE = "nearpath"


def e2e_skip_reason() -> str | None:
    kubeconfig = os.environ.get(ENV_KUBECONFIG)
    if not kubeconfig:
        return SKIP_REASON
    if not Path(kubeconfig).is_file():
        return f"e2e tier skipped: {ENV_KUBECONFIG}={kubeconfig} is not a file"
    missing = [tool for tool in ("kubectl", "helm") if find_tool(tool) is None]
    if missing:
        return f"e2e tier skipped: {', '.join(missing)} not found on PATH or in the test-bed cache"
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip every e2e test up front (no fixture runs, nothing touches a cluster) without a kubeconfig."""
    reason = e2e_skip_reason()
    if reason is None:
        return
    for item in items:
        if item.get_closest_marker("e2e") is not None:
            item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(scope="session")
def cluster() -> Cluster:
    reason = e2e_skip_reason()
    if reason:
        pytest.skip(reason)
    kubectl, helm = find_tool("kubectl"), find_tool("helm")
    assert kubectl and helm
    namespace = os.environ.get(ENV_NAMESPACE, DEFAULT_NAMESPACE)
    c = Cluster(Path(os.environ[ENV_KUBECONFIG]), kubectl, helm, namespace)
    version = c.kubectl("version", "-o", "json", check=False)
    if version.returncode != 0:
        pytest.fail(f"the cluster in {ENV_KUBECONFIG} does not answer: {version.stderr.strip()[:500]}", pytrace=False)
    return c


@pytest.fixture(scope="session")
def installed(cluster: Cluster) -> Iterator[Cluster]:
    """helm upgrade --install the chart, wait for every component, uninstall at the end."""
    image = os.environ.get(ENV_IMAGE, DEFAULT_IMAGE)
    repository, _, tag = image.rpartition(":")
    if not repository or "/" in tag:
        repository, tag = image, "latest"
    args = [
        "upgrade",
        "--install",
        RELEASE,
        str(CHART_DIR),
        "--namespace",
        cluster.namespace,
        "--create-namespace",
        "--set",
        f"image.repository={repository}",
        "--set",
        f"image.tag={tag}",
        "--wait",
        "--timeout",
        "10m",
    ]
    values = os.environ.get(ENV_VALUES)
    if values:
        args += ["--values", values]
    cluster.helm(*args, timeout=700)
    for component in ("operator", "csi-controller", "csi-node", "target"):
        wait_for(f"{component} pods Ready", lambda c=component: _all_ready(cluster, c), timeout_s=300)
    try:
        yield cluster
    finally:
        cluster.helm("uninstall", RELEASE, "--namespace", cluster.namespace, "--wait", "--timeout", "5m", timeout=400)
        cluster.kubectl(
            "delete", "namespace", cluster.namespace, "--wait=true", "--timeout=180s", check=False, timeout=200
        )


def _all_ready(cluster: Cluster, component: str) -> bool:
    pods = cluster.component_pods(component)
    return bool(pods) and all(
        any(c["type"] == "Ready" and c["status"] == "True" for c in p.get("status", {}).get("conditions", []))
        for p in pods
    )
