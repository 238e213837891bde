"""The daemon on a real broker: status, telemetry, and every fleet command, good and
bad, over MQTT 5 request/response and the 3.1.1 reply topic."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from edgeinfer.app import Daemon
from edgeinfer.config import load_config
from tests.mosquitto import Broker, Received, TestClient

pytestmark = pytest.mark.integration

DEV = "edgeinfer/cell7"
RATE, BURST = 50.0, 20


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    b = Broker(tmp_path_factory.mktemp("broker"))
    b.start()
    yield b
    b.stop()


@pytest.fixture(scope="module")
def config_file(
    tmp_path_factory: pytest.TempPathFactory, assets: Path, broker: Broker
) -> Path:
    folder = tmp_path_factory.mktemp("device")
    series = folder / "line.csv"
    series.write_text(
        "ts,value\n" + "".join(f"{i * 0.2:.1f},{100 * (i % 2)}\n" for i in range(50))
    )
    models = assets / "models"
    path = folder / "device.yaml"
    path.write_text(
        f"""device: {{id: cell7, name: test cell, groups: [testers]}}
state_dir: {folder / "state"}
log_level: info
models:
  cls:
    path: {models / "mobilenet_v1_0.25_128_quant.tflite"}
    labels: {models / "imagenet_labels.txt"}
streams:
  - kind: camera
    name: cam
    source: {assets / "video" / "pedestrians_720p.avi"}
    model: cls
    loop: true
    fps_cap: 10
  - {{kind: csv, name: line, path: {series}, realtime: true, loop: true}}
rules:
  - {{kind: threshold, name: hot, channel: value, above: 50}}
mqtt:
  host: 127.0.0.1
  port: {broker.port}
  reconnect_min_s: 0.2
  reconnect_max_s: 1
  commands: {{rate_per_s: {RATE}, burst: {BURST}, max_payload_bytes: 1024}}
telemetry:
  interval_s: 0.5
"""
    )
    return path


@pytest.fixture(scope="module")
def daemon(config_file: Path) -> Iterator[Daemon]:
    d = Daemon(load_config(config_file), config_file=config_file)
    d.load()
    d.start()
    deadline = time.monotonic() + 10
    while d.status()["mqtt"]["state"] != "connected" and time.monotonic() < deadline:
        time.sleep(0.05)
    yield d
    d.stop()


@pytest.fixture
def console(broker: Broker, daemon: Daemon) -> Iterator[TestClient]:
    client = TestClient(broker.port, [f"{DEV}/#"])
    yield client
    client.close()


def ask(console: TestClient, name: str, payload: Any = None) -> dict[str, Any]:
    body = payload if isinstance(payload, bytes) else json.dumps(payload or {})
    return console.request(f"{DEV}/cmd/{name}", body)


def test_status_is_retained_online_with_version_model_and_accelerator(
    console: TestClient, broker: Broker
) -> None:
    console.wait_for(lambda m: m.topic == f"{DEV}/status")
    later = TestClient(broker.port, [f"{DEV}/status"])  # sees the retained copy
    try:
        retained = later.wait_for(lambda m: m.topic == f"{DEV}/status")
    finally:
        later.close()
    assert retained.retain
    status = retained.json()
    assert status["state"] == "online"
    assert status["version"] == "0.1.0"
    assert status["model"] == "cls"
    assert status["accelerator"].startswith(("litert", "openvino"))
    assert status["groups"] == ["testers"]
    assert status["uptime_s"] >= 0
    assert len(status["id"]) == 32


def test_telemetry_reports_streams_models_process_and_mqtt(
    console: TestClient,
) -> None:
    def ready(m: Received) -> bool:
        if m.topic != f"{DEV}/telemetry":
            return False
        return bool(m.json()["streams"]["cam"]["inferred_fps"] > 0)

    t = console.wait_for(ready).json()
    cam, line = t["streams"]["cam"], t["streams"]["line"]
    assert t["kind"] == "telemetry"
    assert cam["health"] == "ok"
    assert 0 < cam["fps"] <= 12  # fps_cap 10
    assert set(cam["latency_ms"]) == {"p50", "p95", "p99"}
    assert 0 < cam["latency_ms"]["p50"] <= cam["latency_ms"]["p99"]
    assert {"dropped", "gated", "errors", "alerts"} <= cam.keys()
    assert line["frames_in"] > 0
    assert t["models"]["cls"]["accelerator"].startswith(("litert", "openvino"))
    assert t["process"]["rss_bytes"] > 10 << 20
    assert t["process"]["cpu_percent"] >= 0
    assert t["system"]["disk"]["free_bytes"] > 0
    assert t["mqtt"]["state"] == "connected"
    ids = [m.json()["id"] for m in console.on_topic(f"{DEV}/telemetry")]
    assert len(ids) == len(set(ids))


def test_alerts_arrive_with_id_stream_rule_and_values(console: TestClient) -> None:
    alert = console.wait_for(lambda m: m.topic == f"{DEV}/alerts").json()
    assert alert["kind"] == "alert"
    assert (alert["stream"], alert["rule"], alert["device"]) == ("line", "hot", "cell7")
    assert alert["values"]["value"] == 100.0
    assert len(alert["id"]) == 32


def test_ping_answers_on_the_response_topic_with_the_correlation_data(
    console: TestClient,
) -> None:
    reply = ask(console, "ping")  # request() checks the correlation data
    assert reply["ok"] is True
    assert reply["result"]["pong"] is True
    assert reply["result"]["device"] == "cell7"
    assert reply["command"] == "ping"


def test_an_mqtt_311_console_gets_replies_on_the_reply_topic(
    broker: Broker, daemon: Daemon
) -> None:
    old = TestClient(broker.port, [f"{DEV}/cmd/+/reply"], protocol=4)
    try:
        old.publish(f"{DEV}/cmd/ping", "")
        reply = old.wait_for(lambda m: m.topic == f"{DEV}/cmd/ping/reply").json()
    finally:
        old.close()
    assert reply["ok"] is True
    assert reply["result"]["pong"] is True


def test_a_group_command_is_obeyed_and_answered(console: TestClient) -> None:
    reply = console.request("edgeinfer/group/testers/cmd/ping")
    assert reply["ok"] is True
    assert reply["device"] == "cell7"
    console.publish("edgeinfer/group/testers/cmd/ping", "{}")
    answer = console.wait_for(lambda m: m.topic == f"{DEV}/cmd/ping/reply").json()
    assert answer["ok"] is True


def test_status_command_shows_streams_models_and_the_connection(
    console: TestClient,
) -> None:
    result = ask(console, "status")["result"]
    assert result["device"] == "cell7"
    assert result["streams"]["cam"]["health"] == "ok"
    assert result["models"]["cls"]["placement"]
    assert result["mqtt"]["state"] == "connected"
    assert result["mqtt"]["outbox"]["stored"] > 0
    assert result["mqtt"]["commands"]["received"] > 0


def test_get_config_returns_the_config_or_one_key(console: TestClient) -> None:
    whole = ask(console, "get_config")["result"]["config"]
    assert whole["device"]["id"] == "cell7"
    assert ask(console, "get_config", {"key": "streams.1.name"})["result"] == {
        "key": "streams.1.name",
        "value": "line",
    }
    missing = ask(console, "get_config", {"key": "mqtt.nope"})
    assert missing["error"]["code"] == "not_found"


def test_set_config_applies_live_and_rewrites_the_file(
    console: TestClient, daemon: Daemon, config_file: Path
) -> None:
    before = config_file.read_text()
    patch = {
        "telemetry": {"interval_s": 0.3},
        "rules": [
            {"kind": "threshold", "name": "hotter", "channel": "value", "above": 50}
        ],
    }
    reply = ask(console, "set_config", {"patch": patch})
    try:
        assert reply["ok"], reply
        assert reply["result"]["applied"] == ["rules", "telemetry"]
        assert reply["result"]["restart_required"] == []
        assert daemon.config.telemetry.interval_s == 0.3
        assert load_config(config_file).rules[0].name == "hotter"
        assert (config_file.parent / "device.yaml.previous").read_text() == before
        console.wait_for(
            lambda m: m.topic == f"{DEV}/alerts" and m.json()["rule"] == "hotter"
        )
    finally:
        undo = {
            "telemetry": {"interval_s": 0.5},
            "rules": [
                {"kind": "threshold", "name": "hot", "channel": "value", "above": 50}
            ],
        }
        assert ask(console, "set_config", {"patch": undo})["ok"]


@pytest.mark.parametrize(
    ("patch", "expected"),
    [
        ({"mqtt": {"port": 70000}}, "set_config: mqtt.port: 70000 is not valid"),
        ({"telemetry": {"interval_s": "often"}}, "telemetry.interval_s"),
        (
            {
                "rules": [
                    {
                        "kind": "threshold",
                        "name": "x",
                        "channel": "value",
                        "above": 1,
                        "streams": ["nope"],
                    }
                ]
            },
            "unknown stream 'nope'",
        ),
        ({"colour": "blue"}, "colour: unknown key"),
    ],
)
def test_a_bad_set_config_changes_nothing_and_says_why(
    console: TestClient,
    daemon: Daemon,
    config_file: Path,
    patch: dict[str, Any],
    expected: str,
) -> None:
    before, config = config_file.read_bytes(), daemon.config
    reply = ask(console, "set_config", {"patch": patch})
    assert reply["ok"] is False
    assert reply["error"]["code"] == "invalid_config"
    assert expected in reply["error"]["message"]
    assert config_file.read_bytes() == before
    assert daemon.config is config


def test_set_config_of_a_stream_is_written_and_waits_for_a_restart(
    console: TestClient, daemon: Daemon, config_file: Path
) -> None:
    reply = ask(console, "set_config", {"patch": {"streams": None}})
    try:
        assert reply["ok"], reply
        assert reply["result"]["restart_required"] == ["streams"]
        assert load_config(config_file).streams == []
        assert len(daemon.config.streams) == 2  # the running streams go on
        assert ask(console, "status")["result"]["restart_required"] == ["streams"]
    finally:
        (config_file.parent / "device.yaml.previous").replace(config_file)
        assert ask(console, "reload")["ok"]
    assert daemon.restart_required == []


def test_reload_reads_the_file_again(
    console: TestClient, daemon: Daemon, config_file: Path
) -> None:
    before = config_file.read_text()
    config_file.write_text(before.replace("log_level: info", "log_level: warning"))
    try:
        reply = ask(console, "reload")
        assert reply["result"] == {
            "applied": ["log_level"],
            "restart_required": [],
            "file": str(config_file),
        }
        assert daemon.config.log_level == "warning"
    finally:
        config_file.write_text(before)
        assert ask(console, "reload")["result"]["applied"] == ["log_level"]


def test_snapshot_publishes_a_jpeg_of_the_stream(console: TestClient) -> None:
    reply = ask(console, "snapshot", {"stream": "cam", "quality": 70})
    result = reply["result"]
    assert result["topic"] == f"{DEV}/snapshot/cam"
    assert (result["width"], result["height"]) == (1280, 720)
    jpeg = console.wait_for(lambda m: m.topic == f"{DEV}/snapshot/cam")
    assert jpeg.payload[:2] == b"\xff\xd8"
    assert len(jpeg.payload) == result["bytes"]
    assert ("id", result["id"]) in jpeg.user_properties


@pytest.mark.parametrize(
    ("args", "code", "words"),
    [
        ({"stream": "line"}, "bad_request", "is a sensor stream"),
        ({"stream": "door"}, "not_found", "use one of: cam, line"),
    ],
)
def test_snapshot_of_a_sensor_or_unknown_stream_is_refused(
    console: TestClient, args: dict[str, Any], code: str, words: str
) -> None:
    reply = ask(console, "snapshot", args)
    assert reply["error"]["code"] == code
    assert words in reply["error"]["message"]


def test_selftest_checks_disk_models_streams_and_broker(console: TestClient) -> None:
    result = ask(console, "selftest")["result"]
    checks = {c["name"]: c for c in result["checks"]}
    assert result["ok"] is True, checks
    assert {
        "state_dir",
        "disk",
        "alert_log",
        "model:cls",
        "stream:cam",
        "stream:line",
        "mqtt",
    } <= checks.keys()
    assert "one inference in" in checks["model:cls"]["detail"]


def test_set_log_level_changes_a_logger_until_restart(console: TestClient) -> None:
    reply = ask(console, "set_log_level", {"level": "debug", "logger": "edgeinfer.x"})
    assert reply["result"] == {
        "logger": "edgeinfer.x",
        "level": "debug",
        "previous": "info",
    }


def test_restart_stream_reopens_its_source(console: TestClient, daemon: Daemon) -> None:
    before = daemon.stats["cam"].frames_in
    reply = ask(console, "restart_stream", {"stream": "cam"})
    assert reply["result"]["health"] == "ok"
    time.sleep(0.5)
    assert daemon.stats["cam"].frames_in > before


@pytest.mark.parametrize(
    ("name", "payload", "code", "words"),
    [
        ("reboot", b"{}", "unknown_command", "use one of: alerts, get_config,"),
        ("ping", b"{not json", "bad_json", "the payload is not JSON"),
        ("ping", b"\xff\xfe", "bad_json", "not UTF-8"),
        ("ping", b"[1, 2]", "bad_request", "must be a JSON object, not list"),
        ("ping", b'{"extra": 1}', "bad_request", "extra: unknown argument"),
        ("set_log_level", b'{"level": 5}', "bad_request", "level: Input should be"),
        ("set_log_level", b"{}", "bad_request", "level: required argument"),
        (
            "snapshot",
            b'{"stream": "cam", "quality": "85"}',
            "bad_request",
            "quality: Input should be a valid integer",
        ),
        ("set_config", b'{"patch": "x"}', "bad_request", "patch:"),
        ("ping", b"{" + b" " * 2000 + b"}", "payload_too_large", "more than the 1024"),
    ],
)
def test_a_bad_command_gets_an_error_reply_and_the_daemon_goes_on(
    console: TestClient, name: str, payload: bytes, code: str, words: str
) -> None:
    reply = ask(console, name, payload)
    assert reply["ok"] is False
    assert reply["error"]["code"] == code
    assert words in reply["error"]["message"]
    assert ask(console, "ping")["ok"] is True


def test_a_flood_of_commands_is_dropped_and_counted(
    console: TestClient, daemon: Daemon
) -> None:
    assert daemon.fleet is not None
    counters = daemon.fleet.commands.counters
    time.sleep(BURST / RATE)  # a full bucket
    received, dropped_before = counters.received, counters.rate_limited
    started = time.monotonic()
    for _ in range(100):
        console.client.publish(f"{DEV}/cmd/ping", b"{}", qos=0)
    deadline = started + 10
    while counters.received < received + 100 and time.monotonic() < deadline:
        time.sleep(0.01)
    elapsed = time.monotonic() - started
    time.sleep(0.5)
    replies = console.on_topic(f"{DEV}/cmd/ping/reply")
    dropped = counters.rate_limited - dropped_before
    assert 100 - BURST - RATE * elapsed - 1 <= dropped < 100
    assert len(replies) + dropped == 100
    time.sleep(BURST / RATE)
    assert ask(console, "ping")["ok"] is True  # the daemon is unaffected


def test_set_config_of_a_stream_s_settings_restarts_that_stream_live(
    console: TestClient, daemon: Daemon, config_file: Path
) -> None:
    """The same streams with other settings: the changed one is rebuilt at once
    (here the series file of the sensor stream), the others run on."""
    streams = ask(console, "get_config", {"key": "streams"})["result"]["value"]
    warm = config_file.parent / "warm.csv"
    warm.write_text(
        "ts,value\n" + "".join(f"{i * 0.2:.1f},{77 * (i % 2)}\n" for i in range(50))
    )
    changed = [dict(s) for s in streams]
    changed[1]["path"] = str(warm)
    camera = daemon.sources["cam"]
    reply = ask(console, "set_config", {"patch": {"streams": changed}})
    try:
        assert reply["ok"], reply
        assert reply["result"]["applied"] == ["streams"]
        assert reply["result"]["restart_required"] == []
        assert daemon.config.streams[1].path == warm  # type: ignore[union-attr]
        assert daemon.sources["cam"] is camera  # unchanged: not restarted
        console.wait_for(
            lambda m: m.topic == f"{DEV}/alerts" and m.json()["values"]["value"] == 77
        )
    finally:
        assert ask(console, "set_config", {"patch": {"streams": streams}})["ok"]
    assert daemon.config.streams[1].path != warm  # type: ignore[union-attr]
