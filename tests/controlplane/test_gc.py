"""kube-controller-manager's garbage collector removes dependents of a deleted VolumeGroup."""

from __future__ import annotations

from typing import Any

import pytest

from tests.controlplane.cluster import ControlPlane
from tests.controlplane.helpers import GROUP, KIND, VERSION, vg_path
from tests.samples import VALID_SAMPLES
from tests.support.polling import wait_for

pytestmark = pytest.mark.controlplane

GC_TIMEOUT_S = 60.0


def configmap(name: str, owner: dict[str, Any] | None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if owner is not None:
        meta["ownerReferences"] = [
            {
                "apiVersion": f"{GROUP}/{VERSION}",
                "kind": KIND,
                "name": owner["metadata"]["name"],
                "uid": owner["metadata"]["uid"],
            }
        ]
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": {"k": "v"}}


def test_dependent_configmap_is_garbage_collected(
    installed_crds: dict[str, Any], control_plane: ControlPlane, namespace: str
) -> None:
    manifest = dict(VALID_SAMPLES[0].manifest)
    manifest["metadata"] = {**manifest.get("metadata", {}), "namespace": namespace}
    status, owner = control_plane.request("POST", vg_path(namespace), manifest)
    assert status == 201, owner
    cms = f"/api/v1/namespaces/{namespace}/configmaps"
    for cm in (configmap("owned", owner), configmap("unowned", None)):
        status, body = control_plane.request("POST", cms, cm)
        assert status == 201, body

    status, body = control_plane.request("DELETE", vg_path(namespace, owner["metadata"]["name"]))
    assert status in (200, 202), body
    wait_for(
        "ConfigMap 'owned' removed after its owner was deleted",
        lambda: control_plane.request("GET", f"{cms}/owned")[0] == 404,
        GC_TIMEOUT_S,
    )
    assert control_plane.request("GET", f"{cms}/unowned")[0] == 200, "GC removed an unowned ConfigMap"
