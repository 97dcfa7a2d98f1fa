"""Run csi-sanity against the nearpath driver: controller on a real kube-apiserver, node in sandbox mode.

Steps: build csi-sanity (pinned, cached), apply the CRDs, create the volume namespace and a
Node, start a stand-in operator/agent thread (tests.support.backend) that reports targets
ready, start ``python -m nearpath csi --mode all --sandbox`` on a unix socket, run csi-sanity,
parse its summary, stop everything this started (by PID).
"""

from __future__ import annotations

import json
import re
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

from nearpath.core.kube import ClusterKube
from tests.controlplane.chart import service_account_names, token_kubeconfig
from tests.controlplane.cluster import ControlPlane
from tests.support.backend import BackendThread, FakeBackend
from tests.support.chart import render
from tests.support.kubectl import run_kubectl
from tests.support.processes import start_nearpath

REPO = Path(__file__).resolve().parents[2]
BUILD = REPO / "tests" / "sanity" / "build-csi-sanity"
NODE = "sanity-node"
NAMESPACE = "nearpath-volumes"
SUMMARY = re.compile(r"(\d+) Passed \| (\d+) Failed \| (\d+) Pending \| (\d+) Skipped")
RAN = re.compile(r"Ran (\d+) of (\d+) Specs")


@dataclass(frozen=True)
class SanityResult:
    passed: int
    failed: int
    pending: int
    skipped: int
    ran: int
    total: int
    returncode: int
    output: str

    def summary(self) -> str:
        return (
            f"csi-sanity: ran {self.ran} of {self.total} specs: {self.passed} passed, {self.failed} failed, "
            f"{self.pending} pending, {self.skipped} skipped (rc={self.returncode})"
        )


def build_csi_sanity() -> Path:
    out = subprocess.run([str(BUILD)], capture_output=True, text=True, timeout=3600, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"building csi-sanity failed:\n{out.stderr[-3000:]}")
    return Path(out.stdout.strip().splitlines()[-1])


def kubectl(cp: ControlPlane, *args: str, input: str | None = None) -> str:
    return run_kubectl(cp.bin_dir / "kubectl", cp.kubeconfig, args, input=input, check=True).stdout


def crd_manifests() -> str:
    """The repository's CRDs, as the chart installs them (CEL rules included)."""
    docs = [d for f in sorted((REPO / "crds").glob("*.yaml")) for d in yaml.safe_load_all(f.read_text()) if d]
    return "\n---\n".join(json.dumps(d) for d in docs)


def prepare_cluster(cp: ControlPlane) -> None:
    kubectl(cp, "apply", "-f", "-", input=crd_manifests())
    kubectl(cp, "wait", "--for=condition=Established", "crd/volumegroups.nearpath.io", "--timeout=60s")
    manifests = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}},
        {"apiVersion": "v1", "kind": "Node", "metadata": {"name": NODE, "labels": {"kubernetes.io/hostname": NODE}}},
    ]
    kubectl(cp, "apply", "-f", "-", input="\n---\n".join(json.dumps(m) for m in manifests))


RELEASE = "nearpath"
RELEASE_NAMESPACE = "nearpath-system"


def controller_kubeconfig(cp: ControlPlane, workdir: Path) -> Path:
    """A kubeconfig for the chart's CSI controller ServiceAccount, bound by the chart's own RBAC.

    The driver then runs with exactly the permissions a helm install gives the CSI controller:
    csi-sanity's flows hitting a Forbidden would fail the run.
    """
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": RELEASE_NAMESPACE}}
    kubectl(cp, "apply", "-f", "-", input=json.dumps(namespace))  # may exist: the control plane is shared
    rbac = render(RELEASE, RELEASE_NAMESPACE, show_only=["templates/csi-controller-rbac.yaml"])
    kubectl(cp, "apply", "-f", "-", input=rbac)

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        cmd = [str(cp.bin_dir / "kubectl"), f"--kubeconfig={cp.kubeconfig}", *args]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)

    account = service_account_names(RELEASE)["csi-controller"]
    return token_kubeconfig(run, cp.url, cp.ca_cert, RELEASE_NAMESPACE, account, workdir / "csi-controller.kubeconfig")


def parse_output(text: str, rc: int) -> SanityResult:
    summary = SUMMARY.findall(text)
    ran = RAN.findall(text)
    if not summary or not ran:
        raise RuntimeError(f"csi-sanity printed no summary (rc={rc}):\n{text[-4000:]}")
    passed, failed, pending, skipped = (int(x) for x in summary[-1])
    return SanityResult(passed, failed, pending, skipped, int(ran[-1][0]), int(ran[-1][1]), rc, text)


def run_sanity(cp: ControlPlane, workdir: Path, timeout: float = 1800) -> SanityResult:
    binary = build_csi_sanity()
    prepare_cluster(cp)
    sock = workdir / "csi.sock"
    params = workdir / "params.yaml"
    params.write_text(f"backing: local\nnodes: {NODE}\n")
    mount_dir, staging_dir = workdir / "mount", workdir / "staging"
    kubeconfig = controller_kubeconfig(cp, workdir)
    driver_log = workdir / "driver.log"
    driver = start_nearpath(
        "csi-driver",
        [
            "csi", "--mode", "all", "--endpoint", f"unix://{sock}", "--node-id", NODE,
            "--kubeconfig", str(kubeconfig), "--volume-namespace", NAMESPACE,
            "--sandbox", "--log-format", "text", "--log-level", "info",
        ],
        driver_log,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not sock.exists():
            if not driver.running() or time.monotonic() > deadline:
                raise RuntimeError(f"driver did not start:\n{driver.tail(60)}")
            time.sleep(0.2)
        backend = FakeBackend(ClusterKube(str(cp.kubeconfig)), {NODE: "127.0.0.1:3260"}, namespace=NAMESPACE)
        with BackendThread(backend, interval=0.2) as thread:
            res = subprocess.run(
                [
                    str(binary), f"--csi.endpoint=unix://{sock}", f"--csi.mountdir={mount_dir}",
                    f"--csi.stagingdir={staging_dir}", f"--csi.testvolumeparameters={params}",
                    "--csi.testvolumesize=1073741824", "--ginkgo.no-color", "--ginkgo.v",
                ],
                capture_output=True, text=True, timeout=timeout, check=False, cwd=workdir,
            )  # fmt: skip
    finally:
        driver.terminate(grace_s=20)
    (workdir / "csi-sanity.log").write_text(res.stdout + res.stderr)
    (workdir / "backend-errors.log").write_text("\n".join(thread.errors))
    return parse_output(res.stdout + res.stderr, res.returncode)


def main() -> int:
    workdir = Path(tempfile.mkdtemp(prefix="nearpath-sanity-"))
    with ControlPlane(controller_manager=False) as cp:
        result = run_sanity(cp, workdir)
    for line in result.output.splitlines():
        if line.startswith(("[FAIL]", "  [FAILED]", "•  [FAILED]", "[SKIPPED]")) or "FAIL!" in line:
            print(line)
    print(result.summary())
    print(f"logs: {workdir}")
    return 0 if result.failed == 0 and result.returncode == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
