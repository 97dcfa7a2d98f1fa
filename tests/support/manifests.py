"""The one builder of VolumeGroup manifests for every tier.

:func:`volume_group` returns the wire form (what ``kubectl apply`` takes) and, unless told not
to, checks it with the product's own parser (:func:`nearpath.core.api.parse_volume_group`), so a
test never starts from a manifest the product would refuse. :func:`shared_disk` and
:func:`local_disk` build ``spec.disks`` entries; :func:`wire` wraps a spec given as is;
:func:`assignment` builds an operator assignment; :func:`attachment` a CSI attachment.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

from nearpath.core.api import API_VERSION, KIND, parse_volume_group

Manifest = dict[str, Any]

DEFAULT_INITIATOR = "iqn.2004-10.com.ubuntu:01:host1"
SHARED_DEVICE = "/dev/disk/by-id/virtio-shared0"


def shared_disk(name: str = "root", size: str = "1Gi", path: str = SHARED_DEVICE, **extra: Any) -> Manifest:
    return {"name": name, "size": size, "source": {"path": path}, **extra}


def local_disk(name: str = "data", size: str = "1Gi", **extra: Any) -> Manifest:
    return {"name": name, "size": size, **extra}


def assignment(node: str, state: str = "active-optimized", port_group_id: int = 2) -> Manifest:
    return {"node": node, "aluaState": state, "portGroupId": port_group_id}


def attachment(node: str, initiator: str = DEFAULT_INITIATOR) -> Manifest:
    return {"initiator": initiator, "node": node}


def wire(
    name: str,
    namespace: str | None,
    spec: Mapping[str, Any],
    *,
    metadata: Mapping[str, Any] | None = None,
    status: Mapping[str, Any] | None = None,
) -> Manifest:
    """The VolumeGroup envelope around a spec given as is (invalid specs included: the samples
    of rejections use it); ``namespace`` None leaves it to the request path."""
    meta: Manifest = {"name": name} if namespace is None else {"name": name, "namespace": namespace}
    manifest: Manifest = {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": {**meta, **copy.deepcopy(dict(metadata or {}))},
        "spec": copy.deepcopy(dict(spec)),
    }
    if status is not None:
        manifest["status"] = copy.deepcopy(dict(status))
    return manifest


def volume_group(
    name: str = "vg1",
    namespace: str = "default",
    *,
    backing: str = "shared",
    disks: Sequence[Mapping[str, Any]] | None = None,
    nodes: Sequence[str] | None = ("node-a", "node-b"),
    preferred: str | None = None,
    node_selector: Mapping[str, str] | None = None,
    initiators: Sequence[str] | None = (DEFAULT_INITIATOR,),
    chap_secret: str | None = None,
    mutual: bool = False,
    discovery_auth: bool | None = None,
    failover: Mapping[str, Any] | None = None,
    local_directory: str | None = None,
    metadata: Mapping[str, Any] | None = None,
    status: Mapping[str, Any] | None = None,
    validate: bool = True,
) -> Manifest:
    """A VolumeGroup manifest. ``metadata`` adds fields (uid, generation, labels, finalizers,
    deletionTimestamp, ...); ``status`` is included as given (the API server ignores it on create)."""
    if disks is None:
        disks = [local_disk()] if backing == "local" else [shared_disk()]
    placement: Manifest = {}
    if nodes is not None:
        placement["nodes"] = list(nodes)
    if preferred is not None:
        placement["preferredNode"] = preferred
    if node_selector is not None:
        placement["nodeSelector"] = dict(node_selector)
    access: Manifest = {}
    if initiators is not None:
        access["initiators"] = list(initiators)
    if chap_secret is not None:
        access["chap"] = {"secretRef": {"name": chap_secret}, "mutual": mutual}
    if discovery_auth is not None:
        access["discoveryAuth"] = discovery_auth
    backing_spec: Manifest = {"type": backing}
    if local_directory is not None:
        backing_spec["local"] = {"directory": local_directory}
    spec: Manifest = {"disks": copy.deepcopy([dict(d) for d in disks]), "backing": backing_spec}
    if placement:
        spec["placement"] = placement
    if access:
        spec["access"] = access
    if failover is not None:
        spec["failover"] = dict(failover)
    manifest = wire(name, namespace, spec, metadata=metadata, status=status)
    if validate:
        parse_volume_group(manifest)
    return manifest
