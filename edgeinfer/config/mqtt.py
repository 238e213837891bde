"""The ``mqtt`` section: the broker connection to the fleet console."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, SecretStr, field_validator

from edgeinfer.config._base import ConfigModel, ConfigPath, invalid


class TlsConfig(ConfigModel):
    """TLS to the broker; client certificate optional."""

    enabled: bool = Field(default=False, description="Connect over TLS.")
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


def _protocol_as_text(value: Any) -> Any:
    # YAML reads `protocol: 5` as an int; the setting is a version string.
    return str(value) if isinstance(value, int | float) else value


class MqttConfig(ConfigModel):
    """Broker address, credentials and topic prefix."""

    enabled: bool = Field(default=True, description="Connect to a broker at all.")
    host: str = Field(default="localhost", description="Broker host name or address.")
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
        default=None, description="MQTT client id; default: derived from device.id."
    )
    keepalive_s: int = Field(
        default=30, ge=1, le=65535, description="Seconds between keepalive pings."
    )
    protocol: Annotated[Literal["5", "3.1.1"], BeforeValidator(_protocol_as_text)] = (
        Field(default="5", description="MQTT protocol version.")
    )

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
