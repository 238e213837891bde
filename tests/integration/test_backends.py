"""Real LiteRT and OpenVINO CPU runs of the asset models against known answers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from edgeinfer.backends.base import Placement, Quantization
from edgeinfer.backends.select import Candidate
from edgeinfer.errors import BackendUnavailable, ModelLoadError
from edgeinfer.model import Model, ModelSpec
from edgeinfer.postprocess.results import Classification, Detections, Pose
from edgeinfer.preprocess.image import read_image

pytestmark = pytest.mark.integration

LITERT = Candidate(Placement("litert", "cpu"))
OPENVINO = Candidate(Placement("openvino", "CPU"))

TOP1 = {
    "cat.bmp": "Egyptian cat",
    "parrot.jpg": "macaw",
    "bird.bmp": "chickadee",
    "grace_hopper.bmp": "military uniform",
    "squat.bmp": "dumbbell",
    "dog_segmentation.bmp": "Samoyed",
}
CLASSIFIERS = (
    "mobilenet_v2_1.0_224_quant.tflite",
    "tf2_mobilenet_v2_1.0_224_ptq.tflite",
)


def _load(models: Path, name: str, cand: Candidate, **kw: object) -> Iterator[Model]:
    model = Model.load(ModelSpec(path=models / name, candidates=(cand,), **kw))  # type: ignore[arg-type]
    yield model
    model.close()


@pytest.fixture(
    scope="module",
    params=[(m, c) for m in CLASSIFIERS for c in ("litert", "openvino")],
    ids=lambda p: f"{p[0].split('_')[0]}-{p[1]}",
)
def classifier(request: pytest.FixtureRequest, models: Path) -> Iterator[Model]:
    name, backend = request.param
    cand = LITERT if backend == "litert" else OPENVINO
    yield from _load(models, name, cand, labels=models / "imagenet_labels.txt")


@pytest.fixture(scope="module", params=["litert", "openvino"])
def pose_model(request: pytest.FixtureRequest, models: Path) -> Iterator[Model]:
    cand = LITERT if request.param == "litert" else OPENVINO
    yield from _load(models, "movenet_single_pose_lightning_ptq.tflite", cand)


@pytest.fixture(scope="module")
def detector(models: Path) -> Iterator[Model]:
    yield from _load(
        models,
        "ssd_mobilenet_v1_coco_quant_postprocess.tflite",
        LITERT,
        labels=models / "coco_labels_ssd.txt",
    )


@pytest.mark.parametrize(("image", "label"), TOP1.items())
def test_classifier_gives_the_known_top1(
    classifier: Model, images: Path, image: str, label: str
) -> None:
    result = classifier.predict(read_image(images / image))
    assert isinstance(result, Classification)
    assert classifier.task == "classification"
    assert result.top[0].label.split(",")[0] == label
    assert result.top[0].score > 0.3
    assert [c.score for c in result.top] == sorted(
        (c.score for c in result.top), reverse=True
    )


@pytest.mark.parametrize("name", CLASSIFIERS)
def test_litert_and_openvino_agree(models: Path, images: Path, name: str) -> None:
    lite = next(_load(models, name, LITERT))
    ov = next(_load(models, name, OPENVINO))
    for image in TOP1:
        frame = read_image(images / image)
        a, b = lite.predict(frame), ov.predict(frame)
        assert isinstance(a, Classification)
        assert isinstance(b, Classification)
        assert a.top[0].index == b.top[0].index
        # The int8 kernels differ: on the TF2 model OpenVINO's top score is up to 0.25
        # lower than LiteRT's (squat.bmp), so only the ranking is compared.
        assert min(a.top[0].score, b.top[0].score) > 0.5
    lite.close()
    ov.close()


@pytest.mark.parametrize(
    ("image", "label", "score", "box"),
    [
        ("grace_hopper.bmp", "person", 0.7, (0.0, 0.05, 0.99, 0.99)),
        ("squat.bmp", "person", 0.8, (0.20, 0.22, 0.74, 0.98)),
        ("cat.bmp", "cat", 0.7, (0.09, 0.13, 0.71, 0.98)),
    ],
)
def test_ssd_finds_the_object_with_its_label_and_box(
    detector: Model,
    images: Path,
    image: str,
    label: str,
    score: float,
    box: tuple[float, float, float, float],
) -> None:
    result = detector.predict(read_image(images / image))
    assert isinstance(result, Detections)
    best = result.items[0]
    assert best.label == label
    assert best.score >= score
    assert np.allclose(best.box.as_list(), box, atol=0.03), best.box


def test_ssd_on_openvino_falls_back_to_litert_and_says_why(
    models: Path, images: Path
) -> None:
    spec = ModelSpec(
        path=models / "ssd_mobilenet_v1_coco_quant_postprocess.tflite",
        candidates=(OPENVINO, LITERT),
        labels=models / "coco_labels_ssd.txt",
    )
    model = Model.load(spec)
    try:
        assert model.backend.placement == Placement("litert", "cpu")
        assert [s.placement for s in model.selection.skipped] == [OPENVINO.placement]
        assert "TFLite_Detection_PostProcess" in model.selection.skipped[0].reason
        result = model.predict(read_image(images / "cat.bmp"))
        assert isinstance(result, Detections)
        assert result.items[0].label == "cat"
    finally:
        model.close()


def test_pose_keypoints_on_squat_are_plausible(pose_model: Model, images: Path) -> None:
    pose = pose_model.predict(read_image(images / "squat.bmp"))
    assert isinstance(pose, Pose)
    kp = {k.name: k for k in pose.keypoints}
    assert len(kp) == 17
    assert all(0.0 <= k.x <= 1.0 and 0.0 <= k.y <= 1.0 for k in pose.keypoints)
    assert np.mean([k.score for k in pose.keypoints]) > 0.4
    # The head is above the hips, which are above the ankles.
    head = min(kp["nose"].y, kp["left_eye"].y, kp["right_eye"].y)
    hips = (kp["left_hip"].y + kp["right_hip"].y) / 2
    ankles = (kp["left_ankle"].y + kp["right_ankle"].y) / 2
    assert head < hips < ankles


def test_pose_agrees_across_backends(models: Path, images: Path) -> None:
    frame = read_image(images / "squat.bmp")
    poses = []
    for cand in (LITERT, OPENVINO):
        model = next(_load(models, "movenet_single_pose_lightning_ptq.tflite", cand))
        poses.append(model.predict(frame))
        model.close()
    a, b = poses
    assert isinstance(a, Pose)
    assert isinstance(b, Pose)
    dist = [
        np.hypot(p.x - q.x, p.y - q.y)
        for p, q in zip(a.keypoints, b.keypoints, strict=True)
    ]
    assert np.median(dist) < 0.03


def test_openvino_reads_ir_saved_from_tflite(
    models: Path, images: Path, tmp_path: Path
) -> None:
    import openvino as ov

    xml = tmp_path / "mobilenet.xml"
    ov.save_model(
        ov.Core().read_model(models / "mobilenet_v1_0.25_128_quant.tflite"), xml
    )
    model = next(
        _load(models, str(xml), OPENVINO, labels=models / "imagenet_labels.txt")
    )
    result = model.predict(read_image(images / "parrot.jpg"))
    model.close()
    assert isinstance(result, Classification)
    assert result.top[0].label == "macaw"


def test_tflite_reader_reads_quantization_and_custom_ops(models: Path) -> None:
    from edgeinfer.backends.tflite_meta import read_tflite_info

    info = read_tflite_info(models / "mobilenet_v2_1.0_224_quant.tflite")
    assert info.inputs[0].shape == (1, 224, 224, 3)
    assert info.inputs[0].quant == Quantization(0.0078125, 128)
    assert info.outputs[0].quant == Quantization(0.00390625, 0)
    assert not info.is_edgetpu
    assert read_tflite_info(
        models / "mobilenet_v1_0.25_128_quant_edgetpu.tflite"
    ).is_edgetpu
    with pytest.raises(ModelLoadError, match="truncated or not a valid TFLite model"):
        read_tflite_info(models / "truncated_mobilenet.tflite")


def test_absent_edgetpu_and_npu_fall_back_to_the_cpu_twin(
    models: Path, images: Path
) -> None:
    spec = ModelSpec(
        path=models / "mobilenet_v1_0.25_128_quant_edgetpu.tflite",
        candidates=(
            Candidate(Placement("litert", "usb")),
            Candidate(Placement("openvino", "NPU")),
            LITERT,
        ),
        cpu_twin=models / "mobilenet_v1_0.25_128_quant.tflite",
        labels=models / "imagenet_labels.txt",
    )
    model = Model.load(spec)
    try:
        assert model.backend.placement == LITERT.placement
        assert model.selection.model_path == spec.cpu_twin
        reasons = {str(s.placement): s.reason for s in model.selection.skipped}
        assert (
            "libedgetpu" in reasons["litert:usb"]
            or "no Edge TPU" in reasons["litert:usb"]
        )
        assert "NPU not available" in reasons["openvino:NPU"]
        result = model.predict(read_image(images / "parrot.jpg"))
        assert isinstance(result, Classification)
        assert result.top[0].label == "macaw"
    finally:
        model.close()


def test_edgetpu_model_without_delegate_or_twin_names_the_delegate(
    models: Path,
) -> None:
    spec = ModelSpec(
        path=models / "mobilenet_v1_0.25_128_quant_edgetpu.tflite",
        candidates=(LITERT, OPENVINO),
    )
    with pytest.raises(BackendUnavailable) as err:
        Model.load(spec)
    text = str(err.value)
    assert "edgetpu-custom-op" in text
    assert "libedgetpu.so.1" in text
    assert "cpu_twin" in text


def test_openvino_caches_compiled_models_so_a_restart_does_not_recompile(
    models: Path, tmp_path: Path
) -> None:
    from edgeinfer.backends.base import BackendOptions

    cache = tmp_path / "ov-cache"
    cand = Candidate(Placement("openvino", "CPU"), BackendOptions(cache_dir=cache))
    spec = ModelSpec(
        path=models / "mobilenet_v1_0.25_128_quant.tflite", candidates=(cand,)
    )
    Model.load(spec).close()
    blobs = sorted(cache.iterdir())
    assert blobs, "the first load writes the compiled model to the cache"
    stamps = [b.stat().st_mtime_ns for b in blobs]
    Model.load(spec).close()
    assert (
        sorted(cache.iterdir()) == blobs
    )  # the second load reads it, writes nothing new
    assert [b.stat().st_mtime_ns for b in blobs] == stamps


def test_openvino_workers_follow_the_hint_and_the_configured_streams(
    models: Path, tmp_path: Path
) -> None:
    from edgeinfer.config import parse_config
    from edgeinfer.loading import model_spec

    def workers(accelerator: str) -> tuple[int, int]:
        """(workers the daemon runs, the runtime's optimal number of requests)."""
        path = models / "mobilenet_v1_0.25_128_quant.tflite"
        config = parse_config(
            f"state_dir: {tmp_path}\n"
            f"models:\n  m: {{path: {path}, accelerators: [{accelerator}]}}\n",
            "device.yaml",
        )
        model = Model.load(model_spec(config, "m"))
        try:
            return model.backend.preferred_workers, model.backend.optimal_requests  # type: ignore[attr-defined]
        finally:
            model.close()

    chosen, optimal = workers("{kind: openvino, device: CPU}")
    assert chosen == optimal  # latency: the runtime's own number
    chosen, optimal = workers("{kind: openvino, device: CPU, hint: throughput}")
    # One request waits at each device stream while the other workers preprocess.
    assert chosen == 2 * optimal
    chosen, _ = workers("{kind: openvino, device: CPU, hint: throughput, streams: 3}")
    assert chosen == 3
