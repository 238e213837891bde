"""The bundled demo: its files are intact, its model runs alike on LiteRT and OpenVINO,
and the demo config finds the defective parts in the conveyor video."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from edgeinfer.backends.base import BackendOptions
from edgeinfer.config import load_config
from edgeinfer.loading import model_spec
from edgeinfer.model import Model
from edgeinfer.placement import candidates_from_flags
from edgeinfer.postprocess.results import Classification

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "models" / "demo"
CONFIG = ROOT / "device-configs" / "demo.yaml"
# A defect may be seen a few frames before its part is wholly in view, and the alert
# needs three frames in a row: the window an alert may fall in around a part.
SLACK_FRAMES = 12


def manifest() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((DEMO / "manifest.json").read_text())
    return data


def test_manifest_lists_every_file_with_its_hash_and_size() -> None:
    m = manifest()
    assert m["task"] == "classification"
    assert (DEMO / m["model"]).is_file()
    for entry in m["files"]:
        data = (DEMO / entry["path"]).read_bytes()
        assert len(data) == entry["size"], entry["path"]
        assert hashlib.sha256(data).hexdigest() == entry["sha256"], entry["path"]
    assert m["metrics"]["litert"]["int8_accuracy"] >= 0.9


@pytest.mark.parametrize("backend", ["litert", "openvino"])
def test_golden_samples_give_the_recorded_scores(backend: str) -> None:
    m = manifest()
    spec = model_spec(load_config(CONFIG), "demo")
    spec = replace(
        spec,
        candidates=tuple(
            candidates_from_flags(spec.path, backend, None, BackendOptions())
        ),
    )
    model = Model.load(spec)
    try:
        assert model.backend.inputs[0].dtype == np.int8
        right = 0
        for golden in m["golden"]:
            image = cv2.imread(str(DEMO / golden["input"]))
            result = model.predict(image)
            assert isinstance(result, Classification)
            scores = [0.0] * len(golden["expected_scores"])
            for c in result.top:
                scores[c.index] = c.score
            np.testing.assert_allclose(
                scores, golden["expected_scores"], atol=m["golden_tolerance"]
            )
            # Sample files are named after what they show: defect_crack.png, ...
            right += Path(golden["input"]).name.startswith(result.top[0].label)
        assert right >= len(m["golden"]) - 1
    finally:
        model.close()


def test_replay_of_the_demo_video_alerts_on_each_defective_part(
    run_cli: Any,
) -> None:
    truth = json.loads((DEMO / "truth.json").read_text())
    proc = run_cli(
        "replay", "--config", CONFIG, "--input", DEMO / truth["video"], "--json"
    )
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    alerts = [x for x in lines if x["kind"] == "alert"]
    assert all(a["rule"] == "defect" and a["severity"] == "critical" for a in alerts)
    frames = [a["values"]["seq"] for a in alerts]

    def alerts_near(part: dict[str, Any], slack: int) -> list[int]:
        lo, hi = part["first_frame"] - slack, part["last_frame"] + slack
        return [f for f in frames if lo <= f <= hi]

    for part in truth["parts"]:
        if part["defect"]:
            assert len(alerts_near(part, SLACK_FRAMES)) == 1, (part, frames)
        else:  # no alert while a good part is wholly in view
            assert alerts_near(part, 0) == [], (part, frames)
    assert len(frames) == sum(1 for p in truth["parts"] if p["defect"])


@pytest.mark.parametrize(
    "accelerators",
    ["[cpu]", "[{kind: litert, threads: 1, workers: 2}]"],
    ids=["one-worker", "two-workers"],
)
def test_the_demo_daemon_prints_results_alerts_and_a_summary(
    tmp_path: Path, run_cli: Any, accelerators: str
) -> None:
    # The Quickstart's first command, without the real-time pacing or a broker; with
    # two workers two frames are in flight at once and must still reach the rule in
    # order for its three-frames-in-a-row to raise the same alerts.
    proc = run_cli(
        "run",
        "--config",
        CONFIG,
        "--set",
        f"accelerators={accelerators}",
        "--set",
        "streams.0.realtime=false",
        "--set",
        f"state_dir={tmp_path}",
        "--set",
        "mqtt.enabled=false",
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    alerts = [line for line in lines if line.startswith("ALERT critical line1/defect")]
    assert len(alerts) == 3, proc.stdout
    assert any(line.startswith("result line1 #") for line in lines)
    assert "stream line1: 352 frames, 352 inferred" in proc.stdout
    tail = run_cli(
        "alerts", "tail", "--config", CONFIG, "--set", f"state_dir={tmp_path}"
    )
    assert tail.returncode == 0, tail.stderr
    assert tail.stdout.count("critical line1/defect") == 3


@pytest.mark.parametrize("backend", ["onnxruntime", "openvino"])
def test_the_float_model_agrees_with_the_int8_one_on_the_samples(
    backend: str,
) -> None:
    pytest.importorskip("onnxruntime" if backend == "onnxruntime" else "openvino")
    m = manifest()
    names = {f["path"] for f in m["files"]}
    assert "conveyor_float.onnx" in names
    int8 = model_spec(load_config(CONFIG), "demo")
    float_spec = replace(
        int8,
        path=DEMO / "conveyor_float.onnx",
        candidates=tuple(
            candidates_from_flags(
                DEMO / "conveyor_float.onnx", backend, None, BackendOptions()
            )
        ),
    )
    quantized, full = Model.load(int8), Model.load(float_spec)
    try:
        assert full.backend.inputs[0].dtype == np.float32
        agree = 0
        for golden in m["golden"]:
            image = cv2.imread(str(DEMO / golden["input"]))
            a, b = quantized.predict(image), full.predict(image)
            assert isinstance(a, Classification)
            assert isinstance(b, Classification)
            agree += a.top[0].label == b.top[0].label
        assert agree >= len(m["golden"]) - 1
    finally:
        quantized.close()
        full.close()
