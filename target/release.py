"""Release a deleted VolumeGroup's disks: erase them, then drop the ``nearpath.io/wipe`` finalizer.

The agent of any node allowed to serve the group does it once the group is being deleted, the
operator has withdrawn every assignment (no node serves it, no consumer is attached) and this
node's own target for it is gone. Every path is confined again first (``target.confinement``):
a path the agent would refuse to serve it never erases. A disk this node cannot see is left to
another node; the finalizer goes only when every disk was erased here. Erasing: ``target.wipe``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping

from nearpath.core.api import BackingType, VolumeGroup
from nearpath.core.contract import WIPE_FINALIZER
from nearpath.core.errors import CommandError, NearpathError
from nearpath.core.kube import KubeApi, Obj
from nearpath.core.runner import Runner
from nearpath.target.confinement import PathPolicy, PathRefused, check_disk_path
from nearpath.target.desired import DeviceFacts, disk_paths
from nearpath.target.wipe import FULL_ZERO_LIMIT, WipeResult, remove_local_file, wipe_device

log = logging.getLogger("nearpath.target.release")


def due(vg: VolumeGroup, obj: Obj, node: str, labels: Mapping[str, str], served_iqns: set[str]) -> bool:
    """Whether ``node`` should erase ``vg`` now."""
    meta = obj.get("metadata") or {}
    return (
        bool(meta.get("deletionTimestamp"))
        and WIPE_FINALIZER in (meta.get("finalizers") or [])
        and not vg.status.assignments
        and not vg.status.attachments
        and vg.allows_node(node, labels)
        and vg.target_iqn(node) not in served_iqns
    )


def erase_group(
    vg: VolumeGroup,
    node: str,
    runner: Runner,
    prober: Callable[[str], DeviceFacts],
    policy: PathPolicy,
    full_zero_limit: int = FULL_ZERO_LIMIT,
) -> list[WipeResult] | None:
    """Erase every disk of ``vg`` on this node; None when this node cannot (see the module)."""
    results: list[WipeResult] = []
    paths = disk_paths(vg, None, node)
    for disk in vg.spec.disks:
        path = paths[disk.name]
        created = vg.spec.backing.type is BackingType.LOCAL and (disk.source is None or not disk.source.path)
        try:
            check_disk_path(vg, disk.name, node, path, policy)
        except PathRefused as exc:
            log.warning("not erasing a refused path", extra={"vg": vg.key, "error": exc.message})
            return None
        facts = prober(path)
        if created:
            results.append(remove_local_file(path))
        elif not facts.exists:
            log.info("disk not on this node; another node erases it", extra={"vg": vg.key, "path": path})
            return None
        elif facts.is_block:
            results.append(wipe_device(runner, path, facts.size_bytes, policy.host, full_zero_limit))
        else:
            os.truncate(path, 0)  # an admin-provided file: drop every block, keep the size
            os.truncate(path, facts.size_bytes)
            results.append(WipeResult(path, "truncate", 0.0))
    return results


def release(kube: KubeApi, vg: VolumeGroup, obj: Obj, erase: Callable[[], list[WipeResult] | None]) -> bool:
    """Erase, then remove the wipe finalizer (guarded by resourceVersion). True when released."""
    try:
        results = erase()
    except (CommandError, OSError) as exc:
        message = exc.message if isinstance(exc, CommandError) else str(exc)
        log.warning("erasing a released disk failed; retried next pass", extra={"vg": vg.key, "error": message})
        return False
    if results is None:
        return False
    fresh = kube.get_volume_group(vg.metadata.namespace, vg.metadata.name) or obj  # status writes moved it on
    meta = fresh["metadata"]
    kept = [f for f in meta.get("finalizers") or [] if f != WIPE_FINALIZER]
    try:
        kube.patch_volume_group(vg.metadata.namespace, vg.metadata.name, {"metadata": {"finalizers": kept}},
                                resource_version=str(meta.get("resourceVersion") or ""))  # fmt: skip
    except NearpathError as exc:
        log.info(
            "wipe finalizer not removed yet (object changed); next pass", extra={"vg": vg.key, "error": exc.message}
        )
        return False
    for result in results:
        log.info(
            "released disk erased",
            extra={"vg": vg.key, "path": result.path, "method": result.method, "seconds": round(result.seconds, 3)},
        )
    return True
