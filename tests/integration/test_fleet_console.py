"""The fleet console against three daemons on one real broker: devices from retained
status, a command to a group, and staged rollouts: a failing canary stops the
rollout with the others untouched; a healthy canary lets it reach every device."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edgeinfer.app import Daemon
from edgeinfer.config import load_config
from edgeinfer.mqtt.console import FleetConsole
from tests.bundles import Key, device_config, fleet_key, make_bundle
from tests.mosquitto import Broker

pytestmark = pytest.mark.integration
DEVICES = ("cell1", "cell2", "cell3")


@pytest.fixture
def key(tmp_path: Path) -> Key:
    return fleet_key(tmp_path / "keys")


@pytest.fixture
def fleet(tmp_path: Path, key: Key, broker: Broker) -> Iterator[dict[str, Daemon]]:
    daemons = {}
    for device in DEVICES:
        extra = f"""mqtt:
  host: 127.0.0.1
  port: {broker.port}
  reconnect_min_s: 0.2
  commands: {{rate_per_s: 500, burst: 500}}
telemetry: {{interval_s: 0.5}}
"""
        conf = device_config(
            tmp_path / device, key.public, loop=True, probation_s=1.5, extra=extra
        )
        overrides = [f"device.id={device}", "device.groups=[line3]"]
        d = Daemon(load_config(conf, overrides))
        d.load()
        d.start()
        daemons[device] = d
    deadline = time.monotonic() + 10
    while not all(d.status()["mqtt"]["state"] == "connected" for d in daemons.values()):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    yield daemons
    for d in daemons.values():
        d.stop()


@pytest.fixture
def console(broker: Broker, fleet: dict[str, Daemon]) -> Iterator[FleetConsole]:
    c = FleetConsole("127.0.0.1", broker.port)
    # "connected" comes before the daemons' subscriptions are in place: wait until
    # each answers, so no command of a test is published to nobody.
    deadline = time.monotonic() + 20
    waiting = set(DEVICES)
    while waiting and time.monotonic() < deadline:
        waiting -= {d for d in list(waiting) if c.command(d, "ping", timeout=1)}
    assert not waiting
    yield c
    c.close()


def failing_on_frames(m: dict[str, Any], d: Path) -> None:
    """A raw-tensor packaging: passes its golden tensors, fails every camera frame."""
    np.save(d / "zeros.npy", np.zeros((1, 64, 64, 3), np.int8))
    m["task"] = "raw"
    m["input"]["layout"] = "tensor"
    m["golden"] = [{"input": "zeros.npy", "expected_scores": [0.0, 0.0, 0.0]}]
    m["golden_tolerance"] = 1.0


def test_the_console_lists_devices_and_commands_a_group(
    console: FleetConsole,
) -> None:
    seen = console.devices()
    assert set(seen) == set(DEVICES)
    assert all(s["state"] == "online" for s in seen.values())
    assert console.members("group:line3") == list(DEVICES)
    replies = console.command("group:line3", "ping")
    assert set(replies) == set(DEVICES)
    assert all(r["ok"] and r["result"]["pong"] for r in replies.values())
    seen_telemetry = threading.Event()

    def on_message(topic: str, body: dict[str, Any]) -> None:
        if topic == "edgeinfer/cell2/telemetry" and body["kind"] == "telemetry":
            seen_telemetry.set()

    console.watch(on_message, ["cell2"])
    assert seen_telemetry.wait(10)


def test_a_failing_canary_stops_the_rollout(
    tmp_path: Path, key: Key, console: FleetConsole, fleet: dict[str, Daemon]
) -> None:
    bundle = make_bundle(tmp_path / "bad", key.path, "2.0.0", edit=failing_on_frames)
    console.devices(0.5)
    result = console.rollout(bundle, list(DEVICES), canaries=["cell1"], timeout=30)
    assert not result.ok
    assert result.stopped.startswith("canary cell1 did not become healthy")
    assert "probation: error rate" in result.stopped
    assert set(result.outcomes) == {"cell1"}
    assert result.outcomes["cell1"]["state"] == "rolled_back"
    for device, d in fleet.items():
        assert d.models["demo"].spec.version == "1.0.0", device
    assert fleet["cell2"].updates.states == {}
    assert fleet["cell3"].updates.states == {}


def test_a_healthy_canary_lets_the_rollout_reach_every_device(
    tmp_path: Path, key: Key, console: FleetConsole, fleet: dict[str, Daemon]
) -> None:
    bundle = make_bundle(tmp_path / "good", key.path, "1.1.0")
    console.devices(0.5)
    result = console.rollout(bundle, list(DEVICES), canaries=["cell1"], timeout=30)
    assert result.ok, result.to_json()
    assert [o["state"] for o in result.outcomes.values()] == ["active"] * 3
    assert all(o["probation"] == "passed" for o in result.outcomes.values())
    for d in fleet.values():
        assert d.models["demo"].spec.version == "1.1.0"


def test_the_fleet_cli_lists_devices_and_sends_to_a_group(
    broker: Broker, fleet: dict[str, Daemon], run_cli: Any
) -> None:
    port = str(broker.port)
    out = run_cli("fleet", "devices", "--host", "127.0.0.1", "--port", port, "--json")
    assert out.returncode == 0, out.stderr
    assert set(json.loads(out.stdout)["devices"]) == set(DEVICES)
    out = run_cli(
        "fleet",
        "send",
        "group:line3",
        "model_state",
        "{}",
        "--port",
        port,
        "--host",
        "127.0.0.1",
    )
    assert out.returncode == 0, out.stderr
    replies = [json.loads(line) for line in out.stdout.splitlines()]
    assert sorted(r["device"] for r in replies) == list(DEVICES)
    assert all(r["result"]["version"] == "1.0.0" for r in replies)
    out = run_cli("fleet", "send", "nobody", "ping", "--port", port, "--timeout", "1")
    assert out.returncode == 1
    assert "no reply from nobody within 1.0 s" in out.stderr
