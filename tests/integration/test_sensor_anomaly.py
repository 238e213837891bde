"""The shipped sensor-anomaly config on real NAB series: replay finds the labelled
anomalies, the daemon raises the same alerts, and a messy file is survived."""

from __future__ import annotations

import json
import threading
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from edgeinfer.app import Daemon
from edgeinfer.config import load_config
from edgeinfer.pipeline.events import Inference
from edgeinfer.replay import replay_file
from edgeinfer.rules.alert import Alert
from edgeinfer.sinks.alertlog import AlertLog
from tests.conftest import ROOT, CliRunner

pytestmark = pytest.mark.integration

CONFIG = ROOT / "device-configs" / "sensor-anomaly.yaml"
RDS = "realAWSCloudwatch/rds_cpu_utilization_e47b3b.csv"  # a spike, then a shift


class Collect:
    """A sink that keeps the alerts it is given."""

    def __init__(self) -> None:
        self.alerts: list[Alert] = []
        self.lock = threading.Lock()

    def on_result(self, inference: Inference) -> None:
        pass

    def on_alert(self, alert: Alert) -> None:
        with self.lock:
            self.alerts.append(alert)


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text[:19])


def windows(assets: Path, name: str) -> list[tuple[datetime, datetime]]:
    table = json.loads((assets / "sensors" / "nab" / "windows.json").read_text())
    return [(parse_time(a), parse_time(b)) for a, b in table[name]]


def test_replay_alerts_fall_inside_the_labelled_anomaly_windows(
    assets: Path, run_cli: CliRunner
) -> None:
    data = assets / "sensors" / "nab" / "data" / RDS
    proc = run_cli("replay", "--config", CONFIG, "--input", data, "--json")
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    alerts = [x for x in lines if x["kind"] == "alert"]
    summary = lines[-1]
    assert summary["samples"] == 4032
    assert summary["detector_inputs"]["anomaly"]["duplicate_time"] == 0
    labelled = windows(assets, RDS)
    assert len(labelled) == 2
    for start, end in labelled:
        inside = [a for a in alerts if start <= parse_time(a["timestamp"]) <= end]
        assert inside, f"no alert in the window {start}..{end}"
        first = inside[0]["values"]
        assert first["score"] >= 1.5  # the config's enter threshold
        assert first["detector"] in {"range", "spike", "shift", "drift", "daily"}
        assert first["value"] != first["baseline"]
    # One alert per incident: nothing outside the windows on this series.
    assert all(
        any(s <= parse_time(a["timestamp"]) <= e for s, e in labelled) for a in alerts
    )


def _key(alert: dict[str, Any]) -> tuple[str, str, str]:
    return (
        alert["rule"],
        alert["timestamp"],
        json.dumps(alert["values"], sort_keys=True),
    )


def test_daemon_raises_the_same_detector_alerts_as_replay(
    tmp_path: Path, assets: Path
) -> None:
    data = assets / "sensors" / "nab" / "data" / RDS
    cfg = load_config(CONFIG, [f"state_dir={tmp_path}", f"streams.0.path={data}"])
    replayed = Collect()
    replay_file(cfg, data, None, replayed)
    assert replayed.alerts

    daemon = Daemon(cfg, sinks=[Collect()])
    daemon.load()
    daemon.start()
    stop = threading.Event()
    timer = threading.Timer(60, stop.set)
    timer.start()
    try:
        daemon.wait(stop)
    finally:
        timer.cancel()
        daemon.stop()
    live = [body for _, body in AlertLog(tmp_path / "alerts.db").tail(10_000)]
    assert sorted(map(_key, live)) == sorted(_key(a.to_json()) for a in replayed.alerts)
    assert daemon.status()["streams"]["sensor"]["frames_in"] == 4032


def test_replay_survives_and_counts_a_messy_sensor_file(
    tmp_path: Path, run_cli: CliRunner
) -> None:
    # Three days of five-minute readings with a short repeating pattern.
    start = datetime(2024, 1, 1)
    stamps = [str(start + timedelta(minutes=5 * i)) for i in range(864)]
    rows = [f"{t},{20 + i % 7 / 10}" for i, t in enumerate(stamps)]
    rows[400] = f"{stamps[400]},"  # an empty field
    rows[410] = f"{stamps[410]},nan"
    rows[420] = f"{stamps[420]},inf"
    rows[430] = rows[429]  # the same timestamp again
    rows[440], rows[441] = rows[441], rows[440]  # out of order
    rows[700] = f"{stamps[700]},95.0"  # the anomaly
    path = tmp_path / "messy.csv"
    path.write_text("timestamp,value\n" + "\n".join(rows) + "\n")
    proc = run_cli("replay", "--config", CONFIG, "--input", path, "--json")
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    summary = lines[-1]
    assert summary["samples"] == 864
    counts = {
        "missing": 0,
        "nan": 2,
        "inf": 1,
        "bad_time": 0,
        "duplicate_time": 1,
        "out_of_order": 1,
        "gap": 0,
    }
    assert summary["detector_inputs"]["anomaly"] == counts
    # The daemon on the same file keeps running and reports the same counts.
    cfg = load_config(CONFIG, [f"state_dir={tmp_path}", f"streams.0.path={path}"])
    daemon = Daemon(cfg, sinks=[Collect()])
    daemon.load()
    daemon.start()
    try:
        daemon.wait(threading.Event(), poll_s=0.05)
    finally:
        daemon.stop()
    sensor = daemon.status()["streams"]["sensor"]
    assert sensor["detector_inputs"]["anomaly"] == counts
    assert sensor["errors"] == 0
    alerts = [x for x in lines if x["kind"] == "alert"]
    assert [a["timestamp"] for a in alerts] == [stamps[700]]
    assert alerts[0]["values"]["detector"] == "range"
    assert alerts[0]["severity"] == "critical"
