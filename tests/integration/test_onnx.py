"""ONNX models: ONNX Runtime and OpenVINO run the same .onnx file and agree."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgeinfer.backends.base import Placement
from edgeinfer.backends.select import Candidate
from edgeinfer.model import Model, ModelSpec
from edgeinfer.postprocess.results import Classification

pytestmark = pytest.mark.integration

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")


def make_classifier(path: Path, seed: int = 3) -> Path:
    """A seeded float NCHW conv classifier: 3x32x32 image -> 4 class scores."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    weights = {
        "conv_w": rng.normal(0, 0.5, (8, 3, 3, 3)).astype(np.float32),
        "conv_b": rng.normal(0, 0.1, (8,)).astype(np.float32),
        "fc_w": rng.normal(0, 1.0, (8, 4)).astype(np.float32),
        "fc_b": rng.normal(0, 0.1, (4,)).astype(np.float32),
    }
    nodes = [
        helper.make_node(
            "Conv", ["image", "conv_w", "conv_b"], ["c"], pads=[1, 1, 1, 1]
        ),
        helper.make_node("Relu", ["c"], ["r"]),
        helper.make_node("GlobalAveragePool", ["r"], ["g"]),
        helper.make_node("Flatten", ["g"], ["f"]),
        helper.make_node("Gemm", ["f", "fc_w", "fc_b"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["scores"], axis=1),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, 32, 32])],
        [helper.make_tensor_value_info("scores", TensorProto.FLOAT, [1, 4])],
        [numpy_helper.from_array(v, k) for k, v in weights.items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return path


def test_onnxruntime_and_openvino_agree_on_an_onnx_model(tmp_path: Path) -> None:
    import openvino

    from edgeinfer.config import parse_config
    from edgeinfer.loading import model_spec

    path = make_classifier(tmp_path / "tiny.onnx")
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, (48, 64, 3), dtype=np.uint8) for _ in range(5)]
    scores = {}
    for accelerator in (
        "{kind: onnxruntime}",
        "{kind: openvino, device: CPU, precision: f32}",
        "{kind: openvino, device: CPU}",  # the runtime's precision: bf16 on some CPUs
    ):
        config = parse_config(
            f"state_dir: {tmp_path}\n"
            f"models:\n  m: {{path: {path}, accelerators: [{accelerator}]}}\n",
            "device.yaml",
        )
        model = Model.load(model_spec(config, "m"))
        if "f32" in accelerator:  # what the runtime compiled for, on any CPU
            compiled = model.backend._compiled  # type: ignore[attr-defined]
            precision = compiled.get_property("INFERENCE_PRECISION_HINT")
            assert precision == openvino.Type.f32
        assert model.task == "classification"
        assert model.preprocessor.nchw
        results = [model.predict(f) for f in frames]
        model.close()
        assert all(isinstance(r, Classification) for r in results)
        scores[accelerator] = np.array(
            [[c.score for c in sorted(r.top, key=lambda c: c.index)] for r in results]  # type: ignore[union-attr]
        )
    onnx_scores, f32, default = scores.values()
    assert np.allclose(onnx_scores, f32, atol=1e-4)
    assert np.allclose(np.sum(onnx_scores, axis=1), 1.0, atol=1e-4)
    # bf16 keeps 8 bits of mantissa: the same classes, scores within a few 1e-3.
    assert np.allclose(onnx_scores, default, atol=1e-2)
    assert (onnx_scores.argmax(axis=1) == default.argmax(axis=1)).all()


def test_onnx_model_on_litert_is_refused_with_the_fix(tmp_path: Path) -> None:
    from edgeinfer.errors import ModelLoadError

    path = make_classifier(tmp_path / "tiny.onnx")
    with pytest.raises(ModelLoadError, match=r"not a TFLite model .* OpenVINO"):
        Model.load(
            ModelSpec(path=path, candidates=(Candidate(Placement("litert", "cpu")),))
        )
