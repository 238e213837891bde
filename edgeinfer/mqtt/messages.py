"""What the daemon publishes: one ``Message`` type, JSON bodies with a unique ``id``.

Each message has a ``kind`` that decides its place in the outbox: the order in which a
backlog is sent (status first, telemetry last) and the order in which a full outbox
evicts (telemetry first, alerts never before the hard cap). Every topic carries one
kind only, so sending kinds by priority keeps each topic in order.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Literal

from edgeinfer.rules.alert import encode_json, iso_time, new_id

Kind = Literal["status", "reply", "alert", "snapshot", "telemetry"]

SEND_PRIORITY: dict[str, int] = {
    "status": 0,
    "reply": 1,
    "alert": 2,
    "snapshot": 3,
    "telemetry": 4,
}
"""Lower goes first when a backlog is sent."""

EVICTION_ORDER: tuple[Kind, ...] = ("telemetry", "snapshot", "reply", "status")
"""Kinds a full outbox drops, in this order; alerts only past the hard cap."""


@dataclass(frozen=True)
class Message:
    """One MQTT message to publish.

    ``correlation_data``, ``content_type`` and ``user_properties`` are sent as MQTT 5
    properties (and dropped under 3.1.1). ``seq`` is the outbox sequence number once
    the message is stored (0 before).
    """

    topic: str
    payload: bytes
    kind: Kind
    id: str = field(default_factory=new_id)
    qos: int = 1
    retain: bool = False
    correlation_data: bytes | None = None
    content_type: str | None = None
    user_properties: tuple[tuple[str, str], ...] = ()
    seq: int = 0

    @property
    def size(self) -> int:
        """Bytes this message takes in the outbox (payload, topic and properties)."""
        return (
            len(self.payload)
            + len(self.topic)
            + len(self.correlation_data or b"")
            + sum(len(k) + len(v) for k, v in self.user_properties)
        )


def json_message(
    topic: str,
    kind: Kind,
    body: dict[str, Any],
    *,
    qos: int = 1,
    retain: bool = False,
    correlation_data: bytes | None = None,
) -> Message:
    """A JSON message whose body carries the message's ``id`` (kept if it has one)."""
    message_id = str(body.get("id") or new_id())
    return Message(
        topic=topic,
        payload=encode_json({"id": message_id, **body}),
        kind=kind,
        id=message_id,
        qos=qos,
        retain=retain,
        correlation_data=correlation_data,
        content_type="application/json",
    )


def now_iso() -> str:
    """The current time as ISO 8601 UTC with milliseconds."""
    return iso_time(time.time())
