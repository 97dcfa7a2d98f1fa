"""Settings shared by every nearpath process, read from ``NEARPATH_*`` environment variables.

Each component extends :class:`CommonSettings` with its own documented fields, and declares
only what its process reads (the chart sets no variable that no settings model reads:
``tests/unit/test_chart_agreement.py``).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class CommonSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="NEARPATH_", extra="ignore", frozen=True)

    log_level: Literal["debug", "info", "warning", "error"] = Field("info", description="Log level of the process.")
    log_format: Literal["json", "text"] = Field(
        "json", description="`json`: one JSON object per line; `text`: for humans."
    )
    kubeconfig: str | None = Field(None, description="Path of a kubeconfig; unset means in-cluster configuration.")


class MetricsSettings(CommonSettings):
    """Settings of a process that serves Prometheus metrics (the chart's container port ``metrics``)."""

    metrics_port: int = Field(
        0, ge=0, le=65535, description="Port of the Prometheus /metrics endpoint; 0 turns it off."
    )
    metrics_address: str = Field(
        "",
        description=(
            "Address the /metrics endpoint binds to: empty for every address, 127.0.0.1 to keep it on "
            "the node or pod itself (the endpoints are unauthenticated and name VolumeGroups)."
        ),
    )
