"""The test-bed cache (``NEARPATH_CACHE``, default ``~/.cache/nearpath``) that ``make setup`` fills."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    env = os.environ.get("NEARPATH_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "nearpath"


def cache_bin_dir() -> Path:
    return cache_dir() / "bin"
