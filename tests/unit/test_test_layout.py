"""The test tree keeps one way to do each thing: no module imports a conftest (fixtures stay
there, helpers live in modules), unit tests import no stand-ins from the bench or sanity
folders (shared fakes live in tests/support), and no test module spells its own poll loop,
kubectl wrapper or process starter (tests/support has one of each)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

TESTS = Path(__file__).resolve().parents[1]
ONE_OF_EACH = {"poll", "wait_for", "kubectl", "start_process", "start_nearpath", "run_kubectl"}
DELEGATES = {"run_kubectl", "make_kubectl", "wait_for", "start_process", "start_nearpath"}
OWNERS = {"tests/support/polling.py", "tests/support/kubectl.py", "tests/support/processes.py"}


def modules() -> list[tuple[str, ast.Module]]:
    return [
        (str(p.relative_to(TESTS.parent)), ast.parse(p.read_text()))
        for p in sorted(TESTS.rglob("*.py"))
        if "guest" not in p.parts  # runs inside the VMs, on its own
    ]


def imported(tree: ast.Module) -> list[str]:
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
        elif isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
    return names


def test_no_module_imports_a_conftest() -> None:
    offenders = [f"{path}: {mod}" for path, tree in modules() for mod in imported(tree) if mod.endswith("conftest")]
    assert not offenders, offenders


def test_unit_tests_import_no_bench_or_sanity_stand_ins() -> None:
    offenders = [
        f"{path}: {mod}"
        for path, tree in modules()
        if path.startswith("tests/unit/")
        for mod in imported(tree)
        if mod.startswith(("tests.bench", "tests.sanity"))
    ]
    assert not offenders, offenders


def delegates(node: ast.FunctionDef) -> bool:
    """A thin adapter (a fixture, a method binding a kubeconfig) that calls the support helper."""
    return any(isinstance(n, ast.Name) and n.id in DELEGATES for n in ast.walk(node))


def test_one_poll_helper_kubectl_wrapper_and_process_starter() -> None:
    offenders = [
        f"{path}: def {node.name}"
        for path, tree in modules()
        if path not in OWNERS
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef) and node.name in ONE_OF_EACH and not delegates(node)
    ]
    assert not offenders, f"use tests/support instead: {offenders}"
