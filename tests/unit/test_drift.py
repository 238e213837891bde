"""Drift: PSI against a reference learned from the first values, on sensor readings,
on camera frames, and through replay with a drift rule from the config."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edgeinfer.pipeline.events import Inference
from edgeinfer.postprocess.results import Class, Classification
from edgeinfer.rules.drift import DriftMonitor, DriftRule, psi
from edgeinfer.sources.base import Frame, Reading
from tests.unit.conftest import ConfigWriter


def test_psi_is_zero_for_the_same_shares_and_grows_with_the_shift() -> None:
    ref = [0.1] * 10
    assert psi(ref, ref) == pytest.approx(0.0)
    small = psi(ref, [0.12] * 5 + [0.08] * 5)
    large = psi(ref, [0.19] * 5 + [0.01] * 5)
    assert 0 < small < 0.1
    assert large > 0.25


def test_stationary_data_stays_quiet_and_a_shift_is_caught() -> None:
    rng = np.random.default_rng(0)
    monitor = DriftMonitor(window=300, reference_size=1000)
    values = [monitor.update(v) for v in rng.normal(0, 1, 3000)]
    assert values[:1299] == [None] * 1299  # learning, then filling the window
    quiet = [v for v in values if v is not None]
    assert max(quiet) < 0.1
    shifted = [monitor.update(v) for v in rng.normal(1.0, 1, 300)]
    assert shifted[-1] is not None
    assert shifted[-1] > 0.25


def test_sensor_drift_rule_raises_once_and_rearms() -> None:
    rng = np.random.default_rng(1)
    rule = DriftRule(
        "drift",
        "t",
        threshold=0.25,
        monitor=DriftMonitor(window=200, reference_size=500),
    )
    series = np.concatenate(
        [rng.normal(20, 1, 1500), rng.normal(23, 1, 600), rng.normal(20, 1, 600)]
    )
    series[100] = np.nan  # counted, not fatal
    alerts = []
    for i, v in enumerate(series):
        a = rule.on_reading(Reading("s", i, float(i), {"t": float(v)}))
        if a is not None:
            alerts.append((i, a))
    assert rule.monitor.invalid == 1
    assert len(alerts) == 1
    at, alert = alerts[0]
    assert 1500 < at < 1700  # within the first window after the shift
    assert alert.values["statistic"] == "t"
    assert alert.values["psi"] >= 0.25
    assert alert.rule == "drift"
    assert rule.last_psi is not None
    assert rule.last_psi < 0.125  # back to normal: re-armed


def test_camera_drift_on_frame_brightness() -> None:
    rng = np.random.default_rng(2)
    rule = DriftRule(
        "lighting",
        "input",
        monitor=DriftMonitor(window=100, reference_size=200),
    )
    result = Classification((Class(0, "ok", 0.9),))
    fired = []
    for i in range(450):
        level = 120 if i < 300 else 90  # a lamp fails
        noise = rng.normal(rng.normal(0, 3), 8, (32, 32, 3))  # flicker and grain
        image = np.clip(level + noise, 0, 255).astype(np.uint8)
        inference = Inference(Frame("cam", i, float(i), image), result, False, "m")
        if rule.on_inference(inference) is not None:
            fired.append(i)
    assert len(fired) == 1
    assert 300 <= fired[0] < 400


def test_replay_with_a_drift_rule_from_the_config(
    write_config: ConfigWriter, tmp_path: Path, run_cli: Any
) -> None:
    rng = np.random.default_rng(3)
    values = np.concatenate([rng.normal(50, 2, 3000), rng.normal(56, 2, 1000)])
    data = tmp_path / "series.csv"
    stamps = [
        f"2026-01-01 {i // 3600:02d}:{i // 60 % 60:02d}:{i % 60:02d}"
        for i in range(len(values))
    ]
    rows = "".join(f"{t},{v:.3f}\n" for t, v in zip(stamps, values, strict=True))
    data.write_text("timestamp,value\n" + rows)
    config = write_config(
        f"device: {{id: t}}\nstate_dir: {tmp_path}\n"
        f"streams:\n  - {{kind: csv, name: line, path: {data}}}\n"
        "rules:\n  - {kind: drift, name: drift, statistic: value, window: 300,"
        " reference_size: 1500}\n"
    )
    proc = run_cli("replay", "--config", config, "--input", data, "--json")
    assert proc.returncode == 0, proc.stderr
    alerts = [
        x for x in map(json.loads, proc.stdout.splitlines()) if x["kind"] == "alert"
    ]
    assert len(alerts) == 1
    assert alerts[0]["values"]["statistic"] == "value"
    assert alerts[0]["timestamp"] >= "2026-01-01 00:50:00"  # after the shift at 3000 s
