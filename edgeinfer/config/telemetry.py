"""The ``telemetry`` section: how often the daemon reports its health."""

from __future__ import annotations

from pydantic import Field

from edgeinfer.config._base import ConfigModel


class TelemetryConfig(ConfigModel):
    """Periodic telemetry (fps, latency, drops, CPU, memory, temperature)."""

    interval_s: float = Field(
        default=10.0, gt=0, description="Seconds between telemetry messages."
    )
