"""Peer witnesses for the self-fence: "can the nodes that could take over from me renew their Leases?"

Each agent publishes ``nearpath_target_lease_renewal_age_seconds`` (time since it sent its last
confirmed Lease renewal) on its metrics endpoint. The peers of a node are the other nodes with a
``targets`` entry in a VolumeGroup this node serves -- exactly the nodes the operator could promote
for those groups -- reached at the first portal address they report, on the (chart-wide) metrics
port. An unreachable peer or a missing value counts as "no answer", which fences (see
:mod:`nearpath.target.fence`).
"""

from __future__ import annotations

import urllib.request
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

RENEWAL_AGE_METRIC = "nearpath_target_lease_renewal_age_seconds"
PEER_TIMEOUT_S = 0.5

UrlFor = Callable[[str, str], str | None]
"""(peer node, its portal host) -> URL of its metrics endpoint, or None when there is none."""


def peer_hosts(objs: Iterable[Mapping[str, Any]], node: str) -> dict[str, str]:
    """Peer node -> portal host, for every VolumeGroup in which ``node`` has a targets entry."""
    out: dict[str, str] = {}
    for obj in objs:
        status = obj.get("status") or {}
        entries = [t for t in status.get("targets") or [] if isinstance(t, Mapping)]
        if not any(t.get("node") == node for t in entries):
            continue
        for entry in entries:
            peer, portals = entry.get("node"), entry.get("portals") or []
            if peer and peer != node and portals and peer not in out:
                out[str(peer)] = portal_host(str(portals[0]))
    return out


def portal_host(portal: str) -> str:
    """``10.0.0.1:3260`` -> ``10.0.0.1``; ``[fd00::1]:3260`` -> ``fd00::1``."""
    if portal.startswith("["):
        return portal[1 : portal.index("]")]
    return portal.rsplit(":", 1)[0] if portal.count(":") == 1 else portal


def metrics_url(port: int) -> UrlFor:
    def url_for(_node: str, host: str) -> str | None:
        if not port:
            return None
        shown = f"[{host}]" if ":" in host else host
        return f"http://{shown}:{port}/metrics"

    return url_for


def parse_renewal_age(text: str) -> float | None:
    for line in text.splitlines():
        if line.startswith(RENEWAL_AGE_METRIC + " ") or line.startswith(RENEWAL_AGE_METRIC + "{"):
            try:
                return float(line.rsplit(" ", 1)[1])
            except ValueError:
                return None
    return None


def fetch_renewal_age(url: str, timeout_s: float = PEER_TIMEOUT_S) -> float | None:
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as resp:  # noqa: S310 (http to a peer's metrics)
            return parse_renewal_age(resp.read().decode(errors="replace"))
    except (OSError, ValueError):
        return None


def probe_peers(
    hosts: Mapping[str, str], url_for: UrlFor, fetch: Callable[[str], float | None] = fetch_renewal_age
) -> dict[str, float | None]:
    """Ask every peer in parallel; None for a peer without an endpoint or answer."""
    urls = {peer: url_for(peer, host) for peer, host in hosts.items()}
    asked = {peer: url for peer, url in urls.items() if url}
    if not asked:
        return dict.fromkeys(hosts)
    with ThreadPoolExecutor(max_workers=min(len(asked), 16)) as pool:
        answers = dict(zip(asked, pool.map(fetch, asked.values()), strict=True))
    return {peer: answers.get(peer) for peer in hosts}
