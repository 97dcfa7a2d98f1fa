"""Layering check: components import nearpath.core, never each other.

``nearpath.operator``, ``nearpath.csi`` and ``nearpath.target`` may import ``nearpath.core``
and third-party packages; ``nearpath.core`` imports no component. Run by ``make lint`` and
by a unit test. Exit code 1 lists every violation as ``file:line: module imports module``.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LAYERS = {"core": set(), "operator": {"core"}, "csi": {"core"}, "target": {"core"}}


def _imported_components(tree: ast.AST) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        for name in names:
            parts = name.split(".")
            if parts[0] == "nearpath" and len(parts) > 1 and parts[1] in LAYERS:
                found.append((node.lineno, parts[1]))
    return found


def violations(root: Path = ROOT) -> list[str]:
    out = []
    for layer, allowed in LAYERS.items():
        for path in sorted((root / layer).rglob("*.py")):
            tree = ast.parse(path.read_text(), filename=str(path))
            for lineno, imported in _imported_components(tree):
                if imported != layer and imported not in allowed:
                    out.append(f"{path.relative_to(root)}:{lineno}: nearpath.{layer} imports nearpath.{imported}")
    return out


def main() -> int:
    found = violations()
    for line in found:
        print(line)
    if found:
        print(f"layering: {len(found)} violation(s): components may import nearpath.core only", file=sys.stderr)
        return 1
    print("layering: ok")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
