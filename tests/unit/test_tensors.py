"""Quantization, preprocessing, labels and decoding: the stages around a backend."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from edgeinfer.backends.base import NO_QUANT, Quantization, TensorSpec
from edgeinfer.errors import InputError, ModelLoadError
from edgeinfer.postprocess.decode import (
    decode_classification,
    decode_ssd,
    detect_task,
    ssd_order,
)
from edgeinfer.postprocess.labels import fit_labels, read_labels
from edgeinfer.preprocess.image import ImagePreprocessor, Letterbox
from edgeinfer.preprocess.quantize import (
    PixelMap,
    apply_lut,
    dequantize,
    pixel_lut,
    quantize,
)

U8 = TensorSpec("in", (1, 4, 4, 3), np.dtype(np.uint8), Quantization(0.0078125, 128))
I8 = TensorSpec("in", (1, 4, 4, 3), np.dtype(np.int8), Quantization(1 / 255, -128))
F32 = TensorSpec("in", (1, 4, 4, 3), np.dtype(np.float32))


def test_quantize_rounds_and_saturates() -> None:
    q = quantize(np.array([-2.0, -1.0, 0.0, 0.5, 0.99, 5.0]), U8)
    assert q.dtype == np.uint8
    assert q.tolist() == [0, 0, 128, 192, 255, 255]


def test_dequantize_inverts_quantize_within_half_a_step() -> None:
    real = np.linspace(-1, 0.99, 50, dtype=np.float32)
    back = dequantize(quantize(real, U8), U8)
    assert np.max(np.abs(back - real)) <= U8.quant.scale / 2 + 1e-6


def test_float_tensor_passes_through_dequantize() -> None:
    x = np.array([0.25, -3.0], np.float32)
    assert dequantize(x, F32) is not None
    assert np.array_equal(dequantize(x, F32), x)


def test_pixel_lut_defaults() -> None:
    assert pixel_lut(U8).shape == (1, 256)
    assert pixel_lut(U8)[0, 200] == 200  # a quantized uint8 input takes raw pixels
    assert pixel_lut(I8)[0, 200] == 72  # int8: pixel - 128
    assert pixel_lut(F32)[0, 255] == pytest.approx(1.0)  # float: pixel / 255


@pytest.mark.parametrize(
    ("spec", "mean", "std", "path"),
    [
        (U8, None, None, "identity"),
        (I8, None, None, "flip"),
        (F32, None, None, "table"),
        (U8, 127.5, 127.5, "table"),
        (F32, [1, 2, 3], [50, 60, 70], "table"),
        (TensorSpec("in", (1, 4, 4, 3), np.dtype(np.float16)), None, None, "take"),
    ],
)
def test_every_fast_pixel_path_equals_the_table(
    spec: TensorSpec, mean: object, std: object, path: str
) -> None:
    lut = pixel_lut(spec, mean, std)  # type: ignore[arg-type]
    pixel_map = PixelMap(lut)
    taken = {
        "identity": pixel_map.identity,
        "flip": pixel_map.flip,
        "table": not (pixel_map.identity or pixel_map.flip),
        "take": lut.dtype == np.float16,
    }
    assert taken[path]
    pixels = np.random.default_rng(0).integers(0, 256, (4, 4, 3), dtype=np.uint8)
    fast = np.empty(spec.shape, spec.dtype)
    slow = np.empty(spec.shape, spec.dtype)
    assert pixel_map.apply(pixels, fast) is fast
    np.testing.assert_array_equal(fast, apply_lut(pixels, lut, slow))


def test_pixel_lut_with_mean_and_std_quantizes_the_normalised_value() -> None:
    lut = pixel_lut(U8, mean=127.5, std=127.5)
    # (255 - 127.5) / 127.5 = 1.0 -> 1.0 / 0.0078125 + 128 = 256 -> saturates at 255
    assert lut[0, 255] == 255
    assert lut[0, 0] == 0
    per_channel = pixel_lut(F32, mean=[0, 0, 100], std=1)
    assert per_channel.shape == (3, 256)
    assert per_channel[2, 100] == 0.0


def test_preprocessor_reuses_its_buffer_and_swaps_colour() -> None:
    pre = ImagePreprocessor(U8)
    frame = np.zeros((8, 8, 3), np.uint8)
    frame[..., 0] = 10  # blue in BGR
    frame[..., 2] = 200  # red
    out1, _ = pre(frame)
    out2, _ = pre(frame)
    assert out1 is out2
    assert out1.shape == (1, 4, 4, 3)
    assert out1[0, 0, 0].tolist() == [200, 0, 10]  # RGB order


def test_letterbox_keeps_the_aspect_and_maps_points_back() -> None:
    spec = TensorSpec("in", (1, 100, 100, 3), np.dtype(np.uint8))
    pre = ImagePreprocessor(spec, resize="letterbox")
    frame = np.full((50, 100, 3), 255, np.uint8)
    tensor, box = pre(frame)
    assert box == Letterbox(0.0, 0.25, 1.0, 0.5)
    assert tensor[0, 10, 50, 0] == 114  # padding above the frame
    assert tensor[0, 50, 50, 0] == 255
    assert box.to_frame(0.5, 0.25) == (0.5, 0.0)


def test_nchw_input_is_transposed() -> None:
    spec = TensorSpec("in", (1, 3, 4, 4), np.dtype(np.uint8))
    frame = np.zeros((4, 4, 3), np.uint8)
    frame[..., 2] = 77  # red
    out, _ = ImagePreprocessor(spec)(frame)
    assert out.shape == (1, 3, 4, 4)
    assert np.all(out[0, 0] == 77)


@pytest.mark.parametrize("color", ["rgb", "bgr"])
def test_raw_pixel_tensor_matches_resize_then_colour_order(color: str) -> None:
    spec = TensorSpec("in", (1, 30, 40, 3), np.dtype(np.uint8))
    pre = ImagePreprocessor(spec, color=color)  # type: ignore[arg-type]
    rng = np.random.default_rng(3)
    for shape in ((72, 128, 3), (30, 40, 3)):  # resized, and already the input size
        frame = rng.integers(0, 256, shape, np.uint8)
        expected = cv2.resize(frame, (40, 30), interpolation=cv2.INTER_LINEAR)
        if color == "rgb":
            expected = expected[..., ::-1]
        tensor, _ = pre(frame)
        assert np.array_equal(tensor[0], expected)


def test_preprocessor_rejects_a_non_image_frame() -> None:
    with pytest.raises(InputError, match="not a BGR uint8 image"):
        ImagePreprocessor(U8)(np.zeros((4, 4), np.float32))


def test_labels_plain_and_indexed(tmp_path: Path) -> None:
    plain = tmp_path / "plain.txt"
    plain.write_text("a\nb\nc\n\n")
    assert read_labels(plain) == {0: "a", 1: "b", 2: "c"}
    indexed = tmp_path / "indexed.txt"
    indexed.write_text("0  person\n2 car\n")
    assert read_labels(indexed) == {0: "person", 2: "car"}


def test_label_offsets(tmp_path: Path) -> None:
    path = tmp_path / "l.txt"
    ssd = {0: "???", 1: "person", 2: "bicycle"}
    assert fit_labels(ssd, None, None, path)[0] == "person"
    assert fit_labels({0: "person", 1: "bicycle"}, None, None, path)[0] == "person"
    no_background = {i: f"c{i}" for i in range(1000)}
    assert fit_labels(no_background, 1001, None, path)[1] == "c0"
    with pytest.raises(
        InputError, match="has 90 labels but the model has 1001 classes"
    ):
        fit_labels({i: "x" for i in range(90)}, 1001, None, path)


def test_missing_and_empty_labels_files(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="does not exist"):
        read_labels(tmp_path / "none.txt")
    (tmp_path / "empty.txt").write_text("\n\n")
    with pytest.raises(InputError, match="is empty"):
        read_labels(tmp_path / "empty.txt")


def test_classification_top_k_is_sorted() -> None:
    result = decode_classification(np.array([[0.1, 0.7, 0.05, 0.15]]), {1: "b"}, 3)
    assert [(c.index, c.label) for c in result.top] == [(1, "b"), (3, "3"), (0, "0")]


def _ssd_specs(names: list[str]) -> tuple[TensorSpec, ...]:
    return tuple(TensorSpec(n, (), np.dtype(np.float32), NO_QUANT) for n in names)


def test_ssd_decoding_orders_by_name_thresholds_and_maps_boxes() -> None:
    names = [
        "TFLite_Detection_PostProcess:2",
        "TFLite_Detection_PostProcess",
        "TFLite_Detection_PostProcess:3",
        "TFLite_Detection_PostProcess:1",
    ]
    order = ssd_order(_ssd_specs(names))
    assert order == (1, 3, 0, 2)
    scores = np.array([[0.9, 0.3, 0.6]], np.float32)
    boxes = np.array(
        [[[0.1, 0.2, 0.5, 0.6], [0, 0, 1, 1], [0.25, 0.0, 0.75, 1.2]]], np.float32
    )
    classes = np.array([[0, 1, 16]], np.float32)
    count = np.array([3], np.float32)
    tensors = [scores, boxes, count, classes]
    dets = decode_ssd(
        tensors,
        order,
        {0: "person", 1: "bike", 16: "cat"},
        0.5,
        Letterbox(0.0, 0.25, 1.0, 0.5),
    )
    assert [d.label for d in dets.items] == ["person", "cat"]
    assert dets.items[0].box.as_list() == [0.2, 0.0, 0.6, 0.5]
    assert dets.items[1].box.as_list() == [0.0, 0.0, 1.0, 1.0]  # clipped to the frame


def test_ssd_class_missing_from_labels_is_an_input_error() -> None:
    tensors = [
        np.zeros((1, 1, 4), np.float32),
        np.array([[42.0]]),
        np.array([[0.9]]),
        np.array([1.0]),
    ]
    with pytest.raises(InputError, match="class 42"):
        decode_ssd(tensors, (0, 1, 2, 3), {0: "person"}, 0.5)


def test_detect_task_from_shapes() -> None:
    def specs(*shapes: tuple[int, ...]) -> tuple[TensorSpec, ...]:
        return tuple(
            TensorSpec(f"o{i}", s, np.dtype(np.float32)) for i, s in enumerate(shapes)
        )

    assert detect_task(specs((1, 1001))) == "classification"
    assert detect_task(specs((1, 1, 17, 3))) == "pose"
    assert detect_task(specs((1, 10, 4), (1, 10), (1, 10), (1,))) == "detection"
    assert detect_task(specs((1, 513, 513))) == "raw"


def test_tflite_reader_rejects_non_models(tmp_path: Path) -> None:
    from edgeinfer.backends.tflite_meta import read_tflite_info

    bogus = tmp_path / "x.tflite"
    bogus.write_bytes(b"\x00" * 64)
    with pytest.raises(ModelLoadError, match="not a TFLite model"):
        read_tflite_info(bogus)
    empty = tmp_path / "empty.tflite"
    empty.touch()
    with pytest.raises(ModelLoadError, match="not a TFLite model"):
        read_tflite_info(empty)
    with pytest.raises(ModelLoadError, match="cannot read model"):
        read_tflite_info(tmp_path / "absent.tflite")
    with pytest.raises(ModelLoadError, match="cannot read model"):
        read_tflite_info(tmp_path)  # a folder
