"""Drift: PSI against a reference learned from the first values, on sensor readings,
on camera frames, and through replay with a drift rule from the config."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edgeinfer.config.rules import DriftRuleConfig
from edgeinfer.errors import UpdateError
from edgeinfer.pipeline.events import Inference
from edgeinfer.postprocess.results import Class, Classification
from edgeinfer.rules.drift import DriftMonitor, DriftRule, psi
from edgeinfer.rules.engine import build_rules
from edgeinfer.sources.base import Frame, Reading
from edgeinfer.updates.manifest import parse_manifest
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


def score_inference(i: int, score: float) -> Inference:
    result = Classification((Class(0, "ok", score),))
    frame = Frame("cam", i, float(i), np.zeros((8, 8, 3), np.uint8))
    return Inference(frame, result, False, "m")


def test_a_bundle_s_sample_is_the_reference_from_the_first_frame() -> None:
    """A drift rule with no reference of its own takes the model bundle's sample:
    a shift is caught after one window, with no learning phase first."""
    rng = np.random.default_rng(3)
    sample = [float(v) for v in np.clip(rng.normal(0.9, 0.03, 400), 0, 1)]
    config = DriftRuleConfig(kind="drift", name="scores", window=100)
    rules = build_rules([config], {"cam": None}, [], {"cam": {"score": sample}.get})
    (rule,) = rules["cam"].vision
    assert isinstance(rule, DriftRule)
    assert not rule.pinned
    fired = [
        i
        for i in range(150)
        if rule.on_inference(score_inference(i, float(rng.normal(0.6, 0.05))))
    ]
    assert fired == [99]  # the first full window, far below reference_size (2000)


def test_a_reference_in_the_config_wins_and_stays_pinned() -> None:
    config = DriftRuleConfig(
        kind="drift",
        name="scores",
        window=20,
        reference=[0.5 + i / 100 for i in range(40)],
    )
    rules = build_rules([config], {"cam": None}, [], {"cam": lambda _: [0.1] * 40})
    (rule,) = rules["cam"].vision
    assert isinstance(rule, DriftRule)
    assert rule.pinned
    assert rule.monitor.ready is False  # the window fills first, the reference is set
    assert len(rule.monitor.reference_shares) == 10


def test_rebase_starts_again_against_a_new_sample_or_learns_anew() -> None:
    rule = DriftRule("scores", "score", monitor=DriftMonitor(window=20))
    for i in range(30):
        rule.on_inference(score_inference(i, 0.9))
    rule.rebase([0.2 + i / 200 for i in range(50)])
    assert rule.monitor.reference_shares  # known at once
    assert not rule.monitor.ready  # the window starts empty
    assert rule.last_psi is None
    rule.rebase(None)
    assert rule.monitor.reference_shares == []  # learned from the next values


@pytest.mark.parametrize(
    ("sample", "expected"),
    [([0.5] * 5, "20 to 100000 values"), ([0.5] * 19 + [float("nan")], "finite")],
)
def test_a_manifest_with_a_bad_drift_reference_is_refused(
    sample: list[float], expected: str
) -> None:
    body = {
        "name": "m",
        "version": "1.0.0",
        "task": "classification",
        "model": "m.tflite",
        "drift_reference": {"score": sample},
        "files": [{"path": "m.tflite", "sha256": "0" * 64, "size": 1}],
    }
    with pytest.raises(UpdateError, match=expected):
        parse_manifest(json.dumps(body).encode())
