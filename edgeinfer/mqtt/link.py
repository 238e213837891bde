"""The fleet link: the daemon's MQTT side, sending its alerts and obeying commands.

    alerts ──> outbox (SQLite) ──> sender ──> connection ──> broker
    telemetry timer ──┘                                    │
    status on connect ┘          commands <── intake <─────┘ ──> router ──> replies

Nothing here blocks the data path on the network: ``send_alert`` stores the alert,
publishes it if the broker is there (else the sender thread does when it is) and
returns. A stored message is handed to the sender as soon as it is in the outbox's WAL
(safe from a crash), and the outbox's own thread fsyncs it while it is published:
``send`` never waits for the disk. ``stop`` sends the offline status (the last will
covers a crash) and leaves what is unsent in the outbox for the next start.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from edgeinfer import __version__
from edgeinfer.control.router import CommandContext, CommandRouter
from edgeinfer.mqtt.commands import CommandIntake
from edgeinfer.mqtt.connection import Connection, Inbound
from edgeinfer.mqtt.messages import Message, json_message, now_iso
from edgeinfer.mqtt.outbox import Outbox
from edgeinfer.mqtt.sender import OutboxSender
from edgeinfer.mqtt.topics import Topics
from edgeinfer.rules.alert import Alert, iso_time, new_id

if TYPE_CHECKING:
    from edgeinfer.app import Daemon

log = logging.getLogger(__name__)

MB = 1 << 20
# Alerts are stored one at a time (outbox, then log): after a stop between the two
# only the newest can be missing from the log; this many are checked.
LOG_CHECK_ALERTS = 64


class FleetLink:
    """Publishes status, telemetry and alerts of ``daemon``; obeys its commands."""

    def __init__(self, daemon: Daemon, router: CommandRouter) -> None:
        cfg = daemon.config
        mqtt = cfg.mqtt
        self.daemon = daemon
        self.device = cfg.device.id
        # closes an alert's JSON object with the device: ,"device":"<id>"}
        self._device_tail = f',"device":{json.dumps(self.device)}}}'.encode()
        self.topics = Topics(cfg.mqtt_prefix, tuple(cfg.device.groups))
        self.outbox = Outbox(
            cfg.state_dir / "outbox.db",
            max_bytes=int(mqtt.outbox.max_mb * MB),
            hard_max_bytes=int(mqtt.outbox.hard_max_mb * MB),
            power_safe=mqtt.outbox.power_safe,
        )
        self.connection = Connection(
            mqtt,
            client_id=mqtt.client_id or f"edgeinfer-{self.device}",
            will=lambda: self._status_message("offline"),
            subscriptions=self.topics.subscriptions() if mqtt.commands.enabled else [],
            listener=self,
        )
        self.sender = OutboxSender(
            self.outbox, self.connection.publish, window=mqtt.max_inflight
        )
        self.commands = CommandIntake(
            self.topics,
            router,
            CommandContext(daemon, self),
            self.send,
            mqtt.commands,
            device=self.device,
            response_topics=mqtt.protocol == "5",
        )
        self.unsent_qos0 = 0  # QoS 0 telemetry skipped while disconnected
        self._send_lock = threading.Lock()
        self._final_status: dict[str, Any] | None = None
        self._stop = threading.Event()
        self._telemetry = threading.Thread(
            target=self._telemetry_loop, name="mqtt-telemetry", daemon=True
        )
        daemon.updates.listeners.append(self.send_model_state)
        for body in list(daemon.updates.states.values()):
            self.send_model_state(body)  # reported before the link existed (a rollback)
        pending = len(self.outbox)
        if pending:
            log.info("outbox holds %d unsent messages from before", pending)
            self.log_stored_alerts()

    # -- life cycle -----------------------------------------------------------------
    def start(self) -> None:
        """Start sending, receiving and connecting; returns at once."""
        self.sender.start()
        self.commands.start()
        self.connection.start()
        self._telemetry.start()

    def stop(self) -> None:
        """Say offline, disconnect, and keep what is unsent for the next start."""
        self._stop.set()
        self._telemetry.join(2.0)
        self.commands.stop()
        self.connection.stop(farewell=self._status_message("offline", reason="stopped"))
        self.sender.stop()
        self._final_status = self.status()
        self.outbox.close()

    # -- alerts ---------------------------------------------------------------------
    def send_alert(self, alert: Alert, then: Callable[[], None]) -> None:
        """Store ``alert`` in the outbox and publish it, then call ``then`` (the
        daemon records the alert in its alert log): until ``then`` has returned the
        outbox keeps the alert even if the broker has acknowledged it. A failure of
        the link is logged; ``then`` runs in any case and its errors propagate."""
        with self.sender.holding_acks():
            try:
                self.on_alert(alert)
            except Exception:  # logged, not raised: the alert log must still take it
                log.exception("could not store alert %s in the outbox", alert.id)
            then()

    def log_stored_alerts(self) -> int:
        """Copy to the alert log the newest outbox alerts it lacks: the daemon
        stopped (kill -9, power loss) between storing one in the outbox and in the
        log. Such an alert comes without its snapshot (the outbox holds the JSON
        only). Returns how many; the outbox sends them as usual."""
        payloads = self.outbox.newest_payloads("alert", LOG_CHECK_ALERTS)
        alerts: list[Alert] = []
        for payload in payloads:
            try:
                body = json.loads(payload)
                body.pop("device", None)
                alerts.append(Alert.from_json(body))
            except (ValueError, KeyError, TypeError) as err:
                log.error("outbox holds an unreadable alert (%s); not logged", err)  # noqa: TRY400
        alert_log = self.daemon.alert_log
        known = alert_log.known([a.id for a in alerts])
        missing = [a for a in alerts if a.id not in known]
        for alert in missing:
            alert_log.append(alert, sync=False)
        if missing:
            alert_log.sync()
            log.warning(
                "alert log: added %d alerts that were only in the outbox (the daemon "
                "had stopped between the two)",
                len(missing),
            )
        return len(missing)

    def on_alert(self, alert: Alert) -> None:
        """Store ``alert`` in the outbox; it is published when the broker is there."""
        self.send(
            Message(
                topic=self.topics.alerts,
                payload=alert.encoded[:-1] + self._device_tail,  # the log's JSON
                kind="alert",
                id=alert.id,
                content_type="application/json",
            )
        )

    # -- publishing -----------------------------------------------------------------
    def send(self, message: Message, replace_topic: bool = False) -> None:
        """QoS 1: store, then publish when possible. QoS 0: publish now or skip."""
        if message.qos == 0:
            if self.connection.publish(message) is None:
                self.unsent_qos0 += 1
            return
        with self._send_lock:  # offered in the order stored: each topic stays in order
            result = self.outbox.put(message, replace_topic=replace_topic, sync=False)
            # In the WAL already (safe from a crash): publish while the disk flushes.
            if result.seq:  # 0: a message with this id is stored already
                self.sender.offer(message, result.seq)
        self.outbox.sync(wait=False)  # the outbox's thread flushes meanwhile
        if result.dropped_alerts:
            self._report_loss(result.dropped_alerts)

    def _report_loss(self, dropped: list[str]) -> None:
        log.error(
            "outbox full (hard cap %.1f MB): dropped the %d oldest unsent alerts",
            self.outbox.hard_max_bytes / MB,
            len(dropped),
        )
        loss = Alert(
            stream="outbox",
            rule="outbox_overflow",
            severity="critical",
            timestamp=time.time(),
            values={
                "dropped_alerts": len(dropped),
                "first_dropped_id": dropped[0],
                "last_dropped_id": dropped[-1],
                "hard_max_mb": round(self.outbox.hard_max_bytes / MB, 3),
            },
        )
        self.daemon.alert_log.append(loss)
        self.on_alert(loss)

    def publish_snapshot(
        self, stream: str, jpeg: bytes, meta: dict[str, Any]
    ) -> dict[str, Any]:
        """Send a JPEG to ``<prefix>/snapshot/<stream>`` (id in user properties)."""
        message_id = new_id()
        message = Message(
            topic=self.topics.snapshot(stream),
            payload=jpeg,
            kind="snapshot",
            id=message_id,
            content_type="image/jpeg",
            user_properties=(
                ("id", message_id),
                ("stream", stream),
                *((k, str(v)) for k, v in meta.items()),
            ),
        )
        self.send(message)
        return {"topic": message.topic, "id": message_id, "bytes": len(jpeg)}

    def send_model_state(self, body: dict[str, Any]) -> None:
        """Publish a model update state, retained (replacing any unsent one)."""
        message = json_message(
            self.topics.model_state,
            "status",
            {"kind": "model_state", "device": self.device, **body},
            retain=True,
        )
        self.send(message, replace_topic=True)
        if body.get("state") in ("active", "rolled_back"):
            self.send_status()  # the retained status names the model version

    def send_telemetry(self) -> None:
        """Publish one telemetry message now."""
        body = {"kind": "telemetry", **self.daemon.metrics.collect()}
        qos = self.daemon.config.telemetry.qos
        self.send(json_message(self.topics.telemetry, "telemetry", body, qos=qos))

    def send_status(self) -> None:
        """Publish the retained online status (replacing any unsent one)."""
        self.send(self._status_message("online"), replace_topic=True)

    def _status_message(self, state: str, **extra: Any) -> Message:
        body: dict[str, Any] = {"state": state, "device": self.device, **extra}
        if state == "online":
            status = self.daemon.status()
            models = status.get("models", {})
            first = next(iter(models.items()), None)
            body.update(
                name=self.daemon.config.device.name,
                groups=list(self.daemon.config.device.groups),
                version=__version__,
                model=first[0] if first else None,
                model_version=first[1].get("version", "") if first else "",
                accelerator=first[1].get("placement") if first else None,
                models={
                    name: {
                        "version": m.get("version", ""),
                        "accelerator": m.get("placement"),
                        "fallback": m.get("fallback", []),
                    }
                    for name, m in models.items()
                },
                uptime_s=status.get("uptime_s"),
                started=iso_time(self.daemon.started),
            )
        body["timestamp"] = now_iso()
        return json_message(self.topics.status, "status", body, retain=True)

    def _telemetry_loop(self) -> None:
        while not self._stop.wait(self.daemon.config.telemetry.interval_s):
            try:
                self.send_telemetry()
            except Exception:  # a stage boundary: skip this one, try the next
                log.exception("telemetry failed")

    # -- connection events (network thread) -----------------------------------------
    def on_connected(self, session_present: bool) -> None:
        """Resend from the outbox, and say we are online."""
        self.sender.on_connected()
        try:
            self.send_status()
        except Exception:  # status is best effort; the connection goes on
            log.exception("could not store the online status")

    def on_disconnected(self) -> None:
        """Hold the outbox until the next connect."""
        self.sender.on_disconnected()

    def on_acked(self, mid: int, error: str) -> None:
        """The broker acknowledged a message."""
        self.sender.on_acked(mid, error)

    def on_message(self, message: Inbound) -> None:
        """A command arrived."""
        self.commands.offer(message)

    # -- reporting ------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        """Connection state, outbox, in-flight messages and command counters."""
        if self._final_status is not None:
            return self._final_status
        return {
            **self.connection.status().to_json(),
            "broker": f"{self.connection.host}:{self.connection.config.port}",
            "client_id": self.connection.client_id,
            "prefix": self.topics.prefix,
            "outbox": self.outbox.stats().to_json(),
            "inflight": self.sender.inflight(),
            "refused": self.sender.refused,
            "unsent_qos0": self.unsent_qos0,
            "commands": self.commands.counters.to_json(),
        }
