"""The daemon's data path end to end: real video through the SSD detector, several
streams on one backend, run and replay agreeing, and SIGTERM draining."""

from __future__ import annotations

import io
import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from edgeinfer.app import Daemon
from edgeinfer.config import load_config
from edgeinfer.pipeline.events import Inference
from edgeinfer.postprocess.results import Detections
from edgeinfer.replay import replay_file
from edgeinfer.rules.alert import Alert
from edgeinfer.sinks.alertlog import AlertLog
from edgeinfer.sinks.stdout import StdoutSink
from tests.conftest import ROOT

pytestmark = pytest.mark.integration

NAB_FILE = "realKnownCause/machine_temperature_system_failure.csv"
TAXI = "realKnownCause/nyc_taxi.csv"


class Collect:
    """A sink that keeps what it is given."""

    def __init__(self) -> None:
        self.results: list[Inference] = []
        self.alerts: list[Alert] = []
        self.lock = threading.Lock()

    def on_result(self, inference: Inference) -> None:
        with self.lock:
            self.results.append(inference)

    def on_alert(self, alert: Alert) -> None:
        with self.lock:
            self.alerts.append(alert)


def write_config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "device.yaml"
    path.write_text(f"device: {{id: test}}\nstate_dir: {tmp_path / 'state'}\n" + text)
    return path


def ssd_model(models: Path) -> str:
    return (
        "models:\n  ssd:\n"
        f"    path: {models / 'ssd_mobilenet_v1_coco_quant_postprocess.tflite'}\n"
        f"    labels: {models / 'coco_labels_ssd.txt'}\n"
        "    score_threshold: 0.5\n"
    )


def test_replay_of_the_pedestrian_clip_finds_about_ten_people(
    tmp_path: Path, assets: Path, models: Path
) -> None:
    video = assets / "video" / "pedestrians_720p.avi"
    cfg = load_config(
        write_config(
            tmp_path,
            ssd_model(models)
            + f"""
streams:
  - {{kind: camera, name: hall, source: {video}, model: ssd}}
rules:
  - {{kind: label, name: crowd, label: person, min_score: 0.5, frames: 5}}
""",
        )
    )
    sink = Collect()
    summary = replay_file(cfg, video, None, sink)
    assert summary["samples"] == 341
    assert len(sink.results) == 341
    counts = [
        sum(d.label == "person" for d in r.result.items)
        for r in sink.results
        if isinstance(r.result, Detections)
    ]
    assert 7 <= sum(counts) / len(counts) <= 13
    assert [a.rule for a in sink.alerts] == ["crowd"]  # raised once, stays raised
    assert sink.alerts[0].values["label"] == "person"
    assert sink.alerts[0].snapshot[:2] == b"\xff\xd8"  # a JPEG with the boxes
    seqs = [r.frame.seq for r in sink.results]
    assert seqs == sorted(seqs)


def test_four_streams_share_one_openvino_backend(
    tmp_path: Path, assets: Path, models: Path
) -> None:
    video = assets / "video" / "pedestrians_720p.avi"
    streams = "".join(
        f"  - {{kind: camera, name: cam{i}, source: {video}, model: cls, "
        "realtime: false}\n"
        for i in range(4)
    )
    cfg = load_config(
        write_config(
            tmp_path,
            f"""
models:
  cls:
    path: {models / "mobilenet_v1_0.25_128_quant.tflite"}
    accelerators: [{{kind: openvino, device: CPU, hint: throughput}}]
streams:
{streams}""",
        )
    )
    sink = Collect()
    daemon = Daemon(cfg, sinks=[sink])
    daemon.load()
    daemon.start()
    stop = threading.Event()
    threading.Timer(60, stop.set).start()
    daemon.wait(stop)
    stop.set()
    daemon.stop()
    status = daemon.status()
    assert status["models"]["cls"]["placement"] == "openvino:CPU"
    for i in range(4):
        s = status["streams"][f"cam{i}"]
        assert s["frames_in"] == 341
        # A file read as fast as possible waits for the model: nothing is dropped.
        assert (s["inferred"], s["dropped"], s["errors"]) == (341, 0, 0)
        lat = s["latency_ms"]
        assert lat["infer"]["p50"] > 0
        # what each frame spent outside the backend: more than its preprocessing
        assert lat["preprocess"]["p50"] < lat["overhead"]["p50"]
        assert lat["overhead"]["p50"] < lat["end_to_end"]["p50"]
    assert {r.frame.stream for r in sink.results} == {f"cam{i}" for i in range(4)}


def _sensor_config(tmp_path: Path, data: Path) -> Path:
    return write_config(
        tmp_path,
        f"""
streams:
  - {{kind: csv, name: machine, path: {data}, realtime: false}}
rules:
  - {{kind: threshold, name: hot, channel: value, above: 95, samples: 3,
      severity: critical}}
  - {{kind: threshold, name: cold, channel: value, below: 20, samples: 2}}
""",
    )


def _key(alert: dict[str, Any]) -> tuple[Any, ...]:
    return (
        alert["rule"],
        alert["timestamp"],
        json.dumps(alert["values"], sort_keys=True),
    )


def test_run_and_replay_raise_the_same_alerts(tmp_path: Path, assets: Path) -> None:
    data = assets / "sensors" / "nab" / "data" / TAXI
    path = _sensor_config(tmp_path, data)
    cfg = load_config(path, ["rules.0.above=29000", "rules.1.below=3000"])
    out = io.StringIO()
    summary = replay_file(cfg, data, None, StdoutSink(json_lines=True, out=out))
    replayed = [json.loads(line) for line in out.getvalue().splitlines()]
    assert summary["alerts"] == len(replayed) > 0
    assert all(a["kind"] == "alert" for a in replayed)
    assert replayed[0]["timestamp"][:4] == "2014"  # the file's own timestamps

    daemon = Daemon(cfg, sinks=[Collect()])
    daemon.load()
    daemon.start()
    stop = threading.Event()
    threading.Timer(60, stop.set).start()
    daemon.wait(stop)
    stop.set()
    daemon.stop()
    live = [body for _, body in AlertLog(cfg.state_dir / "alerts.db").tail(10_000)]
    assert sorted(map(_key, live)) == sorted(map(_key, replayed))
    assert daemon.status()["streams"]["machine"]["frames_in"] == summary["samples"]


def test_replay_cli_prints_json_alerts_and_a_summary(
    tmp_path: Path, assets: Path, run_cli: Any
) -> None:
    data = assets / "sensors" / "nab" / "data" / TAXI
    path = _sensor_config(tmp_path, data)
    proc = run_cli(
        "replay",
        "--config",
        path,
        "--input",
        data,
        "--json",
        "--set",
        "rules.0.above=29000",
    )
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    alerts = [x for x in lines if x["kind"] == "alert"]
    summary = lines[-1]
    assert summary["kind"] == "summary"
    assert summary["samples"] == 10320
    assert summary["alerts"] == len(alerts) > 0
    for a in alerts:
        assert {"id", "timestamp", "stream", "rule", "severity", "values"} <= a.keys()
        assert a["stream"] == "machine"


def test_sigterm_drains_and_exits_zero(
    tmp_path: Path, assets: Path, run_cli: Any
) -> None:
    data = assets / "sensors" / "nab" / "data" / TAXI
    video = assets / "video" / "pedestrians_720p.avi"
    path = write_config(
        tmp_path,
        f"""
models:
  cls: {{path: {assets / "models" / "mobilenet_v1_0.25_128_quant.tflite"}}}
streams:
  - {{kind: csv, name: taxi, path: {data}, realtime: true, speed: 2000, loop: true}}
  - {{kind: camera, name: hall, source: {video}, model: cls, loop: true}}
rules:
  - {{kind: threshold, name: busy, channel: value, above: 20000}}
""",
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "edgeinfer", "run", "--config", str(path), "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        time.sleep(4)
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    lines = [json.loads(line) for line in out.splitlines()]
    status = lines[-1]
    assert status["kind"] == "status"
    assert status["streams"]["taxi"]["frames_in"] > 0
    assert status["streams"]["hall"]["inferred"] > 0
    alerts = [x for x in lines if x["kind"] == "alert"]
    logged = AlertLog(tmp_path / "state" / "alerts.db")
    assert logged.count() == len(alerts) == status["streams"]["taxi"]["alerts"]
    assert any(x["kind"] == "result" for x in lines)
    assert "Traceback" not in err
    tail = run_cli("alerts", "tail", "--config", path, "-n", "100000", "--json")
    assert tail.returncode == 0, tail.stderr
    assert [json.loads(x)["id"] for x in tail.stdout.splitlines()] == [
        a["id"] for a in alerts
    ]
