"""CHAP credentials into open-iscsi's records without a process argv ever holding them.

``iscsiadm -o update -n ... -v <password>`` puts the password in argv, readable in
``/proc/<pid>/cmdline`` by anyone on the node while it runs (hostPID pods included), and
iscsiadm cannot read a value from stdin or a file. So nearpath lets iscsiadm create the record
(``-o new``; non-secret settings by ``-o update``) and then writes the ``*.auth.*`` lines into
the record file itself, atomically, mode 0600 (what iscsiadm itself uses for records).
iscsiadm and iscsid read the record file at every login, so the file is the only copy.

Record layout (open-iscsi's idbm): ``<nodes>/<iqn>/<ip>,<port>,<tpgt>/<iface>``; a record
created with ``-o new`` (no tpgt known, -1) is the file ``<nodes>/<iqn>/<ip>,<port>``; discovery records
``<send_targets>/<ip>,<port>/st_config``. ``<nodes>`` is ``/etc/iscsi/nodes`` on Debian and
Ubuntu, ``/var/lib/iscsi/nodes`` on RHEL; both are looked at.
"""

from __future__ import annotations

from collections.abc import Sequence

from nearpath.core.chap import ChapCredentials
from nearpath.core.errors import FailedPrecondition
from nearpath.csi.host import Host

NODE_DBS = ("/etc/iscsi", "/var/lib/iscsi")
PRIVATE = 0o600
AUTH_KEYS = ("authmethod", "username", "password", "username_in", "password_in")


def auth_lines(prefix: str, chap: ChapCredentials) -> list[str]:
    """``key = value`` record lines of ``chap`` (``node.session.auth`` or ``discovery.sendtargets.auth`` prefix)."""
    lines = [
        f"{prefix}.authmethod = CHAP",
        f"{prefix}.username = {chap.username}",
        f"{prefix}.password = {chap.password}",
    ]
    if chap.mutual_username:
        lines += [f"{prefix}.username_in = {chap.mutual_username}", f"{prefix}.password_in = {chap.mutual_password}"]
    return lines


def _split_portal(portal: str) -> tuple[str, str]:
    host, _, port = portal.rpartition(":")
    return host.strip("[]"), port


class NodeRecords:
    """Writes CHAP into the record files iscsiadm created (through the node's :class:`Host`)."""

    def __init__(self, host: Host, dbs: Sequence[str] = NODE_DBS) -> None:
        self.host = host
        self.dbs = tuple(dbs)

    def node_record_files(self, iqn: str, portal: str) -> list[str]:
        ip, port = _split_portal(portal)
        found: list[str] = []
        for db in self.dbs:
            target_dir = f"{db}/nodes/{iqn}"
            for entry in self.host.list_dir(target_dir):
                # "<ip>,<port>,<tpgt>" (a directory of ifaces); a record made without a tpgt
                # (``-o new``: tpgt -1) is the file "<ip>,<port>".
                if entry != f"{ip},{port}" and not entry.startswith(f"{ip},{port},"):
                    continue
                path = f"{target_dir}/{entry}"
                if self.host.is_dir(path):
                    found += [f"{path}/{iface}" for iface in self.host.list_dir(path) if not iface.startswith(".")]
                else:
                    found.append(path)
        return found

    def discovery_record_files(self, portal: str) -> list[str]:
        ip, port = _split_portal(portal)
        paths = [f"{db}/send_targets/{ip},{port}/st_config" for db in self.dbs]
        return [p for p in paths if self.host.exists(p)]

    def set_node_auth(self, iqn: str, portal: str, chap: ChapCredentials) -> None:
        files = self.node_record_files(iqn, portal)
        if not files:
            raise FailedPrecondition(f"no open-iscsi node record for {iqn} at {portal} under {', '.join(self.dbs)}")
        for path in files:
            self._rewrite(path, "node.session.auth", chap)

    def set_discovery_auth(self, portal: str, chap: ChapCredentials) -> None:
        files = self.discovery_record_files(portal)
        if not files:
            raise FailedPrecondition(f"no open-iscsi discovery record for {portal} under {', '.join(self.dbs)}")
        for path in files:
            self._rewrite(path, "discovery.sendtargets.auth", chap)

    def _rewrite(self, path: str, prefix: str, chap: ChapCredentials) -> None:
        text = self.host.read_file(path)
        if text is None:
            raise FailedPrecondition(f"open-iscsi record {path} vanished")
        owned = {f"{prefix}.{key}" for key in AUTH_KEYS}
        kept = [line for line in text.splitlines() if line.split("=", 1)[0].strip() not in owned]
        # Before open-iscsi's "# END RECORD" trailer when there is one.
        end = next((i for i, line in enumerate(kept) if line.strip() == "# END RECORD"), len(kept))
        body = [*kept[:end], *auth_lines(prefix, chap), *kept[end:]]
        self.host.write_file(path, "\n".join(body) + "\n", mode=PRIVATE)
