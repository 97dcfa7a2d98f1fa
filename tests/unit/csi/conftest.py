"""Fixtures of the CSI unit tests (helpers live in :mod:`tests.unit.csi.helpers`)."""

from __future__ import annotations

import pytest

from tests.unit.csi.helpers import FakeContext


@pytest.fixture
def ctx() -> FakeContext:
    return FakeContext()
