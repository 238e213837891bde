"""Alerts reach the fleet console through broker outages and daemon crashes: each
one at least once, in order, and exactly once after de-duplication by id."""

from __future__ import annotations

import json
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from edgeinfer.app import Daemon
from edgeinfer.config import load_config
from edgeinfer.config.mqtt import MqttConfig
from edgeinfer.mqtt.client import READ_DELAY_S
from edgeinfer.mqtt.connection import Connection, Inbound
from edgeinfer.mqtt.messages import Message, json_message
from edgeinfer.mqtt.outbox import Outbox
from edgeinfer.rules.alert import Alert
from edgeinfer.sinks.alertlog import AlertLog
from tests.conftest import ROOT
from tests.mosquitto import Broker, Received, TestClient, free_port

pytestmark = pytest.mark.integration

DEV = "edgeinfer/line4"
ALERTS, STATUS = f"{DEV}/alerts", f"{DEV}/status"


def write_config(tmp_path: Path, port: int, streams: bool = True) -> Path:
    """A device with a sensor stream raising an alert every 0.2 s."""
    series = tmp_path / "line.csv"
    series.write_text(
        "ts,value\n" + "".join(f"{i * 0.1:.1f},{100 * (i % 2)}\n" for i in range(100))
    )
    path = tmp_path / "device.yaml"
    sensor = f"""streams:
  - {{kind: csv, name: line, path: {series}, realtime: true, loop: true}}
rules:
  - {{kind: threshold, name: hot, channel: value, above: 50}}
"""
    path.write_text(
        f"""device: {{id: line4}}
state_dir: {tmp_path / "state"}
{sensor if streams else ""}
mqtt:
  host: 127.0.0.1
  port: {port}
  reconnect_min_s: 0.2
  reconnect_max_s: 1
telemetry: {{interval_s: 5}}
"""
    )
    return path


def logged(tmp_path: Path) -> list[dict[str, Any]]:
    """The alerts in the daemon's local alert log, oldest first."""
    log = AlertLog(tmp_path / "state" / "alerts.db")
    try:
        return [body for _, body in log.tail(1_000_000)]
    finally:
        log.close()


def logged_ids(tmp_path: Path) -> list[str]:
    """Ids of the alerts in the daemon's local alert log, oldest first."""
    return [body["id"] for body in logged(tmp_path)]


def unsent_alerts(tmp_path: Path) -> list[str]:
    """Ids of the alerts waiting in the outbox."""
    db = sqlite3.connect(tmp_path / "state" / "outbox.db")
    try:
        rows = db.execute("SELECT id FROM outbox WHERE kind = 'alert' ORDER BY seq")
        return [row[0] for row in rows]
    finally:
        db.close()


def alert_ids(console: TestClient) -> list[str]:
    """Ids of the alerts the console received, duplicates included."""
    return [m.json()["id"] for m in console.on_topic(ALERTS)]


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} within {timeout} s")
        time.sleep(0.1)


def is_status(state: str) -> Callable[[Received], bool]:
    return lambda m: m.topic == STATUS and m.json()["state"] == state


class Acks:
    """A connection's listener that keeps the acknowledged packet ids."""

    def __init__(self) -> None:
        self.acked: list[int] = []
        self.read_at: dict[int, float] = {}  # packet id -> when its ack was read

    def on_connected(self, session_present: bool) -> None:
        pass

    def on_disconnected(self) -> None:
        pass

    def on_acked(self, mid: int, error: str) -> None:
        self.acked.append(mid)
        self.read_at[mid] = time.perf_counter()

    def on_message(self, message: Inbound) -> None:
        pass


@pytest.fixture
def console(broker: Broker) -> Iterator[TestClient]:
    """The fleet console: a persistent session subscribed to status and alerts."""
    client = TestClient(
        broker.port, [ALERTS, STATUS], client_id="console-line4", persistent=True
    )
    yield client
    client.close()


def test_alerts_through_a_30_s_broker_outage_arrive_once_each_in_order(
    tmp_path: Path, broker: Broker, console: TestClient
) -> None:
    path = write_config(tmp_path, broker.port)
    daemon = Daemon(load_config(path), config_file=path)
    daemon.load()
    daemon.start()
    try:
        console.wait_for(lambda m: m.topic == ALERTS)
        broker.stop()
        time.sleep(30)  # alerts keep coming: about 150 of them
        during = daemon.status()["mqtt"]
        assert during["state"] != "connected"
        assert "refused the connection" in during["error"]
        assert during["outbox"]["by_kind"]["alert"] >= 100
        broker.start()
        time.sleep(2)
        daemon.sources["line"].stop()  # no new alerts from here on
        time.sleep(0.5)
        expected = logged_ids(tmp_path)
        wait_until(
            lambda: set(alert_ids(console)) >= set(expected),
            30,
            "every logged alert reached the console",
        )
    finally:
        daemon.stop()
    assert logged_ids(tmp_path) == expected
    received = alert_ids(console)
    assert list(dict.fromkeys(received)) == expected  # once each, in order
    assert len(received) - len(expected) <= 2 * daemon.config.mqtt.max_inflight
    assert "alert" not in daemon.status()["mqtt"]["outbox"]["by_kind"]


def spawn(path: Path, tmp_path: Path) -> subprocess.Popen[bytes]:
    with (tmp_path / "daemon.log").open("ab") as out:  # the child keeps its own fd
        return subprocess.Popen(
            [sys.executable, "-m", "edgeinfer", "run", "--config", str(path)],
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )


def test_kill_9_leaves_the_last_will_and_unsent_alerts_follow_after_restart(
    tmp_path: Path, broker: Broker, console: TestClient
) -> None:
    path = write_config(tmp_path, broker.port)
    daemon = spawn(path, tmp_path)
    try:
        console.wait_for(is_status("online"), 30)
        console.wait_for(lambda m: m.topic == ALERTS, 10)
        daemon.kill()
        daemon.wait(10)
        will = console.wait_for(is_status("offline"), 10).json()
        assert "reason" not in will  # the broker's last will, not a goodbye

        broker.stop()  # alerts raised now can only go to the outbox
        daemon = spawn(path, tmp_path)
        wait_until(lambda: len(unsent_alerts(tmp_path)) >= 5, 30, "5 unsent alerts")
        daemon.send_signal(signal.SIGKILL)
        daemon.wait(10)
        expected = logged_ids(tmp_path)
        assert set(unsent_alerts(tmp_path)) <= set(expected)

        broker.start()
        daemon = spawn(path, tmp_path)
        wait_until(
            lambda: set(alert_ids(console)) >= set(expected),
            30,
            "the alerts unsent at kill -9 reached the console",
        )
        daemon.terminate()
        assert daemon.wait(30) == 0
    finally:
        if daemon.poll() is None:
            daemon.kill()
            daemon.wait()
    first_seen = list(dict.fromkeys(alert_ids(console)))
    assert first_seen[: len(expected)] == expected
    goodbye = console.on_topic(STATUS)[-1].json()
    assert (goodbye["state"], goodbye["reason"]) == ("offline", "stopped")


def test_a_retained_command_is_not_run_again_on_connect(
    tmp_path: Path, broker: Broker, console: TestClient
) -> None:
    console.publish(f"{DEV}/cmd/set_log_level", '{"level": "error"}', retain=True)
    path = write_config(tmp_path, broker.port, streams=False)
    daemon = Daemon(load_config(path), config_file=path)
    daemon.start()
    try:
        assert daemon.fleet is not None
        counters = daemon.fleet.commands.counters
        wait_until(lambda: counters.ignored_retained == 1, 10, "the command ignored")
        assert counters.ok == counters.failed == 0
    finally:
        daemon.stop()
        console.publish(f"{DEV}/cmd/set_log_level", b"", retain=True)


def test_alerts_dropped_at_the_outbox_cap_are_reported_as_an_alert(
    tmp_path: Path,
) -> None:
    path = write_config(tmp_path, free_port())  # no broker there
    text = path.read_text().replace(
        "  reconnect_max_s: 1\n",
        "  reconnect_max_s: 1\n  outbox: {max_mb: 0.002, hard_max_mb: 0.004}\n",
    )
    path.write_text(text)
    daemon = Daemon(load_config(path), config_file=path)
    daemon.start()
    try:
        for n in range(40):
            daemon.emit(
                Alert(
                    "line", "hot", "warning", time.time(), {"value": n, "pad": "x" * 80}
                )
            )
        assert daemon.fleet is not None
        outbox = daemon.status()["mqtt"]["outbox"]
    finally:
        daemon.stop()
    assert outbox["dropped_alerts"] > 0
    assert outbox["bytes"] <= 0.004 * (1 << 20)
    losses = [body for body in logged(tmp_path) if body["rule"] == "outbox_overflow"]
    assert losses, "the loss is in the local alert log"
    assert losses[0]["severity"] == "critical"
    assert losses[0]["values"]["dropped_alerts"] > 0
    unsent = unsent_alerts(tmp_path)
    assert losses[-1]["id"] in unsent  # and waits to be published


def test_a_packet_leaves_with_publish_and_its_ack_is_read_later(
    broker: Broker, console: TestClient
) -> None:
    listener = Acks()
    connection = Connection(
        MqttConfig(host="127.0.0.1", port=broker.port),
        client_id="writes-itself",
        will=lambda: json_message(STATUS, "status", {"state": "offline"}),
        subscriptions=[],
        listener=listener,
    )
    # The network loop turns only when this test turns it.
    client = connection._build_client()
    connection._client = client
    connection._connect(client)
    try:
        wait_until(
            lambda: client.turn(0.05) == 0 and connection.connected, 10, "connected"
        )
        sock = client.socket()
        assert isinstance(sock, socket.socket)
        # Nagle's algorithm off: a packet is not held for the ack of the one before.
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        message = json_message(ALERTS, "alert", {"id": "sent-by-its-thread"})
        mid = connection.publish(message)
        assert mid is not None
        # No turn of the loop since: the packet left with ``publish``.
        received = console.wait_for(lambda m: m.topic == ALERTS, 5)
        assert received.json()["id"] == message.id
        wait_until(
            lambda: client.turn(0.05) == 0 and mid in listener.acked, 5, "acknowledged"
        )
        # The ack of the next one, there by now, is read only READ_DELAY_S later.
        again = connection.publish(json_message(ALERTS, "alert", {"id": "2nd"}))
        assert again is not None
        console.wait_for(lambda m: m.json().get("id") == "2nd", 5)
        time.sleep(0.2)  # the broker has acknowledged it too
        start = time.perf_counter()
        wait_until(
            lambda: client.turn(0.05) == 0 and again in listener.acked, 5, "acked"
        )
        assert listener.read_at[again] - start >= READ_DELAY_S
        client.disconnect()
        client.turn(0.05)
    finally:
        client.close_loop()


def test_an_alert_only_in_the_outbox_is_logged_at_the_next_start(
    tmp_path: Path, broker: Broker, console: TestClient
) -> None:
    """The daemon stores an alert in its outbox, sends it, and logs it meanwhile: a
    stop in between (kill -9, power loss) leaves it in the outbox alone. The next
    start logs it, once, after the alerts logged before, and sends both."""
    path = write_config(tmp_path, broker.port, streams=False)
    state = tmp_path / "state"
    sent, cut = (
        Alert("line", "hot", "critical", 1700000000.0 + i, {"value": 120.0 + i})
        for i in range(2)
    )
    alert_log = AlertLog(state / "alerts.db")
    alert_log.append(sent)  # logged, not acknowledged yet
    alert_log.close()
    box = Outbox(state / "outbox.db")
    for alert in (sent, cut):
        box.put(
            Message(
                topic=ALERTS,
                payload=alert.encoded[:-1] + b',"device":"line4"}',
                kind="alert",
                id=alert.id,
            )
        )
    box.close()
    daemon = Daemon(load_config(path), config_file=path)
    daemon.load()
    daemon.start()
    try:
        wait_until(
            lambda: alert_ids(console) == [sent.id, cut.id], 10, "both alerts sent"
        )
    finally:
        daemon.stop()
    assert logged(tmp_path) == [json.loads(a.encoded) for a in (sent, cut)]


def test_threads_publishing_at_once_keep_every_packet_whole(
    broker: Broker, console: TestClient
) -> None:
    """Four threads publish large messages at once, each writing its own packets,
    while the network thread reads their acks. A small socket buffer makes writes
    stop part-way; only because writes take turns does every message arrive whole,
    in each thread's order, on one session."""
    listener = Acks()
    connection = Connection(
        MqttConfig(host="127.0.0.1", port=broker.port, max_inflight=1000),
        client_id="four-writers",
        will=lambda: json_message(STATUS, "status", {"state": "offline"}),
        subscriptions=[],
        listener=listener,
    )
    count, writers = 20, 4
    connection.start()
    try:
        wait_until(lambda: connection.connected, 10, "connected")
        assert connection._client is not None
        sock = connection._client.socket()
        assert isinstance(sock, socket.socket)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)

        def publish(writer: int) -> None:
            for n in range(count):
                body = {"writer": writer, "n": n, "pad": "x" * (100_000 + 997 * n)}
                while connection.publish(json_message(ALERTS, "alert", body)) is None:
                    time.sleep(0.01)

        threads = [threading.Thread(target=publish, args=(w,)) for w in range(writers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        total = count * writers
        wait_until(lambda: len(console.on_topic(ALERTS)) >= total, 30, "all arrived")
        wait_until(lambda: len(listener.acked) >= total, 10, "all acknowledged")
        assert connection.status().connects == 1  # no garbled packet cut the session
    finally:
        connection.stop()
    bodies = [m.json() for m in console.on_topic(ALERTS)]
    assert len(bodies) == total
    for writer in range(writers):
        mine = [b for b in bodies if b["writer"] == writer]
        assert [b["n"] for b in mine] == list(range(count))
        assert all(len(b["pad"]) == 100_000 + 997 * b["n"] for b in mine)
