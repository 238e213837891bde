"""The small parts of the fleet link: topics, command decoding and limits, config
patches and atomic writes, metrics and their Prometheus text."""

from __future__ import annotations

import os
import stat
import time
import urllib.request
from pathlib import Path

import pytest

from edgeinfer.app import Daemon
from edgeinfer.config import parse_config
from edgeinfer.control import build_router
from edgeinfer.control.configure import merge_patch, write_atomically
from edgeinfer.errors import CommandError
from edgeinfer.metrics import render_prometheus
from edgeinfer.metrics.system import temperatures
from edgeinfer.mqtt.commands import TokenBucket, decode_arguments
from edgeinfer.mqtt.topics import Topics, is_publishable


def test_topics_recognise_own_and_group_commands_only() -> None:
    topics = Topics("plant/cell7", ("ovens", "north"))
    assert topics.subscriptions() == [
        "plant/cell7/cmd/+",
        "edgeinfer/group/ovens/cmd/+",
        "edgeinfer/group/north/cmd/+",
    ]
    assert topics.command_name("plant/cell7/cmd/ping") == "ping"
    assert topics.command_name("edgeinfer/group/north/cmd/status") == "status"
    assert topics.command_name("plant/cell7/cmd/ping/reply") is None
    assert topics.command_name("edgeinfer/group/south/cmd/ping") is None
    assert topics.command_name("plant/cell7/cmd/") is None
    assert topics.reply("ping") == "plant/cell7/cmd/ping/reply"
    assert not is_publishable("a/+/b")
    assert is_publishable("console/replies/42")


@pytest.mark.parametrize(
    ("payload", "words"),
    [
        (b"{", "not JSON (Expecting property name"),
        (b"\xc3\x28", "not UTF-8"),
        (b"[" * 100_000 + b"]" * 100_000, "nests too deeply"),
    ],
)
def test_undecodable_arguments_say_what_is_wrong(payload: bytes, words: str) -> None:
    with pytest.raises(ValueError, match="payload") as caught:
        decode_arguments(payload)
    assert words in str(caught.value)


def test_an_empty_payload_means_no_arguments() -> None:
    assert decode_arguments(b"  ") == {}
    assert decode_arguments(b'{"level": "debug"}') == {"level": "debug"}


def test_the_token_bucket_allows_a_burst_then_the_rate() -> None:
    bucket = TokenBucket(rate=100.0, burst=5)
    assert [bucket.take() for _ in range(6)] == [True] * 5 + [False]
    time.sleep(0.03)
    assert bucket.take()


def test_merge_patch_merges_mappings_and_replaces_lists() -> None:
    target = {"mqtt": {"host": "a", "port": 1}, "rules": [1, 2], "log_level": "info"}
    patch = {"mqtt": {"port": 2}, "rules": [3], "log_level": None}
    assert merge_patch(target, patch) == {
        "mqtt": {"host": "a", "port": 2},
        "rules": [3],
    }
    assert target["mqtt"] == {"host": "a", "port": 1}  # unchanged


def test_an_atomic_write_keeps_the_mode_and_the_previous_file(tmp_path: Path) -> None:
    path = tmp_path / "device.yaml"
    path.write_text("log_level: info  # a comment\n")
    path.chmod(0o640)
    write_atomically(path, "log_level: debug\n")
    assert path.read_text() == "log_level: debug\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert (tmp_path / "device.yaml.previous").read_text().endswith("# a comment\n")
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_an_atomic_write_that_fails_leaves_the_file_alone(tmp_path: Path) -> None:
    path = tmp_path / "device.yaml"
    path.write_text("log_level: info\n")
    (tmp_path / f".device.yaml.{os.getpid()}.tmp").mkdir()  # the temp file cannot be
    with pytest.raises(CommandError, match="nothing was changed"):
        write_atomically(path, "log_level: debug\n")
    assert path.read_text() == "log_level: info\n"
    assert not (tmp_path / "device.yaml.previous").exists()


def test_the_router_names_the_known_commands() -> None:
    assert build_router().names() == [
        "alerts",
        "get_config",
        "model_chunk",
        "model_promote",
        "model_rollback",
        "model_state",
        "model_update",
        "ping",
        "reload",
        "restart_stream",
        "selftest",
        "set_config",
        "set_log_level",
        "snapshot",
        "status",
    ]


def test_temperatures_are_read_per_thermal_zone(tmp_path: Path) -> None:
    for n, (kind, milli) in enumerate(
        [("cpu-thermal", "48312"), ("cpu-thermal", "51000"), ("gpu", "bad")]
    ):
        zone = tmp_path / f"thermal_zone{n}"
        zone.mkdir()
        (zone / "type").write_text(kind + "\n")
        (zone / "temp").write_text(milli + "\n")
    assert temperatures(tmp_path) == {"cpu-thermal": 48.3, "cpu-thermal-2": 51.0}


def test_prometheus_text_comes_from_the_same_snapshot_as_telemetry(
    tmp_path: Path,
) -> None:
    config = parse_config(
        f"device: {{id: d1}}\nstate_dir: {tmp_path}\n"
        "telemetry: {prometheus: {enabled: true, port: 0}}\n",
        "test.yaml",
    )
    daemon = Daemon(config)
    daemon.start()
    try:
        assert daemon.metrics_server is not None
        url = f"http://127.0.0.1:{daemon.metrics_server.port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as response:
            text = response.read().decode()
            kind = response.headers["Content-Type"]
    finally:
        daemon.stop()
    assert kind.startswith("text/plain; version=0.0.4")
    assert "# TYPE edgeinfer_process_resident_memory_bytes gauge" in text
    assert "edgeinfer_uptime_seconds " in text
    snapshot = {
        "uptime_s": 3.5,
        "streams": {
            'cam "1"': {
                "frames_in": 10,
                "fps": 5.0,
                "health": "ok",
                "latency_ms": {"p50": 1.0, "p95": 2.0, "p99": 3.0},
            }
        },
        "models": {"cls": {"version": "2", "accelerator": "litert:cpu"}},
        "mqtt": {"state": "connected", "outbox": {"pending": 4, "bytes": 900}},
    }
    lines = render_prometheus(snapshot).splitlines()
    assert 'edgeinfer_stream_frames_in_total{stream="cam \\"1\\""} 10' in lines
    assert (
        'edgeinfer_stream_latency_ms{stream="cam \\"1\\"",quantile="0.99"} 3' in lines
    )
    assert "edgeinfer_mqtt_connected 1" in lines
    assert "edgeinfer_outbox_pending_messages 4" in lines
    assert (
        'edgeinfer_model_info{model="cls",version="2",accelerator="litert:cpu",'
        'fallback="0"} 1' in lines
    )
