"""Architecture guards: the import contracts hold, and the `nearpath/` symlink layout stays intact.

The contracts themselves live in ``pyproject.toml`` (``[tool.importlinter]``; ``make lint`` runs
``lint-imports``). The layout: ``nearpath/{core,operator,csi,target}`` are relative symlinks to
the top-level folders, which have no ``__init__.py`` (implicit namespace packages inside the
regular package ``nearpath``). Importing them from the repository root (``import core.kube``)
would load second copies of the modules with distinct classes, so nothing may.
"""

from __future__ import annotations

import ast
import os
from pathlib import Path

import pytest
from importlinter import cli as importlinter_cli

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
FOLDERS = tuple(sorted(p.name for p in (ROOT / "nearpath").iterdir() if p.is_symlink()))
SCANNED = (*FOLDERS, "nearpath", "tests", "tools")


def test_the_component_folders_are_known() -> None:
    assert {"core", "operator", "csi", "target"} <= set(FOLDERS)


def test_import_contracts_hold(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    assert importlinter_cli.lint_imports(config_filename=str(ROOT / "pyproject.toml"), no_cache=True) == 0


@pytest.mark.parametrize("folder", FOLDERS)
def test_component_folder_is_a_symlinked_namespace_package(folder: str) -> None:
    link = ROOT / "nearpath" / folder
    assert link.is_symlink(), f"nearpath/{folder} must be a symlink to ../{folder}"
    assert os.readlink(link) == f"../{folder}"
    assert not (ROOT / folder / "__init__.py").exists(), (
        f"{folder}/__init__.py would make `{folder}` a top-level package (for `operator`: the stdlib's name)"
    )


def _component_modules() -> dict[str, set[str]]:
    return {
        folder: {p.stem for p in (ROOT / folder).glob("*.py")}
        | {p.name for p in (ROOT / folder).iterdir() if p.is_dir()}
        for folder in FOLDERS
    }


def root_level_imports(tree: ast.AST, modules: dict[str, set[str]]) -> list[tuple[int, str]]:
    """Imports that name a component folder from the repository root instead of ``nearpath.<folder>``."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [(alias.name, None) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [(node.module, [alias.name for alias in node.names])]
        else:
            continue
        for name, imported in names:
            top, _, rest = name.partition(".")
            if top not in FOLDERS:
                continue
            if top == "operator":  # the stdlib's `operator` is fine; our modules are not
                sub = rest.partition(".")[0] if rest else None
                ours = (sub in modules[top]) if sub else any(n in modules[top] for n in imported or [])
                if not ours:
                    continue
            found.append((node.lineno, name))
    return found


def test_nothing_imports_a_component_folder_from_the_root() -> None:
    modules = _component_modules()
    offenders = []
    for base in SCANNED:
        for path in sorted((ROOT / base).rglob("*.py")):
            rel = path.relative_to(ROOT)
            if (rel.parts[0] == "nearpath" and len(rel.parts) > 2) or "proto" in rel.parts:
                continue  # nearpath/<folder>/... are the symlinked copies; csi/proto is generated
            tree = ast.parse(path.read_text(), filename=str(rel))
            offenders += [f"{rel}:{line}: import {name}" for line, name in root_level_imports(tree, modules)]
    assert offenders == []


def test_the_guard_catches_root_level_imports() -> None:
    modules = {folder: set() for folder in FOLDERS} | {"core": {"kube"}, "operator": {"decisions"}}
    source = (
        "import core.kube\n"
        "from csi import node\n"
        "from target.agent import TargetAgent\n"
        "import operator\n"
        "from operator import itemgetter\n"
        "from operator import decisions\n"
        "import operator.decisions\n"
        "import nearpath.core.kube\n"
    )
    assert root_level_imports(ast.parse(source), modules) == [
        (1, "core.kube"),
        (2, "csi"),
        (3, "target.agent"),
        (6, "operator"),
        (7, "operator.decisions"),
    ]
