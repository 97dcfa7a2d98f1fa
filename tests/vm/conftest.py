"""Make the VM tier runnable on its own (``pytest tests/vm``).

Registers the ``tests.fixtures.vm`` plugin unless the root conftest already
lists it in ``pytest_plugins``.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

PLUGIN = "tests.fixtures.vm"


def pytest_configure(config: pytest.Config) -> None:
    if not config.pluginmanager.has_plugin(PLUGIN):
        config.pluginmanager.register(importlib.import_module(PLUGIN), PLUGIN)
