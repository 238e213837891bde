"""``edgeinfer infer``, ``bench`` and ``devices`` as a user runs them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import CliRunner

pytestmark = pytest.mark.integration

MOBILENET = "mobilenet_v2_1.0_224_quant.tflite"
SSD = "ssd_mobilenet_v1_coco_quant_postprocess.tflite"


def assert_one_line_error(proc: object, *fragments: str) -> str:
    """The CLI failed with exactly one ``error:`` line naming every fragment."""
    assert proc.returncode != 0, proc.stdout  # type: ignore[attr-defined]
    err = proc.stderr  # type: ignore[attr-defined]
    assert "Traceback" not in err
    lines = [ln for ln in err.splitlines() if ln.startswith("error:")]
    assert len(lines) >= 1, err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def test_infer_json_gives_the_contract_fields(
    run_cli: CliRunner, models: Path, images: Path
) -> None:
    proc = run_cli(
        "infer",
        "--model",
        models / MOBILENET,
        "--labels",
        models / "imagenet_labels.txt",
        "--backend",
        "litert",
        "--top",
        "3",
        "--json",
        images / "cat.bmp",
        images / "parrot.jpg",
    )
    assert proc.returncode == 0, proc.stderr
    records = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [r["input"] for r in records] == [
        str(images / "cat.bmp"),
        str(images / "parrot.jpg"),
    ]
    first = records[0]
    assert (first["backend"], first["device"], first["task"]) == (
        "litert",
        "cpu",
        "classification",
    )
    assert len(first["top"]) == 3
    assert first["top"][0]["label"] == "Egyptian cat"
    assert first["top"][0]["index"] == 286
    assert 0 < first["top"][0]["score"] <= 1
    assert first["latency_ms"] > 0
    assert records[1]["top"][0]["label"] == "macaw"


def test_infer_detection_json_has_boxes(
    run_cli: CliRunner, models: Path, images: Path
) -> None:
    proc = run_cli(
        "infer",
        "-m",
        models / SSD,
        "-l",
        models / "coco_labels_ssd.txt",
        "--json",
        images / "squat.bmp",
    )
    assert proc.returncode == 0, proc.stderr
    record = json.loads(proc.stdout)
    assert record["task"] == "detection"
    det = record["detections"][0]
    assert det["label"] == "person"
    assert det["index"] == 0
    xmin, ymin, xmax, ymax = det["box"]
    assert 0 <= xmin < xmax <= 1
    assert 0 <= ymin < ymax <= 1


def test_infer_on_openvino_names_the_fallback_reason(
    run_cli: CliRunner, models: Path, images: Path
) -> None:
    # No --backend: the automatic order tries OpenVINO only after LiteRT for a .tflite,
    # so ask for OpenVINO explicitly and see the one-line reason.
    proc = run_cli("infer", "-m", models / SSD, "-b", "openvino", images / "cat.bmp")
    assert_one_line_error(proc, "TFLite_Detection_PostProcess", "LiteRT")


def test_infer_pose_json_has_keypoints(
    run_cli: CliRunner, models: Path, images: Path
) -> None:
    proc = run_cli(
        "infer",
        "-m",
        models / "movenet_single_pose_lightning_ptq.tflite",
        "--json",
        images / "squat.bmp",
    )
    assert proc.returncode == 0, proc.stderr
    record = json.loads(proc.stdout)
    assert record["task"] == "pose"
    assert [k["name"] for k in record["keypoints"]][:3] == [
        "nose",
        "left_eye",
        "right_eye",
    ]


@pytest.mark.parametrize(
    ("model", "extra", "fragments"),
    [
        ("missing.tflite", [], ["missing.tflite", "does not exist"]),
        (
            "truncated_mobilenet.tflite",
            ["-b", "litert"],
            ["truncated_mobilenet.tflite", "not a valid"],
        ),
        (
            "truncated_mobilenet.tflite",
            ["-b", "openvino"],
            ["truncated_mobilenet.tflite", "not a valid"],
        ),
        (
            "model_invoking_error.tflite",
            ["-b", "litert"],
            ["fake-op-double", "builtin ops"],
        ),
        (
            "mobilenet_v1_0.25_128_quant_edgetpu.tflite",
            ["-b", "litert"],
            ["Edge TPU", "libedgetpu.so.1", "cpu_twin"],
        ),
        (
            "mobilenet_v1_0.25_128_quant_edgetpu.tflite",
            ["-d", "usb"],
            ["libedgetpu.so.1"],
        ),
        (
            MOBILENET,
            ["-b", "tensorrt"],
            ["unknown backend 'tensorrt'", "litert, openvino"],
        ),
        (MOBILENET, ["-b", "openvino", "-d", "TPU"], ["unknown OpenVINO device 'TPU'"]),
        (MOBILENET, ["-b", "litert", "-d", "gpu"], ["unknown LiteRT device 'gpu'"]),
        (MOBILENET, ["-b", "openvino", "-d", "NPU"], ["NPU not available"]),
        (
            MOBILENET,
            ["-l", "{models}/coco_labels.txt"],
            ["coco_labels.txt", "90 labels", "1001 classes"],
        ),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_bad_model_input_is_one_line_and_non_zero(
    run_cli: CliRunner,
    models: Path,
    images: Path,
    model: str,
    extra: list[str],
    fragments: list[str],
) -> None:
    args = [a.format(models=models) for a in extra]
    proc = run_cli("infer", "-m", models / model, *args, images / "cat.bmp")
    assert_one_line_error(proc, *fragments)


def test_bad_images_fail_alone_and_the_rest_still_run(
    run_cli: CliRunner, models: Path, images: Path, tmp_path: Path
) -> None:
    not_image = tmp_path / "notes.jpg"
    not_image.write_text("this is not a JPEG\n")
    proc = run_cli(
        "infer",
        "-m",
        models / MOBILENET,
        "--json",
        not_image,
        tmp_path / "absent.png",
        images / "bird.bmp",
    )
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert f"input {not_image} is not an image" in proc.stderr
    assert "absent.png does not exist" in proc.stderr
    assert "2 of 3 inputs failed" in proc.stderr
    assert json.loads(proc.stdout)["input"].endswith("bird.bmp")


def test_debug_shows_the_traceback(
    run_cli: CliRunner, models: Path, images: Path
) -> None:
    proc = run_cli(
        "--debug",
        "infer",
        "-m",
        models / "truncated_mobilenet.tflite",
        "-b",
        "litert",
        images / "cat.bmp",
    )
    assert proc.returncode != 0
    assert "Traceback" in proc.stderr


@pytest.mark.parametrize(
    ("backend", "streams"), [("litert", 1), ("litert", 2), ("openvino", 2)]
)
def test_bench_json_reports_latency_and_throughput(
    run_cli: CliRunner, models: Path, backend: str, streams: int
) -> None:
    proc = run_cli(
        "bench",
        "-m",
        models / "mobilenet_v1_0.25_128_quant.tflite",
        "-b",
        backend,
        "--streams",
        str(streams),
        "--duration",
        "0.5",
        "--json",
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["backend"] == backend
    assert result["streams"] == streams
    lat = result["latency_ms"]
    assert 0 < lat["p50"] <= lat["p95"] <= lat["p99"]
    assert result["throughput_fps"] > 10
    assert result["count"] >= 5


def test_devices_reports_cpu_found_and_edgetpu_missing_with_a_fix(
    run_cli: CliRunner,
) -> None:
    proc = run_cli("devices", "--json")
    assert proc.returncode == 0, proc.stderr
    devices = {
        (d["backend"], d["device"]): d for d in json.loads(proc.stdout)["devices"]
    }
    assert devices[("litert", "cpu")]["found"] is True
    assert devices[("openvino", "CPU")]["found"] is True
    tpu = devices.get(("litert", "edgetpu"))
    if tpu is not None:  # no Coral here: a reason and a fix are given
        assert tpu["found"] is False
        assert tpu["reason"]
        assert tpu["fix"]
    npu = devices[("openvino", "NPU")]
    assert npu["found"] or ("/dev/accel" in npu["reason"] or npu["fix"])
