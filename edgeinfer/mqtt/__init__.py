"""MQTT: status, telemetry and alerts to the fleet console, commands from it.

The only package that imports paho-mqtt. The daemon sees one object,
``FleetLink``: a sink for alerts and a source of commands. Inside:

    topics.py      every topic, from the prefix and the device's groups
    messages.py    the Message type; JSON bodies carry a unique id
    outbox.py      durable SQLite outbox, bounded, alerts kept longest
    sender.py      outbox -> connection in order, deleted on the broker's ack
    connection.py  the session: connect, reconnect with backoff and jitter
    client.py      paho's client on a network loop of its own; publishers write
    tls.py         the TLS context (CA, client certificate, expected name)
    diagnose.py    connection failures in words that name the setting
    commands.py    rate limit, size limit, JSON decoding, replies
    link.py        the pieces joined for the daemon
"""

from __future__ import annotations

from edgeinfer.mqtt.link import FleetLink

__all__ = ["FleetLink"]
