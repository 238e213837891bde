"""The whole config file: one field per section, each section in its own module."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from edgeinfer.config._base import ConfigModel, ConfigPath
from edgeinfer.config.accelerators import (
    AcceleratorConfig,
    AcceleratorList,
    LiteRTConfig,
    OpenVINOConfig,
)
from edgeinfer.config.alerts import AlertsConfig
from edgeinfer.config.device import DeviceConfig
from edgeinfer.config.models import ModelConfig
from edgeinfer.config.mqtt import MqttConfig
from edgeinfer.config.rules import RuleConfig
from edgeinfer.config.service import ServiceConfig
from edgeinfer.config.streams import StreamList
from edgeinfer.config.telemetry import TelemetryConfig
from edgeinfer.config.updates import UpdatesConfig


def _default_accelerators() -> list[AcceleratorConfig]:
    return [LiteRTConfig()]


class EdgeinferConfig(ConfigModel):
    """Everything the daemon and the CLI read from a config file."""

    device: DeviceConfig = Field(
        default_factory=DeviceConfig, description="Identity of this device."
    )
    state_dir: ConfigPath = Field(
        default=Path("/var/lib/edgeinfer"),
        description="Writable directory for the model store, outbox, alert log "
        "and caches.",
    )
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        default="info", description="Lowest level logged to stdout."
    )
    accelerators: AcceleratorList = Field(
        default_factory=_default_accelerators,
        description="Accelerators in order of preference; the first that loads a "
        "model wins.",
    )
    models: dict[str, ModelConfig] = Field(
        default_factory=dict, description="Models by name."
    )
    streams: StreamList = Field(
        default_factory=list, description="Cameras, sensors and recorded files."
    )
    rules: list[RuleConfig] = Field(
        default_factory=list, description="Conditions that raise alerts."
    )
    alerts: AlertsConfig = Field(
        default_factory=AlertsConfig,
        description="The local alert log and local actions on alerts.",
    )
    mqtt: MqttConfig = Field(
        default_factory=MqttConfig, description="Broker connection."
    )
    telemetry: TelemetryConfig = Field(
        default_factory=TelemetryConfig, description="Health reporting."
    )
    updates: UpdatesConfig = Field(
        default_factory=UpdatesConfig, description="Signed model updates."
    )
    service: ServiceConfig = Field(
        default_factory=ServiceConfig,
        description="systemd notifications and the local control socket.",
    )

    @property
    def control_socket(self) -> Path:
        """Where the daemon serves the CLI: ``service.control_socket`` or
        ``<state_dir>/control.sock``."""
        return self.service.socket_path(self.state_dir)

    @property
    def mqtt_prefix(self) -> str:
        """The topic prefix in effect: ``mqtt.prefix`` or ``edgeinfer/<device.id>``."""
        if self.mqtt.prefix is not None:
            return self.mqtt.prefix
        return f"edgeinfer/{self.device.id}"

    def accelerators_for(self, model: str) -> list[AcceleratorConfig]:
        """The accelerator preference for ``model``: its own list or the device's."""
        return self.models[model].accelerators or self.accelerators

    def openvino_cache_dir(self, entry: OpenVINOConfig) -> Path:
        """Where ``entry`` caches compiled models: its ``cache_dir`` or the default."""
        return entry.cache_dir or self.state_dir / "cache" / "openvino"

    def referenced_files(self) -> dict[str, Path]:
        """Files the config points at, by dotted key (no I/O: they may not exist)."""
        files: dict[str, Path | None] = {}
        for name, model in self.models.items():
            files[f"models.{name}.path"] = model.path
            files[f"models.{name}.labels"] = model.labels
            files[f"models.{name}.cpu_twin"] = model.cpu_twin
        for key in ("ca_file", "cert_file", "key_file"):
            files[f"mqtt.tls.{key}"] = getattr(self.mqtt.tls, key)
        return {key: path for key, path in files.items() if path is not None}
