"""The config file: typed sections, and a loader whose errors point at the YAML line.

    config = load_config(Path("device-configs/demo.yaml"), ["mqtt.port=1884"])
    config.accelerators   # [LiteRTConfig(kind='litert', device='cpu', ...)]
    config.mqtt_prefix    # 'edgeinfer/demo'

A new section is a module with a ``*Config`` model and one field on ``EdgeinferConfig``.
"""

from __future__ import annotations

from edgeinfer.config.accelerators import (
    AcceleratorConfig,
    LiteRTConfig,
    OnnxRuntimeConfig,
    OpenVINOConfig,
    describe_accelerator,
)
from edgeinfer.config.device import DeviceConfig
from edgeinfer.config.loader import (
    dump_config,
    load_config,
    parse_config,
    validate_data,
)
from edgeinfer.config.models import ModelConfig, PreprocessConfig
from edgeinfer.config.mqtt import MqttConfig, TlsConfig
from edgeinfer.config.root import EdgeinferConfig
from edgeinfer.config.telemetry import TelemetryConfig

__all__ = [
    "AcceleratorConfig",
    "DeviceConfig",
    "EdgeinferConfig",
    "LiteRTConfig",
    "ModelConfig",
    "MqttConfig",
    "OnnxRuntimeConfig",
    "OpenVINOConfig",
    "PreprocessConfig",
    "TelemetryConfig",
    "TlsConfig",
    "describe_accelerator",
    "dump_config",
    "load_config",
    "parse_config",
    "validate_data",
]
