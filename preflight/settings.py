"""Settings of ``nearpath preflight`` (``NEARPATH_*`` environment variables, overridable by flags)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from nearpath.core.settings import CommonSettings


class PreflightSettings(CommonSettings):
    role: Literal["target", "node", "all"] = Field(
        "all", description="What this host must be able to do: serve (`target`), attach (`node`) or both."
    )
    node_name: str = Field("", description="Kubernetes name of this node (default: the host name).")
    host_proc: str = Field(
        "",
        description="In a pod: the host's /proc (hostPID or a hostPath mount); commands then run in the "
        "namespaces of its PID 1. Empty: run commands directly (standalone on a host).",
    )
    report_node: bool = Field(
        False, description="Annotate this node's Node object with the result and emit an Event on it."
    )
    strict: bool = Field(False, description="Fail on warnings too.")
    enforce: bool = Field(
        True, description="Exit 1 when a check fails; false: report only (exit 0), e.g. to keep pods starting."
    )
    load_modules: bool = Field(
        True, description="modprobe needed kernel modules that are not loaded (as the data path would on demand)."
    )
    command_timeout_seconds: float = Field(20.0, gt=0, description="Timeout of each host command.")
