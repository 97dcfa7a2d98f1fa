"""dm-multipath: the nearpath drop-in configuration and map operations via the core runner."""

from __future__ import annotations

from dataclasses import dataclass

from nearpath.core.runner import Runner

MULTIPATH = "multipath"
MULTIPATHD = "multipathd"
PATH_FORMAT = "%w|%d|%t|%T"
# map wildcards: uuid, path_faults, switch_grp (path group switches), failures (I/O failed on no path)
MAP_COUNTER_FORMAT = "%w|%0|%1|%x"


def config_text(*, fast_io_fail_tmo: int, dev_loss_tmo: int, no_path_retry: int) -> str:
    """The node plugin's drop-in: a header and the LIO device section."""
    return "# Managed by the nearpath CSI node plugin; changes are overwritten.\n" + device_section(
        fast_io_fail_tmo=fast_io_fail_tmo, dev_loss_tmo=dev_loss_tmo, no_path_retry=no_path_retry
    )


def device_section(*, fast_io_fail_tmo: int, dev_loss_tmo: int, no_path_retry: int) -> str:
    """The device section for LIO LUNs: ALUA priorities group the same-node (optimized) path
    first, the others wait in lower-priority groups; failback as soon as it returns. Maps are
    named by WWID (``/dev/mapper/<wwid>``) whatever the host's defaults say. The path checker is
    ``directio`` (as upstream's LIO-ORG entry): LIO answers TEST UNIT READY without touching the
    backend, so ``tur`` would keep a path whose backing device is gone (H10)."""
    return f"""\
devices {{
    device {{
        vendor "LIO-ORG"
        product ".*"
        path_grouping_policy group_by_prio
        prio alua
        hardware_handler "1 alua"
        path_selector "service-time 0"
        failback immediate
        path_checker directio
        user_friendly_names no
        no_path_retry {no_path_retry}
        fast_io_fail_tmo {fast_io_fail_tmo}
        dev_loss_tmo {dev_loss_tmo}
    }}
}}
"""


@dataclass(frozen=True)
class MultipathPath:
    wwid: str
    dev: str
    dm_state: str
    checker_state: str

    @property
    def healthy(self) -> bool:
        return self.dm_state == "active" and self.checker_state == "ready"


@dataclass(frozen=True)
class MapCounters:
    path_faults: int
    group_switches: int
    failures: int


class Multipath:
    def __init__(self, runner: Runner, timeout: float) -> None:
        self.runner = runner
        self.timeout = timeout

    def reconfigure(self) -> None:
        self.runner.run([MULTIPATHD, "reconfigure"], timeout=self.timeout)

    def allow_wwid(self, wwid: str) -> None:
        """Add the WWID to the wwids file so find_multipaths policies claim its paths."""
        self.runner.run([MULTIPATH, "-a", wwid], timeout=self.timeout)

    def forget_wwid(self, wwid: str) -> None:
        self.runner.run([MULTIPATH, "-w", wwid], timeout=self.timeout, ok_codes=(0, 1))

    def add_path(self, dev: str) -> None:
        self.runner.run([MULTIPATHD, "add", "path", dev], timeout=self.timeout, ok_codes=(0, 1))

    def create_map(self, wwid: str) -> None:
        self.runner.run([MULTIPATH, wwid], timeout=self.timeout, ok_codes=(0, 1))

    def flush_map(self, wwid: str) -> None:
        self.runner.run([MULTIPATH, "-f", wwid], timeout=self.timeout)

    def resize_map(self, wwid: str) -> None:
        self.runner.run([MULTIPATHD, "resize", "map", wwid], timeout=self.timeout)

    def map_counters(self) -> dict[str, MapCounters]:
        """wwid -> multipathd's counters of that map (since multipathd started)."""
        res = self.runner.run([MULTIPATHD, "show", "maps", "raw", "format", MAP_COUNTER_FORMAT], timeout=self.timeout)
        out = {}
        for line in res.stdout.splitlines():
            parts = [p.strip() for p in line.split("|")]
            if len(parts) == 4 and parts[0] and all(p.isdigit() for p in parts[1:]):
                out[parts[0]] = MapCounters(int(parts[1]), int(parts[2]), int(parts[3]))
        return out

    def paths(self) -> list[MultipathPath]:
        res = self.runner.run([MULTIPATHD, "show", "paths", "raw", "format", PATH_FORMAT], timeout=self.timeout)
        out = []
        for line in res.stdout.splitlines():
            parts = [p.strip() for p in line.split("|")]
            if len(parts) == 4 and parts[1]:
                out.append(MultipathPath(*parts))
        return out
