"""What the controller tells the node: the publish context (a plain string map on the wire).

Pure Python so the node logic can run without gRPC (the VM tier imports it inside guests)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from nearpath.core.errors import InvalidArgument


@dataclass(frozen=True)
class TargetPortal:
    """One node's target for the volume: its IQN and portals (``ip:port``)."""

    node: str
    iqn: str
    portals: tuple[str, ...]


@dataclass(frozen=True)
class PublishContext:
    targets: tuple[TargetPortal, ...]
    lun: int
    wwid: str
    size_bytes: int
    chap: str = "none"  # none | session | mutual
    discovery_chap: bool = False
    optimized_node: str = ""
    extra: dict[str, str] = field(default_factory=dict)

    def to_map(self) -> dict[str, str]:
        return {
            "targets": json.dumps(
                [{"node": t.node, "iqn": t.iqn, "portals": list(t.portals)} for t in self.targets],
                separators=(",", ":"),
            ),
            "lun": str(self.lun),
            "wwid": self.wwid,
            "sizeBytes": str(self.size_bytes),
            "chap": self.chap,
            "discoveryChap": "true" if self.discovery_chap else "false",
            "optimizedNode": self.optimized_node,
        }

    @classmethod
    def from_map(cls, data: dict[str, str]) -> PublishContext:
        if not data or "targets" not in data:
            raise InvalidArgument(
                "publish context is missing the nearpath targets (was the volume published with ControllerPublish?)"
            )
        try:
            raw = json.loads(data["targets"])
            targets = tuple(
                TargetPortal(str(t["node"]), str(t["iqn"]), tuple(str(p) for p in t["portals"])) for t in raw
            )
            ctx = cls(
                targets=targets,
                lun=int(data.get("lun", "0")),
                wwid=data["wwid"],
                size_bytes=int(data.get("sizeBytes", "0")),
                chap=data.get("chap", "none"),
                discovery_chap=data.get("discoveryChap") == "true",
                optimized_node=data.get("optimizedNode", ""),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidArgument(f"malformed publish context: {exc}") from exc
        if not ctx.targets or not all(t.portals for t in ctx.targets):
            raise InvalidArgument("publish context names no target portal")
        if ctx.chap not in ("none", "session", "mutual"):
            raise InvalidArgument(f"publish context: unknown chap mode {ctx.chap!r}")
        if not ctx.wwid.isalnum():
            raise InvalidArgument(f"publish context: malformed wwid {ctx.wwid!r}")
        return ctx
