"""The ``telemetry`` section: how often the daemon reports its health, and where."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from edgeinfer.config._base import ConfigModel


class PrometheusConfig(ConfigModel):
    """A local Prometheus text endpoint over the same metrics as the telemetry."""

    enabled: bool = Field(default=False, description="Serve /metrics over HTTP.")
    host: str = Field(
        default="127.0.0.1",
        description="Address to listen on; 0.0.0.0 exposes it to the network.",
    )
    port: int = Field(default=9464, ge=0, le=65535, description="TCP port; 0: any.")


class TelemetryConfig(ConfigModel):
    """Periodic telemetry (fps, latency, drops, CPU, memory, temperature)."""

    interval_s: float = Field(
        default=10.0, gt=0, description="Seconds between telemetry messages."
    )
    qos: Literal[0, 1] = Field(
        default=1,
        description="MQTT QoS of telemetry: 1 keeps it in the outbox through an "
        "outage (evicted first when full), 0 sends it only while connected.",
    )
    prometheus: PrometheusConfig = Field(
        default_factory=PrometheusConfig, description="Local /metrics endpoint."
    )
