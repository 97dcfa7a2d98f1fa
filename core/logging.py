"""Structured logging for every nearpath process.

One JSON object per line (or a readable text form for humans), with the ``extra`` fields a
call site passes. A filter masks registered secret values in the message and in every
extra field, so a secret that slipped into a log call is still not written.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
from datetime import UTC, datetime
from typing import Any

from nearpath.core.masking import mask_text

_RESERVED = set(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime"}
_secrets: set[str] = set()
_secrets_lock = threading.Lock()


def register_secret(value: str) -> None:
    """Mask ``value`` in every log record from now on (CHAP passwords, tokens)."""
    if value:
        with _secrets_lock:
            _secrets.add(value)


def _mask(value: Any) -> Any:
    with _secrets_lock:
        secrets = list(_secrets)
    if not secrets:
        return value
    if isinstance(value, str):
        return mask_text(value, secrets)
    if isinstance(value, list | tuple):
        return [_mask(v) for v in value]
    if isinstance(value, dict):
        return {k: _mask(v) for k, v in value.items()}
    return value


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in vars(record).items() if k not in _RESERVED and not k.startswith("_")}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": _mask(record.getMessage()),
        }
        for key, value in _extras(record).items():
            entry[key] = _mask(value)
        if record.exc_info:
            entry["exc"] = _mask(self.formatException(record.exc_info))
        return json.dumps(entry, default=str)


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        extras = " ".join(f"{k}={_mask(v)!r}" for k, v in _extras(record).items())
        line = f"{record.levelname[0]} {record.name}: {_mask(record.getMessage())}"
        if extras:
            line = f"{line} {extras}"
        if record.exc_info:
            line = f"{line}\n{_mask(self.formatException(record.exc_info))}"
        return line


def configure(level: str = "info", fmt: str = "json") -> None:
    """Install nearpath's formatter on the root logger (idempotent)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
