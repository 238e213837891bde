"""The broker connection: paho-mqtt 2 on a thread of its own, reconnecting forever.

One thread connects (TCP, TLS, CONNECT), runs the network loop while the session
lasts, and after a failure waits a capped exponential backoff with jitter before the
next attempt, so a fleet that lost its broker does not come back in lockstep. The
reason of the last failure is kept, in words that name the setting to fix.

Other threads call ``publish`` at any time and write their packet to the socket
themselves, so that it leaves at once (see ``edgeinfer.mqtt.client``).

Messages are not resent by paho after a reconnect: ``drop_out_messages`` clears them
on connect and the owner of the messages (the outbox) sends everything unacknowledged
again, in order.
"""

from __future__ import annotations

import enum
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from edgeinfer.config.mqtt import MqttConfig
from edgeinfer.mqtt.client import Client, PackedOnce
from edgeinfer.mqtt.diagnose import explain_connect_error
from edgeinfer.mqtt.messages import Message
from edgeinfer.mqtt.tls import ClientTlsContext, tls_context
from edgeinfer.sources.base import Backoff

log = logging.getLogger(__name__)

LOOP_TIMEOUT_S = 0.5
_AUTH_REFUSALS = {"Bad user name or password", "Not authorized"}


class State(enum.Enum):
    """Where the connection is."""

    CONNECTING = "connecting"
    CONNECTED = "connected"
    DISCONNECTED = "disconnected"
    STOPPED = "stopped"


@dataclass(frozen=True)
class ConnectionStatus:
    """The connection's state for status and telemetry.

    ``error`` is why the last attempt or session failed (empty after a success),
    ``failures`` counts failed attempts since the last success, ``retry_in_s`` is the
    wait before the next attempt while disconnected.
    """

    state: State
    since: float
    error: str = ""
    failures: int = 0
    connects: int = 0
    retry_in_s: float | None = None
    session_present: bool = False

    def to_json(self) -> dict[str, Any]:
        """Plain values for status, telemetry and the CLI."""
        return {
            "state": self.state.value,
            "since": round(self.since, 3),
            "error": self.error,
            "failures": self.failures,
            "connects": self.connects,
            "retry_in_s": None
            if self.retry_in_s is None
            else round(self.retry_in_s, 2),
            "session_present": self.session_present,
        }


@dataclass(frozen=True)
class Inbound:
    """A message from the broker, with its MQTT 5 response topic and correlation."""

    topic: str
    payload: bytes
    retain: bool = False
    response_topic: str | None = None
    correlation_data: bytes | None = None


class Listener(Protocol):
    """What the connection tells its owner; called on the network thread."""

    def on_connected(self, session_present: bool) -> None:
        """A session is up (subscriptions are being renewed)."""

    def on_disconnected(self) -> None:
        """The session ended; messages handed over and not acked are void."""

    def on_acked(self, mid: int, error: str) -> None:
        """The broker acknowledged ``mid``; ``error`` non-empty if it refused it."""

    def on_message(self, message: Inbound) -> None:
        """A message arrived on a subscribed topic."""


class Connection:
    """A paho client kept connected to the broker ``config`` names."""

    def __init__(
        self,
        config: MqttConfig,
        client_id: str,
        will: Callable[[], Message],
        subscriptions: list[str],
        listener: Listener,
    ) -> None:
        if not config.host:
            raise ValueError("Connection needs mqtt.host")
        self.config = config
        self.host: str = config.host
        self.client_id = client_id
        self.will = will
        self.subscriptions = subscriptions
        self.listener = listener
        self.v5 = config.protocol == "5"
        self._plain_properties: dict[tuple[int, str | None], Properties] = {}
        self.backoff = Backoff(config.reconnect_min_s, config.reconnect_max_s, 0.3)
        self._client: Client | None = None
        self._tls: ClientTlsContext | None = None
        self._stop = threading.Event()
        self._farewell: Message | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._status = ConnectionStatus(State.DISCONNECTED, time.time())
        self._refusal = ""  # why the broker refused the session, set in on_connect
        self._last_socket_error = ""  # what paho logged when the socket failed

    # -- life cycle -----------------------------------------------------------------
    def start(self) -> None:
        """Start connecting in the background; returns at once."""
        self._thread = threading.Thread(target=self._run, name="mqtt-net", daemon=True)
        self._thread.start()

    def stop(self, farewell: Message | None = None, timeout: float = 3.0) -> None:
        """Publish ``farewell`` if connected (waiting for its ack), then disconnect."""
        self._farewell = farewell
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)  # a connect attempt in progress is abandoned

    @property
    def connected(self) -> bool:
        """True while a session is up."""
        return self._status.state is State.CONNECTED

    def status(self) -> ConnectionStatus:
        """The current state, with the last error."""
        return self._status

    # -- publishing -----------------------------------------------------------------
    def publish(self, message: Message) -> int | None:
        """Hand ``message`` to paho; its packet id, or None if it was not taken."""
        client = self._client
        if client is None or not self.connected:
            return None
        try:
            info = client.publish(
                message.topic,
                message.payload,
                qos=message.qos,
                retain=message.retain,
                properties=self._properties(message),
            )
        except ValueError as err:  # a topic paho refuses (too long, wildcards)
            log.error("cannot publish to %r: %s", message.topic, err)  # noqa: TRY400
            return None
        if not client.write_now():
            client.wake()
        if info.rc not in (
            MQTTErrorCode.MQTT_ERR_SUCCESS,
            MQTTErrorCode.MQTT_ERR_NO_CONN,
        ):
            log.warning(
                "publish to %s failed: %s", message.topic, paho.error_string(info.rc)
            )
            return None
        return int(info.mid)

    def _properties(
        self, message: Message, packet: int = PacketTypes.PUBLISH
    ) -> Properties | None:
        if not self.v5:
            return None
        plain = message.correlation_data is None and not message.user_properties
        key = (packet, message.content_type)
        if plain and (cached := self._plain_properties.get(key)) is not None:
            return cached  # paho only packs them: one object serves every message
        props = PackedOnce(packet) if plain else Properties(packet)  # type: ignore[no-untyped-call]
        if message.correlation_data is not None:
            props.CorrelationData = message.correlation_data
        if message.content_type:
            props.ContentType = message.content_type
        if message.user_properties:
            props.UserProperty = list(message.user_properties)
        if plain:
            self._plain_properties[key] = props
        return props

    # -- the network thread ---------------------------------------------------------
    def _run(self) -> None:
        try:
            self._connect_and_serve()
        finally:
            if self._client is not None:
                self._client.close_loop()
        self._set(State.STOPPED)

    def _connect_and_serve(self) -> None:
        while not self._stop.is_set():
            self._set(State.CONNECTING)
            self._refusal = self._last_socket_error = ""
            try:
                client = self._client or self._build_client()
                self._client = client
                self._connect(client)
            except Exception as err:  # the network boundary: explain, back off, retry
                if self._tls is not None:
                    self._tls.close_failed()
                self._failed(explain_connect_error(err, self.config))
                continue
            error = self._serve(client)
            if self._stop.is_set():
                break
            self._failed(error)

    def _build_client(self) -> Client:
        cfg = self.config
        client = Client(
            CallbackAPIVersion.VERSION2,
            client_id=self.client_id,
            protocol=MQTTProtocolVersion.MQTTv5
            if self.v5
            else MQTTProtocolVersion.MQTTv311,
            clean_session=None if self.v5 else False,
            reconnect_on_failure=False,
            on_error=self._on_paho_error,
        )
        if cfg.username is not None:
            password = cfg.password.get_secret_value() if cfg.password else None
            client.username_pw_set(cfg.username, password)
        if cfg.tls.active:
            self._tls = tls_context(cfg.tls)
            client.tls_set_context(self._tls)
        client.connect_timeout = cfg.connect_timeout_s
        client.max_inflight_messages_set(cfg.max_inflight)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        client.on_message = self._on_message
        return client

    def _connect(self, client: Client) -> None:
        cfg = self.config
        will = self.will()  # a fresh message id for every session
        client.will_set(
            will.topic,
            will.payload,
            qos=1,
            retain=True,
            properties=self._properties(will, PacketTypes.WILLMESSAGE),
        )
        if self.v5:
            props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
            props.SessionExpiryInterval = cfg.session_expiry_s
            client.connect(
                self.host,
                cfg.port,
                cfg.keepalive_s,
                clean_start=False,
                properties=props,
            )
        else:
            client.connect(self.host, cfg.port, cfg.keepalive_s)

    def _serve(self, client: Client) -> str:
        """Run the network loop until the session ends; why it ended."""
        while not self._stop.is_set():
            rc = client.turn(LOOP_TIMEOUT_S)
            if rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
                return self._refusal or self._lost(rc)
        self._say_goodbye(client)
        return ""

    def _lost(self, rc: MQTTErrorCode) -> str:
        was_up = self._status.state is not State.CONNECTING
        detail = self._last_socket_error or paho.error_string(rc)
        if was_up:
            return f"connection to {self.host}:{self.config.port} lost ({detail})"
        hint = (
            " — with TLS this is often a client certificate the broker rejects: "
            "check mqtt.tls.cert_file and key_file"
            if self.config.tls.active
            else ""
        )
        return (
            f"{self.host}:{self.config.port} closed the connection before accepting "
            f"the session ({detail}){hint}"
        )

    def _say_goodbye(self, client: Client) -> None:
        farewell = self._farewell
        if self.connected and farewell is not None:
            info = client.publish(
                farewell.topic,
                farewell.payload,
                qos=1,
                retain=farewell.retain,
                properties=self._properties(farewell),
            )
            deadline = time.monotonic() + 2.0
            while not info.is_published() and time.monotonic() < deadline:
                if client.turn(0.05) != MQTTErrorCode.MQTT_ERR_SUCCESS:
                    return  # gone: the broker publishes the last will instead
        client.disconnect()
        client.turn(0.05)

    def _failed(self, error: str) -> None:
        delay = self.backoff.next()
        with self._lock:
            old = self._status
            self._status = ConnectionStatus(
                State.DISCONNECTED,
                time.time(),
                error=error,
                failures=old.failures + 1,
                connects=old.connects,
                retry_in_s=delay,
            )
        if old.failures == 0 or old.error != error:
            log.warning("mqtt: %s (retrying in %.1f s)", error, delay)
        else:
            log.debug("mqtt: %s (retrying in %.1f s)", error, delay)
        self._stop.wait(delay)

    def _set(self, state: State, **changes: Any) -> None:
        with self._lock:
            old = self._status
            fields = {
                "error": old.error,
                "failures": old.failures,
                "connects": old.connects,
                "session_present": old.session_present,
                **changes,
            }
            self._status = ConnectionStatus(state, time.time(), **fields)

    # -- paho callbacks (network thread) --------------------------------------------
    def _on_connect(
        self,
        client: paho.Client,
        _userdata: Any,
        flags: paho.ConnectFlags,
        reason: ReasonCode,
        _props: Properties | None,
    ) -> None:
        if reason.is_failure:
            name = str(reason)
            fix = (
                " — check mqtt.username and mqtt.password"
                if name in _AUTH_REFUSALS
                else ""
            )
            user = f" as user {self.config.username!r}" if self.config.username else ""
            self._refusal = f"the broker refused the session{user}: {name}{fix}"
            return
        client.drop_out_messages()  # the outbox resends them, in order
        if self.subscriptions:
            client.subscribe([(topic, 1) for topic in self.subscriptions])
        self.backoff.reset()
        self._set(
            State.CONNECTED,
            error="",
            failures=0,
            connects=self._status.connects + 1,
            session_present=flags.session_present,
        )
        self.listener.on_connected(flags.session_present)
        log.info(
            "mqtt: connected to %s:%d as %s (MQTT %s%s, session %s)",
            self.host,
            self.config.port,
            self.client_id,
            self.config.protocol,
            ", TLS" if self.config.tls.active else "",
            "resumed" if flags.session_present else "new",
        )

    def _on_disconnect(
        self,
        _client: paho.Client,
        _userdata: Any,
        _flags: paho.DisconnectFlags,
        reason: ReasonCode,
        _props: Properties | None,
    ) -> None:
        if self._status.state is State.CONNECTED:
            self._set(State.DISCONNECTED)
            self.listener.on_disconnected()
            if not self._stop.is_set():
                log.info("mqtt: disconnected (%s)", reason)

    def _on_publish(
        self,
        _client: paho.Client,
        _userdata: Any,
        mid: int,
        reason: ReasonCode,
        _props: Properties | None,
    ) -> None:
        self.listener.on_acked(mid, str(reason) if reason.is_failure else "")

    def _on_message(
        self, _client: paho.Client, _userdata: Any, msg: paho.MQTTMessage
    ) -> None:
        props = msg.properties
        self.listener.on_message(
            Inbound(
                topic=msg.topic,
                payload=bytes(msg.payload),
                retain=bool(msg.retain),
                response_topic=getattr(props, "ResponseTopic", None),
                correlation_data=getattr(props, "CorrelationData", None),
            )
        )

    def _on_paho_error(self, text: str) -> None:
        self._last_socket_error = text
