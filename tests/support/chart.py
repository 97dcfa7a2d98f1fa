"""Rendering the Helm chart (charts/nearpath) with the helm that ``make setup`` caches."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from tests.support.cache import cache_bin_dir

REPO_ROOT = Path(__file__).resolve().parents[2]
CHART_DIR = REPO_ROOT / "charts" / "nearpath"
CHART_CRD_DIR = CHART_DIR / "crds"
CI_VALUES_DIR = CHART_DIR / "ci"
# Values sets every check runs with: the defaults, everything on, and the kind profile.
VALUES_SETS: dict[str, Path | None] = {
    "default": None,
    "all-enabled": CI_VALUES_DIR / "all-enabled-values.yaml",
    "kind": CI_VALUES_DIR / "kind-values.yaml",
}
HELM_TIMEOUT_S = 60


def helm_binary() -> str | None:
    """helm from the test-bed cache, else from PATH."""
    cached = cache_bin_dir() / "helm"
    if os.access(cached, os.X_OK):
        return str(cached)
    return shutil.which("helm")


def render(
    release: str,
    namespace: str,
    values: Path | None = None,
    set_values: Sequence[str] = (),
    show_only: Sequence[str] = (),
) -> str:
    """``helm template`` of the chart (CRDs excluded: they are applied from crds/)."""
    helm = helm_binary()
    if helm is None:
        raise RuntimeError("helm not found (run tests/controlplane/fetch)")
    cmd = [helm, "template", release, str(CHART_DIR), "--namespace", namespace]
    if values is not None:
        cmd += ["--values", str(values)]
    for item in set_values:
        cmd += ["--set", item]
    for template in show_only:
        cmd += ["--show-only", template]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=HELM_TIMEOUT_S, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"helm template failed ({proc.returncode}): {proc.stderr}")
    return proc.stdout


def documents(manifest: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(manifest) if doc]
