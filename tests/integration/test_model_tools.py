"""The model tools end to end on a small float model the project builds itself:
``make_float_model.py`` (tiny CNN to ONNX), ``quantize.py`` (ONNX QDQ and OpenVINO
through NNCF, with the comparison report) and ``make_bundle.py`` (a signed bundle that
``edgeinfer models verify`` accepts, and refuses once a byte changed)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.bundles import fleet_key

pytestmark = pytest.mark.integration

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
pytest.importorskip("nncf")

ROOT = Path(__file__).resolve().parents[2]
TOOLS = ROOT / "tools"
DEMO_VIDEO = ROOT / "models" / "demo" / "conveyor.mp4"


def run_tool(*args: str | Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, *map(str, args)],
        cwd=TOOLS,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if check:
        assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


@pytest.fixture(scope="module")
def float_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("float")
    run_tool(
        "make_float_model.py",
        "--out",
        out,
        "--frames",
        "240",
        "--val",
        "60",
        "--calib",
        "32",
        "--epochs",
        "2",
    )
    return out


@pytest.fixture(scope="module")
def quantized(
    float_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, dict[str, Any], str]:
    out = tmp_path_factory.mktemp("int8")
    proc = run_tool(
        "quantize.py",
        "--model",
        float_dir / "model.onnx",
        "--calib",
        float_dir / "calib.npy",
        "--val",
        float_dir / "val.npy",
        "--val-labels",
        float_dir / "val_labels.txt",
        "--formats",
        "onnx,openvino",
        "--out",
        out,
        "--report",
        out / "report.json",
        "--bench-duration",
        "0.5",
    )
    return out, json.loads((out / "report.json").read_text()), proc.stdout


def test_float_model_matches_its_labels_file_and_data(float_dir: Path) -> None:
    import onnx

    model = onnx.load(float_dir / "model.onnx")
    ops = [n.op_type for n in model.graph.node]
    assert ops[:2] == ["Conv", "Relu"]
    assert ops[-4:] == ["GlobalMaxPool", "Flatten", "Gemm", "Softmax"]
    val = np.load(float_dir / "val.npy")
    assert val.shape == (60, 64, 64, 3)
    assert val.dtype == np.uint8
    assert len((float_dir / "val_labels.txt").read_text().split()) == 60
    assert (float_dir / "labels.txt").read_text().split() == ["empty", "ok", "defect"]


def test_quantized_models_are_int8_and_run_in_edgeinfer(
    float_dir: Path, quantized: tuple[Path, dict[str, Any], str]
) -> None:
    import onnx

    from edgeinfer.backends.base import Placement
    from edgeinfer.backends.select import Candidate
    from edgeinfer.model import Model, ModelSpec
    from edgeinfer.postprocess.results import Classification

    out, _, _ = quantized
    qdq = onnx.load(out / "model_int8.onnx")
    ops = {n.op_type for n in qdq.graph.node}
    assert {"QuantizeLinear", "DequantizeLinear", "Conv"} <= ops
    xml = (out / "model_int8.xml").read_text()
    assert "FakeQuantize" in xml or "FakeConvert" in xml
    frame = np.load(float_dir / "val.npy")[0]
    for path, placement in (
        (out / "model_int8.onnx", Placement("onnxruntime", "cpu")),
        (out / "model_int8.xml", Placement("openvino", "CPU")),
    ):
        model = Model.load(
            ModelSpec(
                path=path,
                candidates=(Candidate(placement),),
                labels=float_dir / "labels.txt",
            )
        )
        try:
            result = model.predict(frame)
        finally:
            model.close()
        assert isinstance(result, Classification)
        assert sum(c.score for c in result.top) == pytest.approx(1.0, abs=0.05)


def test_report_has_accuracy_size_and_bench_for_each_format(
    quantized: tuple[Path, dict[str, Any], str],
) -> None:
    _, report, stdout = quantized
    entries = {e["format"]: e for e in report["conversions"]}
    assert set(entries) == {"onnx", "openvino"}
    assert entries["onnx"]["float"]["backend"] == "onnxruntime"
    assert entries["openvino"]["int8"]["backend"] == "openvino"
    for e in entries.values():
        assert e["metric"] == "accuracy"
        assert e["samples"] == 60
        assert 0.0 <= e["int8"]["accuracy"] <= 1.0
        assert e["drop"] == pytest.approx(
            e["float"]["accuracy"] - e["int8"]["accuracy"], abs=1e-3
        )
        assert e["within_tolerance"] == (e["drop"] <= 0.01)
        for kind in ("float", "int8"):
            assert e[kind]["size_bytes"] > 1000
            bench = e[kind]["bench"]
            assert bench["count"] > 0
            assert 0 < bench["latency_ms"]["p50"] <= bench["latency_ms"]["p99"]
    # ONNX QDQ stores int8 weights: smaller than the float file.
    assert (
        entries["onnx"]["int8"]["size_bytes"] < entries["onnx"]["float"]["size_bytes"]
    )
    assert "format" in stdout
    assert "onnxruntime" in stdout
    warned = [e for e in entries.values() if not e["within_tolerance"]]
    assert stdout.count("WARNING:") == len(warned)


def test_a_drop_over_the_tolerance_warns_and_fails_when_strict(
    float_dir: Path, tmp_path: Path
) -> None:
    proc = run_tool(
        "quantize.py",
        "--model",
        float_dir / "model.onnx",
        "--calib",
        float_dir / "samples",
        "--formats",
        "onnx",
        "--out",
        tmp_path,
        "--tolerance",
        "-1",
        "--strict",
        "--bench-duration",
        "0.2",
        check=False,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "WARNING: onnx int8 agreement dropped" in proc.stdout
    assert "more than the tolerance -1.0" in proc.stdout


@pytest.mark.skipif(
    importlib.util.find_spec("tensorflow") is not None,
    reason="tensorflow is installed: the converter runs instead",
)
def test_litert_without_tensorflow_names_the_extra(
    float_dir: Path, tmp_path: Path
) -> None:
    proc = run_tool(
        "quantize.py",
        "--model",
        float_dir / "model.onnx",
        "--calib",
        float_dir / "calib.npy",
        "--formats",
        "litert",
        "--out",
        tmp_path,
        check=False,
    )
    assert proc.returncode != 0
    assert "tensorflow-cpu" in proc.stderr
    assert ".[tools]" in proc.stderr


def test_bundle_is_signed_verified_and_refused_after_a_flipped_byte(
    float_dir: Path, quantized: tuple[Path, dict[str, Any], str], tmp_path: Path
) -> None:
    out, _, _ = quantized
    key = fleet_key(tmp_path / "keys")
    bundle = tmp_path / "bundle"
    run_tool(
        "make_bundle.py",
        "--model",
        out / "model_int8.onnx",
        "--labels",
        float_dir / "labels.txt",
        "--golden",
        *sorted((float_dir / "samples").glob("*.png")),
        "--key",
        key.path,
        "--name",
        "conveyor-qc",
        "--version",
        "2.0.0",
        "--report",
        out / "report.json",
        "--margin",
        "1000",
        "--drift-video",
        DEMO_VIDEO,
        "--drift-frames",
        "40",
        "--out",
        bundle,
    )
    manifest = json.loads((bundle / "manifest.json").read_text())
    drift = manifest["drift_reference"]
    assert len(drift["score"]) == len(drift["input"]) == 40
    assert all(0.0 <= v <= 1.0 for v in drift["score"])
    assert len(set(drift["input"])) > 10  # frames spread over the video
    assert manifest["input"] == {
        "layout": "NCHW",
        "size": [64, 64],
        "colour": "RGB",
        "dtype": "float32",
        "resize": "linear",
    }
    assert len(manifest["golden"]) == 3
    assert all(len(g["expected_scores"]) == 3 for g in manifest["golden"])
    report = json.loads((out / "report.json").read_text())
    p99 = next(e for e in report["conversions"] if e["format"] == "onnx")["int8"][
        "bench"
    ]["latency_ms"]["p99"]
    assert manifest["latency_budget_ms"] == pytest.approx(p99 * 1000, rel=1e-3)

    config = tmp_path / "device.yaml"
    config.write_text(
        f"""device: {{id: dev1}}
state_dir: {tmp_path / "state"}
accelerators: [onnxruntime]
models:
  qc:
    path: {float_dir / "model.onnx"}
    labels: {float_dir / "labels.txt"}
    task: classification
updates:
  trusted_keys: [{key.public}]
"""
    )
    verify = [
        sys.executable,
        "-m",
        "edgeinfer",
        "models",
        "verify",
        str(bundle),
        "--config",
        str(config),
        "--validate",
        "--json",
    ]
    ok = subprocess.run(verify, capture_output=True, text=True, check=False)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    body = json.loads(ok.stdout)
    assert body["ok"] is True
    assert body["version"] == "2.0.0"
    assert body["validation"]["golden"] == 3
    assert body["validation"]["max_diff"] < 0.01

    model = bundle / "model_int8.onnx"
    data = bytearray(model.read_bytes())
    data[len(data) // 2] ^= 0xFF
    model.write_bytes(bytes(data))
    bad = subprocess.run(verify, capture_output=True, text=True, check=False)
    assert bad.returncode != 0
    assert "model_int8.onnx does not match its SHA-256" in bad.stdout + bad.stderr


@pytest.mark.skipif(
    importlib.util.find_spec("tensorflow") is None,
    reason="needs tensorflow (the tools extra)",
)
# Keras saving warns about NumPy 2's copy keyword; that is TensorFlow's to fix.
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_litert_full_integer_from_a_keras_model(
    float_dir: Path, tmp_path: Path
) -> None:
    import tensorflow as tf

    from edgeinfer.backends.tflite_meta import read_tflite_info

    tf.keras.utils.set_random_seed(0)
    keras_model = tf.keras.Sequential(
        [
            tf.keras.Input((64, 64, 3)),
            tf.keras.layers.Conv2D(8, 3, strides=2, activation="relu"),
            tf.keras.layers.GlobalMaxPooling2D(),
            tf.keras.layers.Dense(3, activation="softmax"),
        ]
    )
    source = tmp_path / "tiny.keras"
    keras_model.save(source)
    proc = run_tool(
        "quantize.py",
        "--model",
        source,
        "--calib",
        float_dir / "calib.npy",
        "--formats",
        "litert",
        "--out",
        tmp_path,
        "--report",
        tmp_path / "report.json",
        "--bench-duration",
        "0.3",
    )
    (entry,) = json.loads((tmp_path / "report.json").read_text())["conversions"]
    assert entry["metric"] == "agreement"
    assert entry["int8"]["backend"] == "litert"
    info = read_tflite_info(tmp_path / "tiny_int8.tflite")
    assert info.inputs[0].dtype == np.int8
    assert info.outputs[0].dtype == np.int8
    assert "litert" in proc.stdout
