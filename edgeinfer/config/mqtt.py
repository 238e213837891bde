"""The ``mqtt`` section: the broker connection to the fleet console.

MQTT is on when ``mqtt.host`` is set (and ``mqtt.enabled`` is not false): a config
without a broker runs the same pipeline with alerts only in the local alert log.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, SecretStr, field_validator, model_validator

from edgeinfer.config._base import ConfigModel, ConfigPath, invalid


class TlsConfig(ConfigModel):
    """TLS to the broker; client certificate optional."""

    enabled: bool = Field(
        default=False,
        description="Connect over TLS; also on when ca_file or cert_file is set.",
    )
    ca_file: ConfigPath | None = Field(
        default=None,
        description="CA bundle (PEM) to verify the broker; default: system CAs.",
    )
    cert_file: ConfigPath | None = Field(
        default=None, description="Client certificate (PEM) for mutual TLS."
    )
    key_file: ConfigPath | None = Field(
        default=None, description="Private key (PEM) of the client certificate."
    )
    server_name: str | None = Field(
        default=None,
        description="Name expected in the broker certificate; default: host.",
    )
    insecure: bool = Field(
        default=False, description="Skip hostname verification (testing only)."
    )

    @property
    def active(self) -> bool:
        """True when the connection uses TLS."""
        return self.enabled or self.ca_file is not None or self.cert_file is not None

    @model_validator(mode="after")
    def _key_needs_cert(self) -> TlsConfig:
        if self.key_file is not None and self.cert_file is None:
            raise invalid(
                "key_file given without cert_file",
                "set mqtt.tls.cert_file to the client certificate of that key",
            )
        return self


class OutboxConfig(ConfigModel):
    """Bounds of the durable outbox (messages waiting for the broker's ack)."""

    max_mb: float = Field(
        default=64.0,
        gt=0,
        description="Past this size telemetry, then snapshots, replies and status are "
        "evicted, oldest first; alerts are kept (MB).",
    )
    hard_max_mb: float = Field(
        default=256.0,
        gt=0,
        description="Past this size the oldest alerts are dropped and the loss is "
        "reported as an alert (MB).",
    )

    power_safe: bool = Field(
        default=True,
        description="fsync every stored message (while it is being published), so "
        "it survives a power loss; false: it survives a crash or kill -9 of the "
        "daemon, and storing costs no disk flush (the alert log still fsyncs every "
        "alert).",
    )

    @model_validator(mode="after")
    def _hard_above_soft(self) -> OutboxConfig:
        if self.hard_max_mb < self.max_mb:
            raise invalid(
                f"hard_max_mb ({self.hard_max_mb:g}) is below max_mb ({self.max_mb:g})",
                "make hard_max_mb at least max_mb",
            )
        return self


class CommandsConfig(ConfigModel):
    """Commands from the fleet console: on/off and limits."""

    enabled: bool = Field(default=True, description="Obey commands at all.")
    max_payload_bytes: int = Field(
        default=65536, ge=64, description="Largest command payload accepted (bytes)."
    )
    rate_per_s: float = Field(
        default=5.0, gt=0, description="Commands per second accepted on average."
    )
    burst: int = Field(
        default=20, ge=1, description="Commands accepted at once before the rate."
    )


def _protocol_as_text(value: Any) -> Any:
    # YAML reads `protocol: 5` as an int; the setting is a version string.
    return str(value) if isinstance(value, int | float) else value


class MqttConfig(ConfigModel):
    """Broker address, credentials, topic prefix, reconnects and the outbox."""

    enabled: bool = Field(
        default=True, description="Connect to the broker when host is set."
    )
    host: str | None = Field(
        default=None, description="Broker host name or address; unset: no MQTT."
    )
    port: int = Field(default=1883, ge=1, le=65535, description="Broker TCP port.")
    username: str | None = Field(default=None, description="Broker user name.")
    password: SecretStr | None = Field(
        default=None, description="Broker password; never printed or logged."
    )
    tls: TlsConfig = Field(default_factory=TlsConfig, description="TLS settings.")
    prefix: str | None = Field(
        default=None, description="Topic prefix; default: edgeinfer/<device.id>."
    )
    client_id: str | None = Field(
        default=None,
        description="MQTT client id, stable so the broker keeps the session; "
        "default: edgeinfer-<device.id>.",
    )
    keepalive_s: int = Field(
        default=30, ge=1, le=65535, description="Seconds between keepalive pings."
    )
    protocol: Annotated[Literal["5", "3.1.1"], BeforeValidator(_protocol_as_text)] = (
        Field(default="5", description="MQTT protocol version.")
    )
    session_expiry_s: int = Field(
        default=7 * 24 * 3600,
        ge=0,
        description="How long the broker keeps this device's session (subscriptions, "
        "queued commands) while it is offline (MQTT 5; seconds).",
    )
    connect_timeout_s: float = Field(
        default=10.0, gt=0, description="TCP and TLS handshake timeout (seconds)."
    )
    reconnect_min_s: float = Field(
        default=1.0, gt=0, description="First reconnect delay (seconds)."
    )
    reconnect_max_s: float = Field(
        default=60.0,
        gt=0,
        description="Longest reconnect delay; delays double up to it, with jitter "
        "(seconds).",
    )
    max_inflight: int = Field(
        default=20,
        ge=1,
        le=65535,
        description="Messages sent and not yet acknowledged by the broker.",
    )
    outbox: OutboxConfig = Field(
        default_factory=OutboxConfig, description="Durable outbox bounds."
    )
    commands: CommandsConfig = Field(
        default_factory=CommandsConfig, description="Fleet commands."
    )

    @property
    def configured(self) -> bool:
        """True when the daemon should connect: enabled with a host."""
        return self.enabled and bool(self.host)

    @field_validator("prefix")
    @classmethod
    def _check_prefix(cls, value: str | None) -> str | None:
        if value is None:
            return None
        prefix = value.rstrip("/")
        if not prefix or re.search(r"[+#\s]", prefix):
            raise invalid(
                "not a usable topic prefix",
                "use levels joined by '/', without '+', '#' or spaces, "
                "e.g. plant1/edgeinfer/line3",
            )
        return prefix

    @model_validator(mode="after")
    def _max_above_min(self) -> MqttConfig:
        if self.reconnect_max_s < self.reconnect_min_s:
            raise invalid(
                f"reconnect_max_s ({self.reconnect_max_s:g}) is below "
                f"reconnect_min_s ({self.reconnect_min_s:g})",
                "make reconnect_max_s at least reconnect_min_s",
            )
        return self
