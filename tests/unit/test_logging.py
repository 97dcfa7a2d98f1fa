"""Structured logs never carry a registered secret."""

from __future__ import annotations

import json
import logging

import pytest

from nearpath.core import logging as nplog

pytestmark = pytest.mark.unit


def test_json_logs_mask_registered_secrets(capsys: pytest.CaptureFixture[str]) -> None:
    nplog.configure("debug", "json")
    nplog.register_secret("chap-Secret-123")
    log = logging.getLogger("nearpath.test")
    log.info("login with chap-Secret-123", extra={"argv": ["iscsiadm", "-v", "chap-Secret-123"], "node": "a"})
    line = capsys.readouterr().err.strip().splitlines()[-1]
    entry = json.loads(line)
    assert "chap-Secret-123" not in line
    assert entry["msg"] == "login with ***"
    assert entry["argv"] == ["iscsiadm", "-v", "***"]
    assert entry["node"] == "a" and entry["level"] == "info" and entry["logger"] == "nearpath.test"


def test_text_logs_mask_too(capsys: pytest.CaptureFixture[str]) -> None:
    nplog.configure("info", "text")
    nplog.register_secret("another-secret-value")
    logging.getLogger("nearpath.test").warning("x", extra={"detail": "another-secret-value"})
    err = capsys.readouterr().err
    assert "another-secret-value" not in err and "***" in err
