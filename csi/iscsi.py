"""open-iscsi (iscsiadm) operations through the core runner.

CHAP secrets never go through argv: iscsiadm creates the records, :mod:`nearpath.csi.node_records`
writes the credentials into them (mode 0600).

Exit codes iscsiadm documents and we accept where they mean "already so":
15 ISCSI_ERR_SESS_EXISTS (login when logged in), 21 ISCSI_ERR_NO_OBJS_FOUND (logout or
delete when there is no session or record).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from nearpath.core.chap import ChapCredentials
from nearpath.core.runner import Runner
from nearpath.csi.node_records import NodeRecords

ISCSIADM = "iscsiadm"
RC_SESSION_EXISTS = 15
RC_NO_OBJECTS = 21
_SESSION_RE = re.compile(r"^\S+:\s+\[(\d+)\]\s+(\S+?),(\d+)\s+(\S+)")


@dataclass(frozen=True)
class Session:
    sid: int
    portal: str  # ip:port
    iqn: str


@dataclass(frozen=True)
class NodeSettings:
    noop_out_interval: int
    noop_out_timeout: int
    replacement_timeout: int


class Iscsiadm:
    def __init__(self, runner: Runner, timeout: float, records: NodeRecords) -> None:
        self.runner = runner
        self.timeout = timeout
        self.records = records

    def sessions(self) -> list[Session]:
        res = self.runner.run([ISCSIADM, "-m", "session"], timeout=self.timeout, ok_codes=(0, RC_NO_OBJECTS))
        out: list[Session] = []
        for line in res.stdout.splitlines():
            match = _SESSION_RE.match(line.strip())
            if match:
                out.append(Session(int(match.group(1)), match.group(2), match.group(4)))
        return out

    def discover(self, portal: str, chap: ChapCredentials | None) -> list[str]:
        """SendTargets discovery against ``portal`` without storing node records; the IQNs offered."""
        if chap is None:
            argv = [ISCSIADM, "-m", "discovery", "-t", "sendtargets", "-p", portal, "-o", "nonpersistent"]
            res = self.runner.run(argv, timeout=self.timeout)
        else:
            base = [ISCSIADM, "-m", "discoverydb", "-t", "sendtargets", "-p", portal]
            self.runner.run([*base, "-o", "new"], timeout=self.timeout)
            self.records.set_discovery_auth(portal, chap)
            res = self.runner.run([*base, "--discover", "-o", "nonpersistent"], timeout=self.timeout)
        iqns = []
        for line in res.stdout.splitlines():
            parts = line.split()
            if len(parts) >= 2:
                iqns.append(parts[1])
        return iqns

    def record_exists(self, iqn: str, portal: str) -> bool:
        res = self.runner.run(
            [ISCSIADM, "-m", "node", "-T", iqn, "-p", portal], timeout=self.timeout, ok_codes=(0, RC_NO_OBJECTS)
        )
        return res.returncode == 0

    def create_record(self, iqn: str, portal: str) -> None:
        self.runner.run([ISCSIADM, "-m", "node", "-T", iqn, "-p", portal, "-o", "new"], timeout=self.timeout)

    def configure(self, iqn: str, portal: str, settings: NodeSettings, chap: ChapCredentials | None) -> None:
        pairs = [
            ("node.startup", "manual"),
            ("node.session.timeo.replacement_timeout", str(settings.replacement_timeout)),
            ("node.conn[0].timeo.noop_out_interval", str(settings.noop_out_interval)),
            ("node.conn[0].timeo.noop_out_timeout", str(settings.noop_out_timeout)),
        ]
        if chap is None:
            pairs.append(("node.session.auth.authmethod", "None"))
        for key, value in pairs:
            self.runner.run(
                [ISCSIADM, "-m", "node", "-T", iqn, "-p", portal, "-o", "update", "-n", key, "-v", value],
                timeout=self.timeout,
            )
        if chap is not None:
            self.records.set_node_auth(iqn, portal, chap)

    def login(self, iqn: str, portal: str) -> None:
        self.runner.run(
            [ISCSIADM, "-m", "node", "-T", iqn, "-p", portal, "--login"],
            timeout=self.timeout,
            ok_codes=(0, RC_SESSION_EXISTS),
        )

    def logout(self, iqn: str, portal: str) -> None:
        self.runner.run(
            [ISCSIADM, "-m", "node", "-T", iqn, "-p", portal, "--logout"],
            timeout=self.timeout,
            ok_codes=(0, RC_NO_OBJECTS),
        )

    def delete_record(self, iqn: str, portal: str) -> None:
        self.runner.run(
            [ISCSIADM, "-m", "node", "-T", iqn, "-p", portal, "-o", "delete"],
            timeout=self.timeout,
            ok_codes=(0, RC_NO_OBJECTS),
        )


def by_path_link(portal: str, iqn: str, lun: int) -> str:
    """The udev by-path link of a LUN reached through ``portal`` (``ip:port``)."""
    return f"/dev/disk/by-path/ip-{portal}-iscsi-{iqn}-lun-{lun}"
