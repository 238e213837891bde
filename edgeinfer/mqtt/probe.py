"""One connection attempt to the broker, for ``edgeinfer doctor``.

It goes through the daemon's own ``Connection`` (same TLS context, credentials and
failure explanations), under a client id of its own so it never takes over the
daemon's session, and with a session that ends at disconnect.
"""

from __future__ import annotations

import threading
import time

from edgeinfer.config.mqtt import MqttConfig
from edgeinfer.mqtt.connection import Connection, Inbound
from edgeinfer.mqtt.messages import Message


class _Probe:
    """A listener that only notes the first successful connect."""

    def __init__(self) -> None:
        self.connected = threading.Event()

    def on_connected(self, session_present: bool) -> None:
        self.connected.set()

    def on_disconnected(self) -> None:
        """Nothing was sent."""

    def on_acked(self, mid: int, error: str) -> None:
        """Nothing was sent."""

    def on_message(self, message: Inbound) -> None:
        """Nothing is subscribed."""


def probe_broker(
    config: MqttConfig, client_id: str, will_topic: str, timeout: float | None = None
) -> tuple[bool, str]:
    """Connect once with ``config``; (True, where) or (False, why and what to fix).

    ``will_topic`` gets an empty retained last will (which stores nothing) should
    the probe vanish mid-session: the device's status topic is left alone.
    """
    cfg = config.model_copy(update={"session_expiry_s": 0})
    probe = _Probe()
    connection = Connection(
        cfg,
        client_id=client_id,
        will=lambda: Message(will_topic, b"", "status", retain=True),
        subscriptions=[],
        listener=probe,
    )
    wait_s = timeout if timeout is not None else cfg.connect_timeout_s + 2.0
    deadline = time.monotonic() + wait_s
    connection.start()
    try:
        while time.monotonic() < deadline:
            if probe.connected.wait(0.05):
                tls = " with TLS" if cfg.tls.active else ""
                user = f" as {cfg.username!r}" if cfg.username else ""
                return True, f"connected to {cfg.host}:{cfg.port}{tls}{user}"
            status = connection.status()
            if status.failures:
                return False, status.error
        return False, (
            f"no answer from {cfg.host}:{cfg.port} within {wait_s:g} s — check the "
            "network, firewall and mqtt.port"
        )
    finally:
        connection.stop(timeout=3.0)
