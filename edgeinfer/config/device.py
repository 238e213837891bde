"""The ``device`` section: who this device is on the MQTT bus."""

from __future__ import annotations

import re
import socket
from typing import Annotated

from pydantic import AfterValidator, Field

from edgeinfer.config._base import ConfigModel, invalid

_TOPIC_RESERVED = re.compile(r"[/+#\s]")


def _check_topic_level(value: str) -> str:
    if not value or _TOPIC_RESERVED.search(value):
        raise invalid(
            "must be one MQTT topic level, without '/', '+', '#' or whitespace",
            "use letters, digits, '-' and '_', e.g. line3-cam1",
        )
    return value


TopicLevel = Annotated[str, AfterValidator(_check_topic_level)]


def default_device_id() -> str:
    """The short hostname, any character outside ``[A-Za-z0-9_-]`` made ``-``."""
    host = socket.gethostname().split(".")[0]
    return re.sub(r"[^A-Za-z0-9_-]", "-", host) or "edgeinfer"


class DeviceConfig(ConfigModel):
    """Identity of this device in topics, telemetry and the fleet console."""

    id: TopicLevel = Field(
        default_factory=default_device_id,
        description="Unique device id, one MQTT topic level; defaults to the hostname.",
    )
    name: str = Field(
        default="", description="Human-readable name shown in the fleet console."
    )
    groups: list[TopicLevel] = Field(
        default_factory=list,
        description="Fleet groups whose commands this device obeys "
        "(edgeinfer/group/<g>/cmd/...).",
    )
