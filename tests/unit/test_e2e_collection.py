"""The e2e suite collects anywhere and skips cleanly (with its reason) without a kubeconfig."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[2]


def run_pytest(*args: str, env_extra: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEARPATH_E2E_")}
    env.update(env_extra or {})
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_e2e_suite_collects() -> None:
    proc = run_pytest("--collect-only", "-q", "-m", "e2e", "tests/e2e")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "test_volume_lifecycle.py::test_volume_survives_losing_its_own_node_target" in proc.stdout


def test_e2e_suite_skips_without_kubeconfig() -> None:
    proc = run_pytest("-m", "e2e", "-rs", "tests/e2e")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert " skipped in " in out and "passed" not in out and "failed" not in out and "error" not in out.lower(), out
    assert "NEARPATH_E2E_KUBECONFIG is not set" in out, out


def test_e2e_suite_skips_when_kubeconfig_is_missing(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    proc = run_pytest("-m", "e2e", "-rs", "tests/e2e", env_extra={"NEARPATH_E2E_KUBECONFIG": str(missing)})
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert " skipped in " in out and "passed" not in out and f"{missing} is not a file" in out, out


def test_e2e_suite_fails_loudly_on_an_unreachable_cluster(tmp_path: Path) -> None:
    """A kubeconfig that names no cluster must not pass silently: the run fails, naming it."""
    config = tmp_path / "kubeconfig"
    config.write_text(
        "apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: 'https://127.0.0.1:9'}}]\n"
        "users: [{name: u, user: {token: t}}]\ncontexts: [{name: c, context: {cluster: c, user: u}}]\n"
        "current-context: c\n"
    )
    proc = run_pytest("-m", "e2e", "-x", "tests/e2e", env_extra={"NEARPATH_E2E_KUBECONFIG": str(config)})
    out = proc.stdout + proc.stderr
    if "not found on PATH or in the test-bed cache" in out:
        pytest.skip("kubectl/helm unavailable here")
    assert proc.returncode != 0, out
    assert "does not answer" in out, out
