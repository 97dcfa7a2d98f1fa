"""Metrics of the CSI node plugin: the paths of every staged volume, read at scrape time.

multipathd (through the runner) says which paths a volume's map has and their states, and
counts path faults and path group switches; sysfs (``/sys/block/<sd>/device/access_state``,
scsi_dh_alua) says each path's ALUA state:

- ``nearpath_node_staged_volumes``: volumes staged on this node;
- ``nearpath_node_volume_paths{volume,wwid,state}``: paths by state: ``active`` (in use or
  usable), ``ghost`` (ALUA standby), ``faulty`` (checker failed or dm failed the path), ``other``
  (pending, delayed); ``missing``: paths the volume logged in to that the map lacks;
- ``nearpath_node_path_alua_state{volume,device,state}``: 1 for the path's ALUA access state;
- ``nearpath_node_volume_path_group_switches_total{volume,wwid}``: path group switches (failovers
  and failbacks) multipathd counted; ``nearpath_node_volume_path_faults_total``: path failures;
  ``nearpath_node_volume_io_failures_total``: times the map had no usable path;
- ``nearpath_node_multipathd_up``: 1 when multipathd answered this scrape.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from nearpath.core.errors import NearpathError
from nearpath.csi.multipath import MapCounters, MultipathPath
from nearpath.csi.node_ops import NodeOps, StagedVolume

log = logging.getLogger("nearpath.csi.metrics")

PATH_STATES = ("active", "ghost", "faulty", "other", "missing")
ALUA_STATES = ("active/optimized", "active/non-optimized", "standby", "unavailable", "lba-dependent", "transitioning")


def path_state(path: MultipathPath) -> str:
    if path.dm_state == "failed" or path.checker_state in ("faulty", "shaky"):
        return "faulty"
    if path.checker_state == "ghost":
        return "ghost"
    if path.checker_state == "ready" and path.dm_state == "active":
        return "active"
    return "other"


class _Families:
    def __init__(self) -> None:
        volume = ["volume", "wwid"]
        self.staged = GaugeMetricFamily("nearpath_node_staged_volumes", "Volumes staged on this node")
        self.paths = GaugeMetricFamily(
            "nearpath_node_volume_paths", "Paths of a staged volume by state", labels=[*volume, "state"]
        )
        self.alua = GaugeMetricFamily(
            "nearpath_node_path_alua_state",
            "1 for the ALUA access state of a path (scsi_dh_alua)",
            labels=["volume", "device", "state"],
        )
        self.switches = CounterMetricFamily(
            "nearpath_node_volume_path_group_switches", "Path group switches of a volume's map", labels=volume
        )
        self.faults = CounterMetricFamily(
            "nearpath_node_volume_path_faults", "Path failures of a volume's map", labels=volume
        )
        self.failures = CounterMetricFamily(
            "nearpath_node_volume_io_failures", "Times a volume's map had no usable path", labels=volume
        )
        self.multipathd_up = GaugeMetricFamily("nearpath_node_multipathd_up", "1 when multipathd answered")

    def all(self) -> list[Metric]:
        return [self.staged, self.paths, self.alua, self.switches, self.faults, self.failures, self.multipathd_up]


class PathCollector(Collector):
    def __init__(self, ops: NodeOps) -> None:
        self.ops = ops

    def collect(self) -> Iterator[Metric]:
        f = _Families()
        try:
            volumes = self.ops.staged_volumes()
        except (NearpathError, OSError, ValueError) as exc:
            log.warning("could not read the staged volumes", extra={"error": str(exc)})
            volumes = []
        f.staged.add_metric([], len(volumes))
        try:
            paths = self.ops.multipath.paths()
        except NearpathError as exc:
            log.warning("multipathd did not answer the metrics scrape", extra={"error": str(exc)})
            f.multipathd_up.add_metric([], 0)
            return iter(f.all())
        f.multipathd_up.add_metric([], 1)
        try:
            counters = self.ops.multipath.map_counters()
        except NearpathError as exc:
            log.warning("could not read multipathd's map counters", extra={"error": str(exc)})
            counters = {}
        for volume in volumes:
            self._volume(f, volume, [p for p in paths if p.wwid == volume.wwid], counters.get(volume.wwid))
        return iter(f.all())

    def _volume(
        self, f: _Families, volume: StagedVolume, paths: list[MultipathPath], counters: MapCounters | None
    ) -> None:
        labels = [volume.volume_id, volume.wwid]
        counts = dict.fromkeys(PATH_STATES, 0)
        for path in paths:
            counts[path_state(path)] += 1
            alua = self.ops.host.read_file(f"/sys/block/{path.dev}/device/access_state")
            current = (alua or "").strip()
            for state in ALUA_STATES:
                f.alua.add_metric([volume.volume_id, path.dev, state], 1.0 if current == state else 0.0)
        counts["missing"] = max(0, len(volume.paths) - len(paths))
        for state, count in counts.items():
            f.paths.add_metric([*labels, state], count)
        if counters is not None:
            f.switches.add_metric(labels, counters.group_switches)
            f.faults.add_metric(labels, counters.path_faults)
            f.failures.add_metric(labels, counters.failures)
