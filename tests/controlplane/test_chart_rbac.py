"""RBAC proven, not assumed: the chart's ServiceAccounts, with their own tokens, run each
component's API flows against the real API server, and are refused what the chart does not grant.

The chart (default values) is installed for real into the test bed. For every component a
token is requested from the TokenRequest API (``kubectl create token``) and a kubeconfig built
with it; the component's calls then go through :class:`nearpath.core.kube.ClusterKube` (the
only Kubernetes client nearpath code uses) or, for what kopf and the CSI sidecars do, through
the official client / ``kubectl auth can-i``. Any Forbidden fails the flow. Negative checks make
real calls that must come back 403.
"""

from __future__ import annotations

import copy
import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from nearpath.core.kube import ClusterKube, status_apply_body
from nearpath.preflight.checks_initiator import PeerInitiator
from nearpath.preflight.model import Report, Role, Status, failed, passed
from nearpath.preflight.node_report import check_against_peers, publish
from tests.controlplane.chart import service_account_names
from tests.controlplane.cluster import ControlPlane
from tests.fixtures.controlplane import Kubectl
from tests.samples import LOCAL
from tests.support.chart import CHART_CRD_DIR, documents, render

pytestmark = pytest.mark.controlplane

RELEASE = "nearpath"
NAMESPACE = "nearpath-system"
VG_NAMESPACE = "rbac-vgs"
CHAP_SECRET = "vg-chap"
NODES = ("node-0", "node-1")
SA = service_account_names(RELEASE)
LEADER_LEASE = "nearpath-operator-leader"  # values.yaml operator.leaderElection.leaseName


# ---- fixtures --------------------------------------------------------------------------------
def _ok(proc: Any, what: str) -> None:
    assert proc.returncode == 0 or "AlreadyExists" in proc.stderr, f"{what}: {proc.stderr}"


@pytest.fixture(scope="module")
def installed_chart(kubectl: Kubectl) -> list[dict[str, Any]]:
    """CRDs, namespaces, nodes, a CHAP Secret, then the rendered chart applied for real."""
    _ok(kubectl("apply", "--server-side", "--force-conflicts", "-f", str(CHART_CRD_DIR)), "CRDs")
    _ok(kubectl("wait", "--for=condition=Established", "crd/volumegroups.nearpath.io", "--timeout=60s"), "CRD")
    for ns in (NAMESPACE, VG_NAMESPACE):
        _ok(kubectl("create", "namespace", ns), f"namespace {ns}")
    for node in NODES:
        body = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": node, "labels": {"zone": "z1"}}}
        _ok(kubectl("create", "-f", "-", input=json.dumps(body)), f"node {node}")
    _ok(
        kubectl(
            "-n",
            VG_NAMESPACE,
            "create",
            "secret",
            "generic",
            CHAP_SECRET,
            "--from-literal=username=initiator-user",
            "--from-literal=password=secret-password-1",
        ),
        "secret",
    )
    # The disk path policy would confine every later test's samples on this shared API server;
    # it is tested (and removed again) by test_path_attacks.py.
    manifest = render(RELEASE, NAMESPACE, set_values=["security.pathAdmissionPolicy=false"])
    applied = kubectl("apply", "-f", "-", input=manifest, timeout=120)
    assert applied.returncode == 0, applied.stderr
    return documents(manifest)


@pytest.fixture(scope="module")
def kubeconfigs(
    control_plane: ControlPlane,
    kubectl: Kubectl,
    installed_chart: list[dict[str, Any]],
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, Path]:
    """Component -> kubeconfig holding a TokenRequest token of the chart's ServiceAccount."""
    out = tmp_path_factory.mktemp("sa-kubeconfigs")
    paths: dict[str, Path] = {}
    for component, sa in SA.items():
        token = _token(kubectl, sa, "node-0" if component == "target" else None)
        paths[component] = _kubeconfig(control_plane, out / f"{component}.json", sa, token)
    return paths


def _kubeconfig(control_plane: ControlPlane, path: Path, sa: str, token: str) -> Path:
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": "t", "cluster": {"server": control_plane.url, "certificate-authority": str(control_plane.ca_cert)}}
        ],
        "users": [{"name": sa, "user": {"token": token}}],
        "contexts": [{"name": "t", "context": {"cluster": "t", "user": sa, "namespace": NAMESPACE}}],
        "current-context": "t",
    }
    path.write_text(json.dumps(config))
    path.chmod(0o600)
    return path


def _token(kubectl: Kubectl, sa: str, node: str | None) -> str:
    """A TokenRequest token; bound to ``node`` like an agent pod's (it then carries the node-name claim)."""
    bound = ["--bound-object-kind=Node", f"--bound-object-name={node}"] if node else []
    token = kubectl("-n", NAMESPACE, "create", "token", sa, "--duration=30m", *bound)
    assert token.returncode == 0, f"TokenRequest for {sa}: {token.stderr}"
    return str(token.stdout.strip())


def can_i(
    kubectl: Kubectl,
    kubeconfig: Path,
    verb: str,
    resource: str,
    namespace: str | None = None,
    subresource: str | None = None,
) -> bool:
    args = ["--kubeconfig", str(kubeconfig), "auth", "can-i", verb, resource]
    if subresource:
        args.append(f"--subresource={subresource}")
    args += ["-n", namespace] if namespace else ["--all-namespaces"]
    proc = kubectl(*args)
    answer = proc.stdout.strip()
    assert answer in ("yes", "no"), f"can-i {verb} {resource}: {proc.stdout} {proc.stderr}"
    return answer == "yes"


def vg_manifest(name: str) -> dict[str, Any]:
    body = copy.deepcopy(LOCAL)
    body["metadata"] = {"name": name, "namespace": VG_NAMESPACE}
    body["spec"]["placement"] = {"nodes": ["node-0"], "preferredNode": "node-0"}
    body["spec"]["access"]["chap"] = {"secretRef": {"name": CHAP_SECRET}}
    return body


# ---- positive flows ----------------------------------------------------------------------------
# Each flow is the wire calls a component makes (the verbs, paths and content types of
# nearpath.core.kube.ClusterKube, plus kopf's and the sidecars'), sent with the component's token.
MERGE = "application/merge-patch+json"
APPLY = "application/apply-patch+yaml"


class Caller:
    """HTTP calls with one ServiceAccount's token; 2xx expected unless told otherwise."""

    def __init__(self, cp: ControlPlane, kubeconfig: Path) -> None:
        config = json.loads(kubeconfig.read_text())
        self.token = config["users"][0]["user"]["token"]
        self.cp = cp

    def call(self, method: str, path: str, body: Any = None, content_type: str = "application/json") -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.cp.url + path, data=data, method=method)
        req.add_header("Authorization", f"Bearer {self.token}")
        req.add_header("Accept", "application/json")
        if data is not None:
            req.add_header("Content-Type", content_type)
        try:
            with urllib.request.urlopen(req, context=self.cp.ssl_context(), timeout=30) as resp:
                raw = resp.read().decode(errors="replace")
                try:
                    return int(resp.status), json.loads(raw or "null")
                except ValueError:  # a watch: one JSON object per line
                    return int(resp.status), raw
        except urllib.error.HTTPError as err:
            return int(err.code), err.read().decode(errors="replace")

    def ok(self, method: str, path: str, body: Any = None, content_type: str = "application/json") -> Any:
        status, answer = self.call(method, path, body, content_type)
        assert 200 <= status < 300, f"{method} {path}: HTTP {status} {str(answer)[:400]}"
        return answer

    def refused(self, method: str, path: str, body: Any = None, content_type: str = "application/json") -> None:
        status, answer = self.call(method, path, body, content_type)
        assert status == 403, f"{method} {path}: expected 403 Forbidden, got HTTP {status} {str(answer)[:3000]}"


@pytest.fixture(scope="module")
def callers(control_plane: ControlPlane, kubeconfigs: dict[str, Path]) -> dict[str, Caller]:
    return {component: Caller(control_plane, path) for component, path in kubeconfigs.items()}


VGS = f"/apis/nearpath.io/v1alpha1/namespaces/{VG_NAMESPACE}/volumegroups"
ALL_VGS = "/apis/nearpath.io/v1alpha1/volumegroups"
LEASES = f"/apis/coordination.k8s.io/v1/namespaces/{NAMESPACE}/leases"
SECRET = f"/api/v1/namespaces/{VG_NAMESPACE}/secrets/{CHAP_SECRET}"


def status_apply(name: str, status: dict[str, Any]) -> dict[str, Any]:
    return status_apply_body(VG_NAMESPACE, name, status)


def event_for(name: str, component: str) -> dict[str, Any]:
    """What ClusterKube.emit_event posts (events.k8s.io/v1); its generateName `<name>.` is refused by
    the API server (422, a core bug reported to the lead), so this uses `<name>-`."""
    return {
        "apiVersion": "events.k8s.io/v1",
        "kind": "Event",
        "metadata": {"generateName": f"{name}-", "namespace": VG_NAMESPACE},
        "eventTime": "2025-11-21T10:00:00.000000Z",
        "reportingController": f"nearpath.io/{component}",
        "reportingInstance": component,
        "action": "Test",
        "reason": "Test",
        "note": "rbac flow",
        "type": "Normal",
        "regarding": {
            "apiVersion": "nearpath.io/v1alpha1",
            "kind": "VolumeGroup",
            "name": name,
            "namespace": VG_NAMESPACE,
        },
    }


def lease_apply(name: str, holder: str, labels: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"name": name, "namespace": NAMESPACE, "labels": labels},
        "spec": {"holderIdentity": holder, "leaseDurationSeconds": 10, "renewTime": "2025-11-21T10:00:00.000000Z"},
    }


def test_serviceaccount_tokens_authenticate_as_the_chart_accounts(
    kubectl: Kubectl, kubeconfigs: dict[str, Path]
) -> None:
    for component, path in kubeconfigs.items():
        who = kubectl("--kubeconfig", str(path), "auth", "whoami", "-o", "jsonpath={.status.userInfo.username}")
        assert who.returncode == 0, who.stderr
        assert who.stdout == f"system:serviceaccount:{NAMESPACE}:{SA[component]}"


def test_csi_controller_volume_lifecycle(callers: dict[str, Caller]) -> None:
    """CreateVolume -> ControllerPublish (initiators + attachments) -> Unpublish -> DeleteVolume."""
    c = callers["csi-controller"]
    created = c.ok("POST", VGS, vg_manifest("pvc-1"))
    c.ok("GET", f"{VGS}/pvc-1")
    c.ok("GET", VGS)
    c.ok("GET", ALL_VGS)
    c.ok("GET", f"{ALL_VGS}?watch=true&timeoutSeconds=1")
    initiator = "iqn.2004-10.com.ubuntu:01:node0"
    rv = created["metadata"]["resourceVersion"]
    c.ok(
        "PATCH",
        f"{VGS}/pvc-1",
        {"metadata": {"resourceVersion": rv}, "spec": {"access": {"initiators": [initiator]}}},
        MERGE,
    )
    attach = status_apply("pvc-1", {"attachments": [{"initiator": initiator, "node": "node-0"}]})
    c.ok("PATCH", f"{VGS}/pvc-1/status?fieldManager=nearpath-csi&force=true", attach, APPLY)
    assert set(c.ok("GET", SECRET)["data"]) == {"username", "password"}
    c.ok("GET", "/api/v1/nodes")
    c.ok("GET", "/api/v1/nodes/node-0")
    c.ok("POST", f"/apis/events.k8s.io/v1/namespaces/{VG_NAMESPACE}/events", event_for("pvc-1", "csi-controller"))
    c.ok(
        "PATCH",
        f"{VGS}/pvc-1/status?fieldManager=nearpath-csi&force=true",
        status_apply("pvc-1", {"attachments": []}),
        APPLY,
    )
    c.ok("DELETE", f"{VGS}/pvc-1")


def test_operator_reconcile_flow(callers: dict[str, Caller], kubectl: Kubectl) -> None:
    # Another test's operator may have left its leader Lease: start this replay from none.
    kubectl("-n", NAMESPACE, "delete", "lease", LEADER_LEASE, "--ignore-not-found", check=True)
    callers["csi-controller"].ok("POST", VGS, vg_manifest("vg-op"))
    o = callers["operator"]
    o.ok("GET", ALL_VGS)
    o.ok("GET", f"{ALL_VGS}?watch=true&timeoutSeconds=1")
    o.ok("GET", f"{VGS}/vg-op")
    o.ok("PATCH", f"{VGS}/vg-op", {"metadata": {"finalizers": ["nearpath.io/targets"]}}, MERGE)
    placed = status_apply(
        "vg-op",
        {
            "optimizedNode": "node-0",
            "assignments": [{"node": "node-0", "aluaState": "active-optimized", "portGroupId": 2}],
        },
    )
    o.ok("PATCH", f"{VGS}/vg-op/status?fieldManager=nearpath-operator&force=true", placed, APPLY)
    o.ok("GET", f"{LEASES}?labelSelector=nearpath.io%2Frole%3Dtarget")
    o.ok("GET", f"{LEASES}?watch=true&timeoutSeconds=1")
    o.ok("GET", "/api/v1/nodes")
    o.ok("GET", "/api/v1/nodes?watch=true&timeoutSeconds=1")
    o.ok("POST", f"/apis/events.k8s.io/v1/namespaces/{VG_NAMESPACE}/events", event_for("vg-op", "operator"))
    # leader election: create, then compare-and-swap replace of its own Lease (ClusterKube.update_lease)
    lease = {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"name": LEADER_LEASE, "namespace": NAMESPACE},
        "spec": {"holderIdentity": "operator-0", "leaseDurationSeconds": 15},
    }
    made = o.ok("POST", LEASES, lease)
    lease["metadata"]["resourceVersion"] = made["metadata"]["resourceVersion"]
    o.ok("PUT", f"{LEASES}/{LEADER_LEASE}", lease)
    # kopf watches only VolumeGroups and posts no events of its own (the operator test runs the
    # real process with this ServiceAccount): nothing broader is granted.
    o.refused("GET", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions")
    o.refused("GET", "/api/v1/namespaces")
    o.ok("PATCH", f"{VGS}/vg-op", {"metadata": {"finalizers": None}}, MERGE)


def test_target_agent_flow(callers: dict[str, Caller]) -> None:
    callers["csi-controller"].ok("POST", VGS, vg_manifest("vg-tgt"))
    t = callers["target"]
    t.ok("GET", ALL_VGS)
    t.ok("GET", f"{ALL_VGS}?watch=true&timeoutSeconds=1")
    t.ok("GET", f"{VGS}/vg-tgt")
    t.ok("GET", "/api/v1/nodes")
    t.ok("GET", "/api/v1/nodes/node-0")
    t.ok("GET", SECRET)
    entry = {
        "node": "node-0",
        "iqn": "iqn.2025-11.io.nearpath:rbac-vgs:vg-tgt:node-0",
        "portals": ["10.0.0.10:3260"],
        "devicesPresent": True,
        "ready": False,
    }
    path = f"{VGS}/vg-tgt/status?fieldManager=nearpath-target%2Fnode-0&force=true"
    t.ok("PATCH", path, status_apply("vg-tgt", {"targets": [entry]}), APPLY)
    labels = {"nearpath.io/role": "target", "nearpath.io/node": "node-0"}
    lease_path = f"{LEASES}/nearpath-target-node-0?fieldManager=nearpath-target&force=true"
    t.ok("PATCH", lease_path, lease_apply("nearpath-target-node-0", "node-0", labels), APPLY)  # creates
    t.ok("PATCH", lease_path, lease_apply("nearpath-target-node-0", "node-0", labels), APPLY)  # renews
    t.ok("GET", f"{LEASES}/nearpath-target-node-0")
    t.ok("POST", f"/apis/events.k8s.io/v1/namespaces/{VG_NAMESPACE}/events", event_for("vg-tgt", "target"))
    t.ok("PATCH", path, status_apply("vg-tgt", {"targets": []}), APPLY)


def test_csi_node_reads_its_node(callers: dict[str, Caller]) -> None:
    callers["csi-node"].ok("GET", "/api/v1/nodes/node-0")


def test_preflight_reports_on_nodes_with_the_daemonset_accounts(kubectl: Kubectl, kubeconfigs: dict[str, Path]) -> None:
    """The preflight init containers' Node report (annotations, duplicate initiator names across
    nodes, the Event) runs with the csi-node and target accounts against the real API server."""
    node_kube = ClusterKube(str(kubeconfigs["csi-node"]))
    iqn = "iqn.1993-08.org.debian:01:cloned-image"
    assert check_against_peers(node_kube, PeerInitiator("node-0", iqn, "boot-a")).status is Status.PASS
    clash = check_against_peers(node_kube, PeerInitiator("node-1", iqn, "boot-b"))
    assert clash.status is Status.FAIL and "node-0" in clash.message
    publish(node_kube, Report("node-1", Role.NODE, (clash,)), strict=False)
    target_kube = ClusterKube(str(kubeconfigs["target"]))
    publish(target_kube, Report("node-1", Role.TARGET, (passed("configfs", "mounted"),)), strict=False)
    publish(target_kube, Report("node-0", Role.TARGET, (failed("configfs", "not mounted", "mount it"),)), strict=False)
    annotations = node_kube.get_node("node-1")["metadata"]["annotations"]  # type: ignore[index]
    assert json.loads(annotations["preflight.nearpath.io/node"])["failed"] == ["initiator name unique"]
    assert json.loads(annotations["preflight.nearpath.io/target"])["status"] == "pass"
    assert annotations["nearpath.io/initiator-name"] == iqn
    listed = kubectl("get", "events.events.k8s.io", "-n", "default", "-o", "json")
    assert listed.returncode == 0, listed.stderr
    seen = {
        (e["regarding"]["name"], e["reason"], e["reportingController"])
        for e in json.loads(listed.stdout)["items"]
        if e.get("regarding", {}).get("kind") == "Node"
    }
    assert ("node-1", "PreflightFailed", "nearpath.io/preflight") in seen
    assert ("node-0", "PreflightFailed", "nearpath.io/preflight") in seen


SIDECAR_GRANTS = [
    # (verb, resource, subresource, namespace) used by external-provisioner/attacher/resizer
    ("create", "persistentvolumes", None, None),
    ("delete", "persistentvolumes", None, None),
    ("patch", "persistentvolumes", None, None),
    ("watch", "persistentvolumes", None, None),
    ("update", "persistentvolumeclaims", None, "default"),
    ("patch", "persistentvolumeclaims", "status", "default"),
    ("watch", "persistentvolumeclaims", None, None),
    ("watch", "storageclasses.storage.k8s.io", None, None),
    ("list", "csinodes.storage.k8s.io", None, None),
    ("get", "nodes", None, None),
    ("patch", "volumeattachments.storage.k8s.io", None, None),
    ("patch", "volumeattachments.storage.k8s.io", "status", None),
    ("list", "pods", None, None),
    ("create", "events", None, "default"),
    ("create", "leases.coordination.k8s.io", None, NAMESPACE),
    ("update", "leases.coordination.k8s.io", None, NAMESPACE),
]


@pytest.mark.parametrize(("verb", "resource", "sub", "ns"), SIDECAR_GRANTS)
def test_csi_sidecar_permissions(
    kubectl: Kubectl, kubeconfigs: dict[str, Path], verb: str, resource: str, sub: str | None, ns: str | None
) -> None:
    assert can_i(kubectl, kubeconfigs["csi-controller"], verb, resource, ns, sub)


# ---- what the chart does not grant is refused --------------------------------------------------
def test_target_cannot_create_delete_or_edit_volumegroup_specs(callers: dict[str, Caller]) -> None:
    callers["csi-controller"].ok("POST", VGS, vg_manifest("vg-neg"))
    t = callers["target"]
    t.refused("DELETE", f"{VGS}/vg-neg")
    t.refused("POST", VGS, vg_manifest("vg-rogue"))
    t.refused("PATCH", f"{VGS}/vg-neg", {"spec": {"access": {"initiators": []}}}, MERGE)
    t.refused("GET", f"/api/v1/namespaces/{VG_NAMESPACE}/secrets")
    t.refused("DELETE", f"{LEASES}/nearpath-target-node-0")
    t.refused(
        "PATCH",
        "/apis/coordination.k8s.io/v1/namespaces/default/leases/x?fieldManager=t",
        lease_apply("x", "node-0", {}) | {"metadata": {"name": "x", "namespace": "default"}},
        APPLY,
    )


def test_operator_cannot_read_secrets_or_delete_volumegroups(callers: dict[str, Caller]) -> None:
    o = callers["operator"]
    o.refused("GET", SECRET)
    o.refused("DELETE", f"{VGS}/vg-neg")
    o.refused("POST", VGS, vg_manifest("vg-rogue"))
    o.refused("PUT", f"{LEASES}/nearpath-target-node-0", lease_apply("nearpath-target-node-0", "forged", {}))


def test_csi_node_can_do_nothing_else(callers: dict[str, Caller]) -> None:
    n = callers["csi-node"]
    n.refused("GET", SECRET)
    n.refused("GET", ALL_VGS)
    n.refused("DELETE", "/api/v1/nodes/node-1")


DENIED = [
    ("target", "list", "secrets", None),
    ("target", "watch", "secrets", None),
    ("target", "delete", "leases.coordination.k8s.io", NAMESPACE),
    ("target", "list", "leases.coordination.k8s.io", NAMESPACE),
    ("target", "create", "pods", NAMESPACE),
    ("csi-controller", "list", "secrets", None),
    ("csi-controller", "delete", "nodes", None),
    ("csi-controller", "create", "pods", None),
    ("csi-controller", "create", "leases.coordination.k8s.io", "default"),
    ("operator", "get", "secrets", None),
    ("operator", "delete", "volumegroups.nearpath.io", None),
    ("operator", "create", "leases.coordination.k8s.io", "default"),
    ("operator", "update", "customresourcedefinitions.apiextensions.k8s.io", None),
    ("csi-node", "get", "secrets", None),
    ("csi-node", "delete", "nodes", None),
    ("csi-node", "update", "nodes", None),
    ("csi-node", "get", "volumegroups.nearpath.io", None),
    ("csi-node", "get", "leases.coordination.k8s.io", NAMESPACE),
]


@pytest.mark.parametrize(("component", "verb", "resource", "ns"), DENIED)
def test_not_granted(
    kubectl: Kubectl, kubeconfigs: dict[str, Path], component: str, verb: str, resource: str, ns: str | None
) -> None:
    assert not can_i(kubectl, kubeconfigs[component], verb, resource, ns)


def test_confined_secret_access(kubectl: Kubectl, control_plane: ControlPlane, installed_chart: Any) -> None:
    """rbac.secretNamespaces: Secret get only in the named namespaces, no ClusterRole grant."""
    release = "confined"
    manifest = render(
        release,
        NAMESPACE,
        set_values=[f"rbac.secretNamespaces={{{VG_NAMESPACE}}}"],
        show_only=["templates/target-rbac.yaml", "templates/csi-controller-rbac.yaml", "templates/secrets-rbac.yaml"],
    )
    applied = kubectl("apply", "-f", "-", input=manifest)
    assert applied.returncode == 0, applied.stderr
    sa = service_account_names(release)
    for component in ("target", "csi-controller"):
        who = f"system:serviceaccount:{NAMESPACE}:{sa[component]}"
        allowed = kubectl("auth", "can-i", "get", "secrets", "-n", VG_NAMESPACE, f"--as={who}")
        other = kubectl("auth", "can-i", "get", "secrets", "-n", "default", f"--as={who}")
        assert allowed.stdout.strip() == "yes", allowed.stderr
        assert other.stdout.strip() == "no", other.stderr


# ---- the agent admission policy: one node's agent cannot steer another node ------------------
def test_agent_token_confined_to_its_own_node(
    control_plane: ControlPlane, kubectl: Kubectl, callers: dict[str, Caller], tmp_path: Path
) -> None:
    """Agent A (token bound to node-0) is refused node-1's status entry and Lease, and any change to
    a VolumeGroup but removing the wipe finalizer of a deleted one; agent B (node-1) may write its own."""
    callers["csi-controller"].ok("POST", VGS, vg_manifest("vg-fence"))
    a = callers["target"]
    token_b = _token(kubectl, SA["target"], "node-1")
    b = Caller(control_plane, _kubeconfig(control_plane, tmp_path / "b.json", SA["target"], token_b))

    def entry(node: str) -> dict[str, Any]:
        iqn = f"iqn.2025-11.io.nearpath:rbac-vgs:vg-fence:{node}"
        return {"node": node, "iqn": iqn, "portals": ["10.0.0.10:3260"], "devicesPresent": True, "ready": True}

    def status_path(node: str) -> str:
        return f"{VGS}/vg-fence/status?fieldManager=nearpath-target%2F{node}&force=true"

    a.ok("PATCH", status_path("node-0"), status_apply("vg-fence", {"targets": [entry("node-0")]}), APPLY)
    a.refused("PATCH", status_path("node-1"), status_apply("vg-fence", {"targets": [entry("node-1")]}), APPLY)
    b.ok("PATCH", status_path("node-1"), status_apply("vg-fence", {"targets": [entry("node-1")]}), APPLY)
    # A's own manager, but rewriting B's entry or the operator's assignments: refused too.
    forged = {**entry("node-1"), "ready": False}
    a.refused("PATCH", status_path("node-0"), status_apply("vg-fence", {"targets": [entry("node-0"), forged]}), APPLY)
    steal = {"assignments": [{"node": "node-0", "aluaState": "active-optimized", "portGroupId": 2}]}
    a.refused("PATCH", status_path("node-0"), status_apply("vg-fence", steal), APPLY)
    stored = a.ok("GET", f"{VGS}/vg-fence")
    assert {t["node"]: t["ready"] for t in stored["status"]["targets"]} == {"node-0": True, "node-1": True}
    labels = {"nearpath.io/role": "target", "nearpath.io/node": "node-1"}
    lease_b = f"{LEASES}/nearpath-target-node-1?fieldManager=nearpath-target&force=true"
    a.refused("PATCH", lease_b, lease_apply("nearpath-target-node-1", "node-1", labels), APPLY)
    b.ok("PATCH", lease_b, lease_apply("nearpath-target-node-1", "node-1", labels), APPLY)
    # finalizers: only removing nearpath.io/wipe, only once the group is deleted
    a.refused("PATCH", f"{VGS}/vg-fence", {"metadata": {"finalizers": ["nearpath.io/wipe"]}}, MERGE)
    held = vg_manifest("vg-wiped")
    held["metadata"]["finalizers"] = ["nearpath.io/wipe", "example.com/keep"]
    callers["csi-controller"].ok("POST", VGS, held)
    a.refused("PATCH", f"{VGS}/vg-wiped", {"metadata": {"finalizers": ["example.com/keep"]}}, MERGE)  # not deleted
    callers["csi-controller"].ok("DELETE", f"{VGS}/vg-wiped")
    a.refused("PATCH", f"{VGS}/vg-wiped", {"metadata": {"finalizers": ["nearpath.io/wipe"]}}, MERGE)  # wrong one
    a.ok("PATCH", f"{VGS}/vg-wiped", {"metadata": {"finalizers": ["example.com/keep"]}}, MERGE)
    unbound_token = _token(kubectl, SA["target"], None)
    unbound = Caller(control_plane, _kubeconfig(control_plane, tmp_path / "u.json", SA["target"], unbound_token))
    unbound.refused("PATCH", status_path("node-0"), status_apply("vg-fence", {"targets": []}), APPLY)
