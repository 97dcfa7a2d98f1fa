"""The host control plane of the cluster tier: the tier-2 control plane plus what kubelets need.

Differences from :class:`tests.controlplane.cluster.ControlPlane`: kube-scheduler runs;
kube-controller-manager runs every controller (PV binding, attach/detach, DaemonSets ...);
the API server advertises ``10.0.2.2`` (the host as the guests see it) so the
``kubernetes`` Service leads pods to it through kube-proxy, authorizes ``Node,RBAC`` with
NodeRestriction, and reaches kubelets through :class:`~tests.cluster.kubelet_proxy.KubeletProxy`.
Token users: ``system:node:<node>`` (group ``system:nodes``) per node, ``system:kube-proxy``,
``system:kube-scheduler``: the identities Kubernetes' bootstrap RBAC knows.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from pathlib import Path

from tests.cluster.kubelet_proxy import KubeletProxy
from tests.controlplane.cluster import GUEST_HOST_IP, ControlPlane, TokenUser, start_process

SCHEDULER_USER = "system:kube-scheduler"
PROXY_USER = "system:kube-proxy"
POD_CIDR = "10.244.0.0/16"


def node_user(node: str) -> str:
    return f"system:node:{node}"


class NodeControlPlane(ControlPlane):
    def __init__(self, nodes: Sequence[str], proxy: KubeletProxy, **kwargs: object) -> None:
        super().__init__(nodes=(), **kwargs)  # type: ignore[arg-type]
        self.kubelet_proxy = proxy
        extra = [TokenUser(node_user(n), ("system:nodes",)) for n in nodes]
        extra += [TokenUser(SCHEDULER_USER, ()), TokenUser(PROXY_USER, ())]
        self.users.update({u.name: u for u in extra})

    def start(self) -> NodeControlPlane:
        super().start()
        argv = [
            self._bin("kube-scheduler"),
            f"--kubeconfig={self.kubeconfig_for(SCHEDULER_USER)}",
            "--leader-elect=false",
            "--secure-port=0",
            "--v=1",
        ]
        self.procs.append(start_process("kube-scheduler", argv, self.workdir / "logs" / "kube-scheduler.log"))
        return self

    def _apiserver_argv(self) -> list[str]:
        replaced = {
            "--advertise-address=127.0.0.1": f"--advertise-address={GUEST_HOST_IP}",
            "--authorization-mode=RBAC": "--authorization-mode=Node,RBAC",
        }
        argv = [replaced.get(a, a) for a in super()._apiserver_argv() if a != "--endpoint-reconciler-type=none"]
        egress = self.kubelet_proxy.write_egress_config(self.workdir / "egress.yaml")
        return [
            *argv,
            "--enable-admission-plugins=NodeRestriction",
            f"--egress-selector-config-file={egress}",
            "--kubelet-preferred-address-types=InternalIP",
        ]

    def _controller_manager_argv(self) -> list[str]:
        argv = [a for a in super()._controller_manager_argv() if not a.startswith("--controllers=")]
        return [*argv, "--controllers=*", f"--cluster-cidr={POD_CIDR}"]

    def guest_kubeconfig_text(self, user: str) -> str:
        """A kubeconfig for a guest: server https://10.0.2.2:<port>, CA inlined."""
        ca = base64.b64encode(self.ca_cert.read_bytes()).decode()
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "bed", "cluster": {"server": self.guest_url, "certificate-authority-data": ca}}],
            "users": [{"name": user, "user": {"token": self.token_for(user)}}],
            "contexts": [{"name": "bed", "context": {"cluster": "bed", "user": user}}],
            "current-context": "bed",
        }
        return json.dumps(config, indent=2)

    def log_dir(self) -> Path:
        return self.workdir / "logs"
