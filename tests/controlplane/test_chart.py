"""The chart's rendered objects pass the real API server's validation (server-side dry run).

``kubectl apply --dry-run=server --validate=strict`` runs every object through the API
server's decoding, strict field validation (unknown or duplicate fields fail), defaulting,
validation and admission, without persisting anything. CRDs are applied first (from the
chart's crds/ folder) so StorageClass parameters, RBAC rules naming nearpath.io resources
and everything else are checked against the server that serves them. The test bed has no
prometheus-operator, so a trimmed ServiceMonitor CRD (the fields the chart uses, no
``x-kubernetes-preserve-unknown-fields``) is installed to validate the ServiceMonitor too.
"""

from __future__ import annotations

import re

import pytest
import yaml

from tests.fixtures.controlplane import Kubectl
from tests.support.chart import CHART_CRD_DIR, VALUES_SETS, documents, render

pytestmark = pytest.mark.controlplane

RELEASE = "nearpath"
NAMESPACE = "nearpath-system"
EXTRA_NAMESPACES = ("nearpath-chap",)  # named by ci/all-enabled-values.yaml rbac.secretNamespaces
DRY_RUN_LINE = re.compile(r"^\S+ (created|configured|unchanged) \(server dry run\)$")

_STR = {"type": "string"}
DURATION_PATTERN = "^(0|(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$"
SERVICE_MONITOR_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "servicemonitors.monitoring.coreos.com"},
    "spec": {
        "group": "monitoring.coreos.com",
        "scope": "Namespaced",
        "names": {
            "kind": "ServiceMonitor",
            "listKind": "ServiceMonitorList",
            "plural": "servicemonitors",
            "singular": "servicemonitor",
        },
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "required": ["spec"],
                        "properties": {
                            "spec": {
                                "type": "object",
                                "required": ["selector", "endpoints"],
                                "properties": {
                                    "selector": {
                                        "type": "object",
                                        "properties": {
                                            "matchLabels": {"type": "object", "additionalProperties": _STR},
                                        },
                                    },
                                    "namespaceSelector": {
                                        "type": "object",
                                        "properties": {
                                            "matchNames": {"type": "array", "items": _STR},
                                            "any": {"type": "boolean"},
                                        },
                                    },
                                    "endpoints": {
                                        "type": "array",
                                        "items": {
                                            "type": "object",
                                            "properties": {
                                                "port": _STR,
                                                "path": _STR,
                                                "interval": {
                                                    "type": "string",
                                                    "pattern": DURATION_PATTERN,
                                                },
                                                "relabelings": {
                                                    "type": "array",
                                                    "items": {
                                                        "type": "object",
                                                        "properties": {
                                                            "sourceLabels": {"type": "array", "items": _STR},
                                                            "targetLabel": _STR,
                                                            "action": _STR,
                                                        },
                                                    },
                                                },
                                            },
                                        },
                                    },
                                },
                            },
                        },
                    }
                },
            }
        ],
    },
}


_STR_MAP = {"type": "object", "additionalProperties": _STR}
RULE_SCHEMA = {
    "type": "object",
    "required": ["expr"],
    "properties": {
        "alert": _STR,
        "record": _STR,
        "expr": {"x-kubernetes-int-or-string": True},
        "for": {"type": "string", "pattern": DURATION_PATTERN},
        "labels": _STR_MAP,
        "annotations": _STR_MAP,
    },
}
PROMETHEUS_RULE_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "prometheusrules.monitoring.coreos.com"},
    "spec": {
        "group": "monitoring.coreos.com",
        "scope": "Namespaced",
        "names": {
            "kind": "PrometheusRule",
            "listKind": "PrometheusRuleList",
            "plural": "prometheusrules",
            "singular": "prometheusrule",
        },
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "properties": {
                            "spec": {
                                "type": "object",
                                "properties": {
                                    "groups": {
                                        "type": "array",
                                        "items": {
                                            "type": "object",
                                            "required": ["name", "rules"],
                                            "properties": {
                                                "name": _STR,
                                                "interval": _STR,
                                                "rules": {"type": "array", "items": RULE_SCHEMA},
                                            },
                                        },
                                    }
                                },
                            }
                        },
                    }
                },
            }
        ],
    },
}


@pytest.fixture(scope="module")
def chart_crds(kubectl: Kubectl) -> None:
    """Install the chart's CRDs (and the ServiceMonitor and PrometheusRule stand-ins), wait until Established."""
    applied = kubectl("apply", "--server-side", "--force-conflicts", "-f", str(CHART_CRD_DIR))
    assert applied.returncode == 0, applied.stderr
    for stand_in in (SERVICE_MONITOR_CRD, PROMETHEUS_RULE_CRD):
        applied = kubectl("apply", "-f", "-", input=yaml.safe_dump(stand_in))
        assert applied.returncode == 0, applied.stderr
    for crd in (
        "volumegroups.nearpath.io",
        "servicemonitors.monitoring.coreos.com",
        "prometheusrules.monitoring.coreos.com",
    ):
        waited = kubectl("wait", "--for=condition=Established", f"crd/{crd}", "--timeout=60s", timeout=70)
        assert waited.returncode == 0, waited.stderr
    for ns in (NAMESPACE, *EXTRA_NAMESPACES):
        created = kubectl("create", "namespace", ns)
        assert created.returncode == 0 or "AlreadyExists" in created.stderr, created.stderr


def dry_run(kubectl: Kubectl, manifest: str) -> list[str]:
    proc = kubectl("apply", "--dry-run=server", "--validate=strict", "-f", "-", input=manifest, timeout=120)
    assert proc.returncode == 0, f"server dry run rejected the chart:\n{proc.stderr}\n{proc.stdout[-2000:]}"
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    bad = [line for line in lines if not DRY_RUN_LINE.match(line)]
    assert not bad, f"unexpected kubectl output: {bad}"
    return lines


@pytest.mark.parametrize("values_set", sorted(VALUES_SETS))
def test_rendered_chart_passes_server_dry_run(kubectl: Kubectl, chart_crds: None, values_set: str) -> None:
    manifest = render(RELEASE, NAMESPACE, VALUES_SETS[values_set])
    docs = documents(manifest)
    lines = dry_run(kubectl, manifest)
    assert len(lines) == len(docs), f"{len(docs)} objects rendered, {len(lines)} accepted: {lines}"
    kinds = {d["kind"] for d in docs}
    assert {"Deployment", "DaemonSet", "CSIDriver", "StorageClass", "ClusterRole", "Role"} <= kinds
    if values_set == "all-enabled":
        assert "ServiceMonitor" in kinds
    print(f"\n[chart-check] {values_set}: {len(lines)} objects accepted by the server dry run")


def test_server_dry_run_rejects_an_unknown_field(kubectl: Kubectl, chart_crds: None) -> None:
    """The check has teeth: a typo'd field in a rendered object is refused under --validate=strict."""
    docs = documents(render(RELEASE, NAMESPACE))
    daemonset = next(d for d in docs if d["kind"] == "DaemonSet")
    daemonset["spec"]["template"]["spec"]["hostNetwrok"] = True
    proc = kubectl("apply", "--dry-run=server", "--validate=strict", "-f", "-", input=yaml.safe_dump(daemonset))
    assert proc.returncode != 0
    assert "hostNetwrok" in proc.stderr


def test_server_dry_run_rejects_a_wrong_servicemonitor_field(kubectl: Kubectl, chart_crds: None) -> None:
    """The ServiceMonitor stand-in CRD is strict too (its schema prunes nothing silently)."""
    docs = documents(render(RELEASE, NAMESPACE, VALUES_SETS["all-enabled"]))
    monitor = next(d for d in docs if d["kind"] == "ServiceMonitor")
    monitor["spec"]["endpoints"][0]["scrapeEvery"] = "30s"
    proc = kubectl("apply", "--dry-run=server", "--validate=strict", "-f", "-", input=yaml.safe_dump(monitor))
    assert proc.returncode != 0
    assert "scrapeEvery" in proc.stderr
