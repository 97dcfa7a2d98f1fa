"""The chart ships the repository's CRDs unchanged (Helm installs charts/nearpath/crds/ first)."""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[2]
CRDS = REPO / "crds"
CHART_CRDS = REPO / "charts" / "nearpath" / "crds"


def test_chart_crds_are_the_repository_crds() -> None:
    source = {p.name: p.read_bytes() for p in CRDS.glob("*.yaml")}
    shipped = {p.name: p.read_bytes() for p in CHART_CRDS.glob("*.yaml")}
    assert source, "crds/ holds no CRD"
    assert set(shipped) == set(source), f"chart CRD files {sorted(shipped)} != crds/ files {sorted(source)}"
    stale = sorted(name for name in source if shipped[name] != source[name])
    assert not stale, f"charts/nearpath/crds/ is stale for {stale}: run tools/chart-check --sync-crds"
