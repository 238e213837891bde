"""A real Mosquitto broker for tests: its own config and data in a folder, a free
localhost port, and stop/start on the same port (sessions persist across restarts);
and ``TestClient``, a paho client standing in for the fleet console.

    broker = Broker(tmp_path / "broker")
    broker.start()
    broker.stop(); broker.start()   # same port, same persisted sessions
"""

from __future__ import annotations

import getpass
import json
import shutil
import socket
import ssl
import subprocess
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Broker:
    """One mosquitto process; ``listener`` and ``settings`` add config lines."""

    def __init__(
        self,
        folder: Path,
        *,
        listener: str = "",
        settings: str = "",
        anonymous: bool = True,
    ) -> None:
        self.folder = folder
        self.port = free_port()
        self.listener = listener
        self.settings = settings
        self.anonymous = anonymous
        self.proc: subprocess.Popen[bytes] | None = None
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "data").mkdir(exist_ok=True)
        self.conf = folder / "mosquitto.conf"
        self.log = folder / "mosquitto.log"

    def write_config(self) -> None:
        """Write mosquitto.conf: persistence on, no queue limits, one listener."""
        self.conf.write_text(
            f"""user {getpass.getuser()}
per_listener_settings false
persistence true
persistence_location {self.folder / "data"}/
log_dest file {self.log}
log_type error
log_type warning
log_type notice
max_queued_messages 0
max_inflight_messages 0
allow_anonymous {str(self.anonymous).lower()}
{self.settings}
listener {self.port} 127.0.0.1
{self.listener}
"""
        )

    def start(self, timeout: float = 10.0) -> None:
        """Start the broker and wait until it accepts connections."""
        self.write_config()
        self.proc = subprocess.Popen(
            [MOSQUITTO, "-c", str(self.conf)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mosquitto exited: {self.log_text()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
            except OSError:
                time.sleep(0.05)
            else:
                return
        raise RuntimeError(f"mosquitto did not listen on {self.port} in {timeout} s")

    def stop(self) -> None:
        """Stop the broker cleanly (it saves its sessions and queues)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        self.proc = None

    def log_text(self) -> str:
        """What the broker logged."""
        return self.log.read_text() if self.log.exists() else ""


@dataclass(frozen=True)
class Received:
    """One message a test client got."""

    topic: str
    payload: bytes
    retain: bool
    correlation_data: bytes | None = None
    user_properties: tuple[tuple[str, str], ...] = ()

    def json(self) -> Any:
        """The payload as JSON."""
        return json.loads(self.payload)


class TestClient:
    """A paho client standing in for the fleet console: records what arrives on
    ``topics`` and sends commands with an MQTT 5 response topic.

    ``persistent`` keeps the session on the broker (clean start off, one hour)."""

    __test__ = False  # not a test class, whatever pytest thinks of the name

    def __init__(
        self,
        port: int,
        topics: list[str],
        *,
        client_id: str = "",
        persistent: bool = False,
        protocol: int = 5,
        tls: ssl.SSLContext | None = None,
        username: str | None = None,
        password: str | None = None,
    ) -> None:
        self.v5 = protocol == 5
        self.client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id or f"test-{uuid.uuid4().hex[:8]}",
            protocol=paho.MQTTv5 if self.v5 else paho.MQTTv311,
            clean_session=None if self.v5 else not persistent,
        )
        if tls is not None:
            self.client.tls_set_context(tls)
        if username is not None:
            self.client.username_pw_set(username, password)
        self.client.reconnect_delay_set(1, 1)
        self.topics = topics
        self.messages: list[Received] = []
        self._cond = threading.Condition()
        self._connected = threading.Event()
        self.client.on_message = self._on_message
        self.client.on_connect = self._on_connect
        props = None
        if self.v5 and persistent:
            props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
            props.SessionExpiryInterval = 3600
        kwargs: dict[str, Any] = {"properties": props}
        if self.v5:
            kwargs["clean_start"] = not persistent
        self.client.connect("127.0.0.1", port, keepalive=10, **kwargs)
        self.client.loop_start()
        if not self._connected.wait(10):
            raise RuntimeError("test client could not connect")

    def _on_connect(self, client: Any, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if not reason.is_failure:
            if self.topics:
                client.subscribe([(t, 1) for t in self.topics])
            self._connected.set()

    def _on_message(self, _c: Any, _u: Any, msg: paho.MQTTMessage) -> None:
        props = msg.properties
        received = Received(
            msg.topic,
            bytes(msg.payload),
            bool(msg.retain),
            getattr(props, "CorrelationData", None),
            tuple(getattr(props, "UserProperty", ()) or ()),
        )
        with self._cond:
            self.messages.append(received)
            self._cond.notify_all()

    def wait_for(
        self, match: Callable[[Received], bool], timeout: float = 10.0
    ) -> Received:
        """The first message (already here or arriving) that ``match`` accepts."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for m in self.messages:
                    if match(m):
                        return m
                left = deadline - time.monotonic()
                if left <= 0:
                    topics = sorted({m.topic for m in self.messages})
                    raise TimeoutError(
                        f"no matching message in {timeout} s; got {topics}"
                    )
                self._cond.wait(left)

    def on_topic(self, topic: str) -> list[Received]:
        """Messages received on ``topic`` so far."""
        with self._cond:
            return [m for m in self.messages if m.topic == topic]

    def publish(
        self,
        topic: str,
        payload: bytes | str,
        *,
        response_topic: str | None = None,
        correlation: bytes | None = None,
        retain: bool = False,
    ) -> None:
        """Publish at QoS 1, with MQTT 5 request properties when given."""
        props = None
        if self.v5 and (response_topic or correlation):
            props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
            if response_topic:
                props.ResponseTopic = response_topic
            if correlation:
                props.CorrelationData = correlation
        info = self.client.publish(
            topic, payload, qos=1, retain=retain, properties=props
        )
        info.wait_for_publish(5)

    def request(
        self, topic: str, payload: bytes | str = b"{}", timeout: float = 15.0
    ) -> dict[str, Any]:
        """Send a command with a response topic; its JSON reply."""
        reply_to = f"console/{uuid.uuid4().hex}"
        self.client.subscribe(reply_to, 1)
        time.sleep(0.05)  # the SUBACK races the reply otherwise
        corr = uuid.uuid4().bytes
        self.publish(topic, payload, response_topic=reply_to, correlation=corr)
        reply = self.wait_for(lambda m: m.topic == reply_to, timeout)
        assert reply.correlation_data == corr
        body: dict[str, Any] = reply.json()
        return body

    def close(self) -> None:
        """Disconnect and stop the network thread."""
        self.client.disconnect()
        self.client.loop_stop()
