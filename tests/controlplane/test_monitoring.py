"""The chart's alerts and dashboard: the PrometheusRule's rules pass `promtool test rules` (each
alert fires on the series that mean trouble, after its `for`, and stays quiet otherwise); the
Grafana dashboard ConfigMap holds a well-formed dashboard whose every query parses (promtool).
Only the metrics nearpath serves are used, besides kubelet/kube-state-metrics where named."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from tests.controlplane.chart import documents, render
from tests.controlplane.cluster import cache_bin_dir
from tests.metrics_contract import FAMILIES

pytestmark = pytest.mark.controlplane

NS = "nearpath-system"


def promtool() -> str:
    cached = cache_bin_dir() / "promtool"
    found = str(cached) if os.access(cached, os.X_OK) else shutil.which("promtool")
    if found is None:
        pytest.skip("promtool not found: run tools/fetch-promtool (make setup does)")
    return found


def rule_groups() -> list[dict[str, Any]]:
    docs = documents(render("nearpath", NS, set_values=["prometheusRule.enabled=true"]))
    (rule,) = [d for d in docs if d["kind"] == "PrometheusRule"]
    groups: list[dict[str, Any]] = rule["spec"]["groups"]
    return groups


def _annotation(template: str, labels: dict[str, str], value: str) -> str:
    out = re.sub(r"\{\{ \$labels\.(\w+) \}\}", lambda m: labels.get(m.group(1), ""), template)
    return re.sub(r"\{\{ \$value( \| humanize)? \}\}", value, out)


def expected(alert: str, labels: dict[str, str], value: str = "1") -> dict[str, Any]:
    """What promtool must see for ``alert`` firing with ``labels`` (annotations rendered)."""
    rule = next(r for g in rule_groups() for r in g["rules"] if r["alert"] == alert)
    return {
        "exp_labels": {**labels, **rule["labels"]},
        "exp_annotations": {k: _annotation(v, labels, value) for k, v in rule["annotations"].items()},
    }


VOL = {"node": "n1", "volume": "ns/vg"}


def _paths(state: str, values: str, **labels: str) -> dict[str, str]:
    lab = {**VOL, "wwid": "36001405aa", "state": state, **labels}
    inner = ",".join(f'{k}="{v}"' for k, v in lab.items())
    return {"series": f"nearpath_node_volume_paths{{{inner}}}", "values": values}


CASES: list[dict[str, Any]] = [
    {  # one path faulty from minute 2: fires only once it has been down for pathDownFor (5m)
        "input": [_paths("active", "2 2 1x20"), _paths("faulty", "0 0 1x20"), _paths("ghost", "0x22")],
        "alerts": {"NearpathPathDown": {6: [], 8: [("n1 vol", "1")]}, "NearpathVolumeNoPath": {8: []}},
    },
    {  # every path gone: no usable path after 1m
        "input": [_paths("active", "2 0x10"), _paths("missing", "0 2x10"), _paths("ghost", "0x11")],
        "alerts": {"NearpathVolumeNoPath": {1: [], 3: [("n1 vol", "0")]}},
    },
]


def _alert_tests() -> list[dict[str, Any]]:
    vol_labels = dict(VOL)
    tests: list[dict[str, Any]] = []
    for case in CASES:
        checks = []
        for alert, times in case["alerts"].items():
            for minute, firing in times.items():
                exp = [expected(alert, vol_labels, value) for _who, value in firing]
                checks.append({"eval_time": f"{minute}m", "alertname": alert, "exp_alerts": exp})
        tests.append({"interval": "1m", "input_series": case["input"], "alert_rule_test": checks})
    tests += _simple_cases()
    return tests


def _series(name: str, values: str, **labels: str) -> dict[str, str]:
    inner = ",".join(f'{k}="{v}"' for k, v in labels.items())
    return {"series": f"{name}{{{inner}}}", "values": values}


def _simple_cases() -> list[dict[str, Any]]:
    """(input series, alert, minute quiet, minute firing, firing labels, $value)."""
    flapping = _series("nearpath_node_volume_path_group_switches_total", "0+1x40", **VOL)
    calm = _series("nearpath_node_volume_path_group_switches_total", "0 1 2 2x40", node="n2", volume="ns/other")
    pvc = {"namespace": "apps", "persistentvolumeclaim": "data"}
    other = {"namespace": "apps", "persistentvolumeclaim": "elsewhere"}
    rows: list[tuple[list[dict[str, str]], str, int, int, dict[str, str], str]] = [
        (
            [_series("nearpath_operator_volumegroups", "0 1x10", condition="Degraded", status="True")],
            "NearpathVolumeGroupDegraded",
            4,
            7,
            {},
            "1",
        ),
        (
            [_series("nearpath_operator_failovers_total", "0 0 1 1 1", reason="LeaseExpired")],
            "NearpathFailover",
            1,
            3,
            {"reason": "LeaseExpired"},
            "1",
        ),
        ([flapping, calm], "NearpathAluaFlapping", 3, 10, dict(VOL), "10"),
        (
            [_series("nearpath_node_multipathd_up", "1 0x5", node="n1")],
            "NearpathMultipathdDown",
            2,
            4,
            {"node": "n1"},
            "0",
        ),
        (
            [_series("nearpath_target_lease_renewal_errors_total", "0 0 1 2 3 4 5 6", node="n1")],
            "NearpathTargetLeaseRenewalFailing",
            2,
            6,
            {"node": "n1"},
            "1",
        ),
        (
            [_series("up", "1 0x5", namespace=NS, service="nearpath-target-metrics", node="n1")],
            "NearpathTargetAgentDown",
            2,
            4,
            {"namespace": NS, "service": "nearpath-target-metrics", "node": "n1"},
            "0",
        ),
        (
            [
                _series(
                    "kube_pod_init_container_status_waiting_reason",
                    "0 1x10",
                    namespace=NS,
                    pod="nearpath-csi-node-x",
                    container="preflight",
                    reason="CrashLoopBackOff",
                )
            ],
            "NearpathPreflightFailing",
            4,
            7,
            {"pod": "nearpath-csi-node-x"},
            "1",
        ),
        (
            [
                _series("kubelet_volume_stats_used_bytes", "50 90x10", **pvc),
                _series("kubelet_volume_stats_capacity_bytes", "100x11", **pvc),
                _series("kube_persistentvolumeclaim_info", "1x11", storageclass="nearpath-local", **pvc),
                _series("kubelet_volume_stats_used_bytes", "99x11", **other),
                _series("kubelet_volume_stats_capacity_bytes", "100x11", **other),
                _series("kube_persistentvolumeclaim_info", "1x11", storageclass="standard", **other),
            ],
            "NearpathCapacityThreshold",
            4,
            7,
            {**pvc, "storageclass": "nearpath-local"},
            "90",
        ),
    ]
    out = []
    for series, alert, quiet, firing, labels, value in rows:
        checks = [
            {"eval_time": f"{quiet}m", "alertname": alert, "exp_alerts": []},
            {"eval_time": f"{firing}m", "alertname": alert, "exp_alerts": [expected(alert, labels, value)]},
        ]
        out.append({"interval": "1m", "input_series": series, "alert_rule_test": checks})
    return out


def test_every_alert_is_tested_and_uses_served_metrics() -> None:
    alerts = {r["alert"]: r["expr"] for g in rule_groups() for r in g["rules"]}
    tested = {c["alertname"] for t in _alert_tests() for c in t["alert_rule_test"]}
    assert set(alerts) == tested
    served = {f for fams in FAMILIES.values() for f in fams}
    for alert, expr in alerts.items():
        for name in re.findall(r"\b(nearpath_[a-z_]+)", expr):
            base = re.sub(r"_(bucket|count|sum)$", "", name)
            assert name in served or base in served, f"{alert} uses {name}, which nothing serves"


def test_promtool_rules(tmp_path: Path) -> None:
    tool = promtool()
    rules = tmp_path / "rules.yaml"
    rules.write_text(yaml.safe_dump({"groups": rule_groups()}, sort_keys=False))
    check = subprocess.run(
        [tool, "check", "rules", str(rules)], capture_output=True, text=True, check=False, timeout=60
    )
    assert check.returncode == 0, check.stdout + check.stderr
    spec = {"rule_files": [str(rules)], "evaluation_interval": "1m", "tests": _alert_tests()}
    test_file = tmp_path / "tests.yaml"
    test_file.write_text(yaml.safe_dump(spec, sort_keys=False))
    run = subprocess.run(
        [tool, "test", "rules", str(test_file)], capture_output=True, text=True, check=False, timeout=120
    )
    assert run.returncode == 0, run.stdout + run.stderr


DASHBOARD_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["uid", "title", "schemaVersion", "panels", "templating", "time"],
    "properties": {
        "uid": {"type": "string", "pattern": "^[a-zA-Z0-9_-]{1,40}$"},
        "title": {"type": "string", "minLength": 1},
        "schemaVersion": {"type": "integer", "minimum": 30},
        "time": {"type": "object", "required": ["from", "to"]},
        "templating": {
            "type": "object",
            "required": ["list"],
            "properties": {
                "list": {
                    "type": "array",
                    "items": {"type": "object", "required": ["name", "type"]},
                }
            },
        },
        "panels": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["id", "type", "title", "gridPos"],
                "properties": {
                    "id": {"type": "integer"},
                    "type": {"enum": ["row", "timeseries", "stat", "table", "gauge", "bargauge", "text"]},
                    "gridPos": {
                        "type": "object",
                        "required": ["x", "y", "w", "h"],
                        "properties": {
                            "x": {"type": "integer", "minimum": 0, "maximum": 23},
                            "w": {"type": "integer", "minimum": 1, "maximum": 24},
                        },
                    },
                    "targets": {
                        "type": "array",
                        "items": {"type": "object", "required": ["refId", "expr"]},
                    },
                },
            },
        },
    },
}
GRAFANA_VARIABLES = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "1h", "$node": ".*", "$volume": ".*"}


def dashboard() -> dict[str, Any]:
    (cm,) = [
        d
        for d in documents(render("nearpath", NS, set_values=["grafanaDashboard.enabled=true"]))
        if d["kind"] == "ConfigMap" and d["metadata"]["name"].endswith("-dashboard")
    ]
    assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
    board: dict[str, Any] = json.loads(cm["data"]["nearpath.json"])
    return board


def test_dashboard_model() -> None:
    board = dashboard()
    jsonschema.validate(board, DASHBOARD_SCHEMA)
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids))
    for panel in board["panels"]:
        if panel["type"] != "row":
            assert panel.get("targets"), f"panel {panel['title']!r} has no query"
            assert panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24
    titles = " ".join(p["title"] for p in board["panels"])
    for topic in ("by node", "Paths by state", "failovers"):
        assert topic.lower() in titles.lower()


def test_dashboard_queries_parse_and_use_served_metrics(tmp_path: Path) -> None:
    tool = promtool()
    exprs = [t["expr"] for p in dashboard()["panels"] for t in p.get("targets", [])]
    served = {f for fams in FAMILIES.values() for f in fams}
    rules = []
    for i, query in enumerate(exprs):
        expr = query
        for var, value in GRAFANA_VARIABLES.items():
            expr = expr.replace(var, value)
        assert "$" not in expr, expr
        for name in re.findall(r"\b(nearpath_[a-z_]+)", expr):
            assert re.sub(r"_(bucket|count|sum)$", "", name) in served, f"{name} is served by nothing"
        rules.append({"record": f"nearpath:dashboard_query_{i}", "expr": expr})
    path = tmp_path / "queries.yaml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    check = subprocess.run([tool, "check", "rules", str(path)], capture_output=True, text=True, check=False, timeout=60)
    assert check.returncode == 0, check.stdout + check.stderr
    assert f"SUCCESS: {len(rules)} rules found" in check.stdout
