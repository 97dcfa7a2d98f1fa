"""Size check: production files stay small and functions short.

Every ``*.py`` of the component folders (those ``nearpath/`` links to: ``core/``, ``operator/``,
``csi/``, ``target/``) and of ``nearpath/`` itself, the generated ``csi/proto/`` excepted, has at
most ``MAX_FILE_LINES`` lines and no function or method longer than ``MAX_FUNCTION_LINES`` lines
(``def`` line to last line, decorators and docstring included). Run by ``make lint`` and by a
unit test; exit code 1 lists every violation as ``file:line: what``.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXCLUDED = ("csi/proto",)
MAX_FILE_LINES = 450
MAX_FUNCTION_LINES = 60


def component_folders(root: Path = ROOT) -> list[str]:
    """The folders ``nearpath/`` maps in through symlinks (``nearpath/core -> ../core``, ...)."""
    return sorted(p.name for p in (root / "nearpath").iterdir() if p.is_symlink())


def production_files(root: Path = ROOT) -> Iterator[Path]:
    for package in [*component_folders(root), "nearpath"]:
        base = root / package
        # nearpath/{core,operator,csi,target} are symlinks to the folders above: skip them.
        for path in sorted(base.rglob("*.py")):
            rel = path.relative_to(root).as_posix()
            if any(rel.startswith(f"{ex}/") for ex in EXCLUDED):
                continue
            if package == "nearpath" and path.parent != base:
                continue
            yield path


def _functions(tree: ast.AST) -> Iterator[ast.FunctionDef | ast.AsyncFunctionDef]:
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            yield node


def _function_length(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
    return (node.end_lineno or node.lineno) - first + 1


def violations(root: Path = ROOT) -> list[str]:
    out = []
    for path in production_files(root):
        rel = path.relative_to(root).as_posix()
        text = path.read_text()
        lines = len(text.splitlines())
        if lines > MAX_FILE_LINES:
            out.append(f"{rel}:1: file has {lines} lines (max {MAX_FILE_LINES})")
        for func in _functions(ast.parse(text, filename=rel)):
            length = _function_length(func)
            if length > MAX_FUNCTION_LINES:
                out.append(f"{rel}:{func.lineno}: {func.name} has {length} lines (max {MAX_FUNCTION_LINES})")
    return out


def main() -> int:
    found = violations()
    for line in found:
        print(line)
    if found:
        print(f"sizes: {len(found)} violation(s)", file=sys.stderr)
        return 1
    print("sizes: ok")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
