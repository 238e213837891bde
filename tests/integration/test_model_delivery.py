"""Model updates delivered over a real Mosquitto broker: model_update with an HTTP
URL (resumed after a broken transfer, refused when it never completes), with the
files in MQTT chunks, a refused signature, and model_rollback; every outcome on the
retained ``<prefix>/model/state``."""

from __future__ import annotations

import base64
import json
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from edgeinfer.app import Daemon
from edgeinfer.config import load_config
from tests.bundles import Key, device_config, fleet_key, make_bundle
from tests.httpserver import FileServer
from tests.mosquitto import Broker, Received, TestClient

pytestmark = pytest.mark.integration

DEV = "edgeinfer/dev1"
STATE = f"{DEV}/model/state"


@pytest.fixture
def key(tmp_path: Path) -> Key:
    return fleet_key(tmp_path / "keys")


@pytest.fixture
def daemon(tmp_path: Path, key: Key, broker: Broker) -> Iterator[Daemon]:
    mqtt = f"""mqtt:
  host: 127.0.0.1
  port: {broker.port}
  reconnect_min_s: 0.2
  commands: {{rate_per_s: 500, burst: 500}}
"""
    conf = device_config(
        tmp_path / "dev", key.public, realtime=False, loop=True, extra=mqtt
    )
    d = Daemon(load_config(conf))
    d.load()
    d.start()
    deadline = time.monotonic() + 10
    while d.status()["mqtt"]["state"] != "connected":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    yield d
    d.stop()


@pytest.fixture
def console(broker: Broker, daemon: Daemon) -> Iterator[TestClient]:
    client = TestClient(broker.port, [STATE])
    # "connected" comes before the daemon's subscriptions are in place: wait until
    # it answers, so no command of a test is published to nobody.
    for _ in range(20):
        try:
            client.request(f"{DEV}/cmd/ping", b"{}", timeout=1)
            break
        except TimeoutError:
            continue
    yield client
    client.close()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[FileServer]:
    s = FileServer(tmp_path / "www")
    (tmp_path / "www").mkdir()
    s.start()
    yield s
    s.stop()


def update_args(bundle: Path, **extra: Any) -> str:
    return json.dumps(
        {
            "manifest": (bundle / "manifest.json").read_text(),
            "signature": (bundle / "manifest.sig").read_text(),
            **extra,
        }
    )


def final_state(console: TestClient, version: str, timeout: float = 20) -> Any:
    def done(m: Received) -> bool:
        if m.topic != STATE:
            return False
        body = m.json()
        return body.get("version") == version and body["state"] in {
            "active",
            "rejected",
            "rolled_back",
        }

    return console.wait_for(done, timeout).json()


def assert_rejected(
    console: TestClient, daemon: Daemon, bundle: Path, url: str, code: str, *reason: str
) -> None:
    """The update of ``bundle`` from ``url`` is accepted as a command, then ends
    rejected with ``code`` and every text of ``reason``; the old model serves on."""
    version = json.loads((bundle / "manifest.json").read_text())["version"]
    reply = console.request(f"{DEV}/cmd/model_update", update_args(bundle, url=url))
    assert reply["ok"] is True, reply
    state = final_state(console, version)
    assert (state["state"], state["code"]) == ("rejected", code), state
    for text in reason:
        assert text in state["reason"]
    assert daemon.models["demo"].spec.version == "1.0.0"


def test_an_update_from_a_url_resumes_a_broken_download_and_goes_active(
    tmp_path: Path,
    key: Key,
    daemon: Daemon,
    console: TestClient,
    server: FileServer,
    broker: Broker,
) -> None:
    make_bundle(tmp_path / "www" / "v110", key.path, "1.1.0")
    bundle = tmp_path / "www" / "v110"
    server.cut_once["v110/conveyor_int8.tflite"] = 10_000
    reply = console.request(
        f"{DEV}/cmd/model_update", update_args(bundle, url=f"{server.url}/v110")
    )
    assert reply["ok"] is True
    assert reply["result"] == {"model": "demo", "version": "1.1.0", "accepted": True}
    state = final_state(console, "1.1.0")
    assert state["state"] == "active", state
    assert state["previous"] == "1.0.0"
    assert state["validation"]["golden"] == 3
    ranges = [r for p, r in server.requests if p == "v110/conveyor_int8.tflite"]
    assert ranges == ["", "bytes=10000-"]
    assert daemon.models["demo"].spec.version == "1.1.0"
    states = [m.json()["state"] for m in console.on_topic(STATE)]
    assert "fetching" in states
    # A console arriving later sees the outcome, retained.
    later = TestClient(broker.port, [STATE])
    try:
        seen = later.wait_for(lambda m: m.retain).json()
    finally:
        later.close()
    assert (seen["state"], seen["version"]) == ("active", "1.1.0")


def test_an_update_from_one_tar_resumes_a_broken_download_and_goes_active(
    tmp_path: Path, key: Key, daemon: Daemon, console: TestClient, server: FileServer
) -> None:
    bundle = make_bundle(tmp_path / "v120", key.path, "1.2.0")
    with tarfile.open(tmp_path / "www" / "v120.tar", "w") as tar:
        for path in sorted(bundle.rglob("*")):
            tar.add(path, arcname=path.relative_to(bundle).as_posix(), recursive=False)
    server.cut_once["v120.tar"] = 20_000
    reply = console.request(
        f"{DEV}/cmd/model_update", update_args(bundle, url=f"{server.url}/v120.tar")
    )
    assert reply["ok"] is True, reply
    state = final_state(console, "1.2.0")
    assert state["state"] == "active", state
    assert [r for p, r in server.requests if p == "v120.tar"] == ["", "bytes=20000-"]
    assert daemon.models["demo"].spec.version == "1.2.0"
    incoming = daemon.config.state_dir / "incoming"
    deadline = time.monotonic() + 10  # the folder goes once the update returns
    while list(incoming.iterdir()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert list(incoming.iterdir()) == []  # nothing left of the download


def test_a_tar_that_is_not_the_signed_bundle_is_rejected(
    tmp_path: Path, key: Key, daemon: Daemon, console: TestClient, server: FileServer
) -> None:
    bundle = make_bundle(tmp_path / "v130", key.path, "1.3.0")
    with tarfile.open(tmp_path / "www" / "other.tar", "w") as tar:
        tar.add(bundle / "labels.txt", arcname="labels.txt")
    assert_rejected(
        console,
        daemon,
        bundle,
        f"{server.url}/other.tar",
        "tampered",
        "the archive is not this bundle",
    )


def test_a_served_file_longer_than_the_manifest_says_is_rejected(
    tmp_path: Path, key: Key, daemon: Daemon, console: TestClient, server: FileServer
) -> None:
    bundle = make_bundle(tmp_path / "www" / "v140", key.path, "1.4.0")
    with (bundle / "labels.txt").open("a") as f:  # changed after signing
        f.write("intruder\n")
    assert_rejected(
        console,
        daemon,
        bundle,
        f"{server.url}/v140",
        "tampered",
        "more than the",
        "labels.txt",
    )


def test_a_download_that_never_completes_is_rejected_and_the_old_model_serves(
    tmp_path: Path, key: Key, daemon: Daemon, console: TestClient, server: FileServer
) -> None:
    bundle = make_bundle(tmp_path / "www" / "v2", key.path, "2.0.0")
    server.cut_always["v2/conveyor_int8.tflite"] = 5_000
    assert_rejected(
        console,
        daemon,
        bundle,
        f"{server.url}/v2",
        "fetch_failed",
        "failed after 4 attempts: connection closed after 20000 of 29272",
    )


def test_an_update_signed_by_an_unknown_key_is_refused_before_any_download(
    tmp_path: Path, daemon: Daemon, console: TestClient, server: FileServer
) -> None:
    bundle = make_bundle(tmp_path / "www" / "x", fleet_key(tmp_path / "o").path)
    reply = console.request(
        f"{DEV}/cmd/model_update", update_args(bundle, url=f"{server.url}/x")
    )
    assert reply["ok"] is False
    assert reply["error"]["code"] == "untrusted_key"
    assert server.requests == []
    state = console.wait_for(
        lambda m: m.topic == STATE and m.json()["state"] == "rejected"
    ).json()
    assert "does not trust" in state["reason"]


def test_an_update_in_mqtt_chunks_goes_active_and_rolls_back_by_command(
    tmp_path: Path, key: Key, daemon: Daemon, console: TestClient
) -> None:
    bundle = make_bundle(tmp_path / "b", key.path, "1.2.0")
    reply = console.request(f"{DEV}/cmd/model_update", update_args(bundle, chunks=True))
    missing = reply["result"]["missing"]
    assert set(missing) == {
        f["path"] for f in json.loads((bundle / "manifest.json").read_text())["files"]
    }
    size = 40_000
    for path in missing:
        data = (bundle / path).read_bytes()
        for offset in range(0, len(data), size):
            chunk = base64.b64encode(data[offset : offset + size]).decode()
            args = {"path": path, "offset": offset, "data": chunk}
            r = console.request(f"{DEV}/cmd/model_chunk", json.dumps(args))
            assert r["ok"], r
    assert r["result"]["complete"] is True
    assert final_state(console, "1.2.0")["state"] == "active"
    reply = console.request(
        f"{DEV}/cmd/model_rollback", json.dumps({"reason": "operator"})
    )
    assert reply["ok"], reply
    assert reply["result"]["state"] == "rolled_back"
    assert reply["result"]["from_version"] == "1.2.0"
    assert daemon.models["demo"].spec.version == "1.0.0"


def test_a_chunk_with_a_gap_is_refused_with_where_to_resume(
    tmp_path: Path, key: Key, daemon: Daemon, console: TestClient
) -> None:
    bundle = make_bundle(tmp_path / "b", key.path, "1.3.0")
    console.request(f"{DEV}/cmd/model_update", update_args(bundle, chunks=True))
    args = {"path": "labels.txt", "offset": 4, "data": base64.b64encode(b"x").decode()}
    reply = console.request(f"{DEV}/cmd/model_chunk", json.dumps(args))
    assert reply["ok"] is False
    assert reply["error"] == {
        "code": "gap",
        "message": "chunk of labels.txt at offset 4 leaves a gap: resend from 0",
    }


def test_a_rollback_at_start_reaches_the_fleet(
    tmp_path: Path, key: Key, broker: Broker
) -> None:
    """A daemon that died with a version on probation: the next start rolls it
    back before the link exists, and the console still learns it, retained."""
    mqtt = f"mqtt: {{host: 127.0.0.1, port: {broker.port}, reconnect_min_s: 0.2}}\n"
    conf = device_config(tmp_path / "dev", key.public, loop=True, extra=mqtt)
    store_file = tmp_path / "dev" / "state" / "models" / "demo" / "active.json"
    first = Daemon(load_config(conf))
    first.load()
    first.start()
    try:
        bundle = make_bundle(tmp_path / "b", key.path, "1.2.0")
        assert first.updates.update("demo", bundle)["probation"] == "watching"
        left_by_a_crash = store_file.read_bytes()  # what kill -9 would leave
    finally:
        first.stop()
    store_file.write_bytes(left_by_a_crash)

    again = Daemon(load_config(conf))
    again.load()
    again.start()
    deadline = time.monotonic() + 10  # connected, and everything stored is sent
    while time.monotonic() < deadline and not (
        again.status()["mqtt"]["state"] == "connected"
        and again.status()["mqtt"]["outbox"]["pending"] == 0
    ):
        time.sleep(0.05)
    console = TestClient(broker.port, [STATE])  # arrives later: sees what is retained
    try:
        seen = console.wait_for(
            lambda m: m.retain and m.json()["state"] == "rolled_back"
        ).json()
    finally:
        console.close()
        again.stop()
    assert (seen["from_version"], seen["version"]) == ("1.2.0", "1.0.0")
    assert again.models["demo"].spec.version == "1.0.0"
