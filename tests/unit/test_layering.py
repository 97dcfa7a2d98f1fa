"""Components import the core and never each other."""

from __future__ import annotations

from pathlib import Path

import pytest

from tools.check_layering import violations

pytestmark = pytest.mark.unit


def test_repository_respects_layering() -> None:
    assert violations() == []


def test_check_catches_a_component_importing_another(tmp_path: Path) -> None:
    for layer in ("core", "operator", "csi", "target"):
        (tmp_path / layer).mkdir()
    (tmp_path / "csi" / "bad.py").write_text("from nearpath.operator import decisions\nimport nearpath.core.api\n")
    (tmp_path / "core" / "worse.py").write_text("import nearpath.target.agent\n")
    assert violations(tmp_path) == [
        "core/worse.py:1: nearpath.core imports nearpath.target",
        "csi/bad.py:1: nearpath.csi imports nearpath.operator",
    ]
