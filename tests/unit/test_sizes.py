"""Production files stay at most 450 lines, production functions at most 60 (tools/check_sizes.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tools.check_sizes import violations

pytestmark = pytest.mark.unit


def test_production_code_respects_the_size_limits() -> None:
    assert violations() == []


def test_check_catches_long_files_and_functions(tmp_path: Path) -> None:
    (tmp_path / "nearpath").mkdir()
    for package in ("core", "operator", "csi", "target"):
        (tmp_path / package).mkdir()
        (tmp_path / "nearpath" / package).symlink_to(f"../{package}")
    (tmp_path / "csi" / "proto").mkdir()
    long_body = "".join(f"    x{i} = {i}\n" for i in range(60))
    (tmp_path / "core" / "long_function.py").write_text(f"@decorator\ndef f():\n{long_body}")
    (tmp_path / "target" / "long_file.py").write_text("x = 1\n" * 451)
    (tmp_path / "operator" / "fine.py").write_text("def g():\n" + "    pass\n" * 59)
    (tmp_path / "csi" / "proto" / "generated.py").write_text("x = 1\n" * 5000)
    assert violations(tmp_path) == [
        "core/long_function.py:2: f has 62 lines (max 60)",
        "target/long_file.py:1: file has 451 lines (max 450)",
    ]
