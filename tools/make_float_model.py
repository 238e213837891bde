"""Build a small float32 ONNX classifier and its data, for the model tools and tests.

The project's NumPy tiny CNN (``tiny_cnn``) is trained on generated conveyor frames
(``demo_data``) and written as an ONNX graph with the ``onnx`` helper API:

    image float32 [1, 3, 64, 64]  (RGB pixel / 255, NCHW)
    -> (Conv 3x3 stride 2, SAME as TensorFlow pads it -> Relu) x n
    -> GlobalMaxPool -> Flatten -> Gemm -> Softmax  scores [1, classes]

Beside it: ``labels.txt``, a calibration batch ``calib.npy`` and a validation batch
``val.npy`` (uint8 BGR frames [N, 64, 64, 3], as a camera gives them) with
``val_labels.txt`` (one class index per line), and a few ``samples/*.png`` to use as
golden inputs. This is the FP32 model ``tools/quantize.py`` starts from.

    python tools/make_float_model.py --out build/float [--frames 600] [--epochs 4]
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import cv2
import numpy as np
import tiny_cnn
from demo_data import LABELS, MODEL_SIZE, make_dataset
from numpy.typing import NDArray

OPSET = 13
IR_VERSION = 8  # readable by every ONNX Runtime and OpenVINO the project supports


def same_pads(size: int) -> list[int]:
    """ONNX ``pads`` (top, left, bottom, right) of a 3x3 stride-2 SAME conv."""
    _, before, after = tiny_cnn.same_padding(size)
    return [before, before, after, after]


def to_onnx(folded: tiny_cnn.Params, size: int = MODEL_SIZE) -> bytes:
    """The serialized ONNX model computing ``tiny_cnn.predict`` on NCHW input."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    nodes, weights = [], []
    x, spatial = "image", size
    for i in range(tiny_cnn.n_convs(folded)):
        w = folded[f"conv{i}.w"].transpose(0, 3, 1, 2)  # OHWI -> OIHW
        weights += [
            numpy_helper.from_array(np.ascontiguousarray(w), f"conv{i}.w"),
            numpy_helper.from_array(folded[f"conv{i}.b"], f"conv{i}.b"),
        ]
        nodes += [
            helper.make_node(
                "Conv",
                [x, f"conv{i}.w", f"conv{i}.b"],
                [f"conv{i}"],
                kernel_shape=[tiny_cnn.KERNEL] * 2,
                strides=[tiny_cnn.STRIDE] * 2,
                pads=same_pads(spatial),
            ),
            helper.make_node("Relu", [f"conv{i}"], [f"relu{i}"]),
        ]
        x, spatial = f"relu{i}", math.ceil(spatial / tiny_cnn.STRIDE)
    weights += [
        numpy_helper.from_array(folded["fc.w"], "fc.w"),
        numpy_helper.from_array(folded["fc.b"], "fc.b"),
    ]
    classes = folded["fc.b"].shape[0]
    nodes += [
        helper.make_node("GlobalMaxPool", [x], ["pooled"]),
        helper.make_node("Flatten", ["pooled"], ["flat"]),
        helper.make_node("Gemm", ["flat", "fc.w", "fc.b"], ["logits"], transB=1),
        helper.make_node("Softmax", ["logits"], ["scores"], axis=1),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny_cnn",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, size, size])],
        [helper.make_tensor_value_info("scores", TensorProto.FLOAT, [1, classes])],
        weights,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model)
    return bytes(model.SerializeToString())


def to_bgr(images: NDArray[np.uint8]) -> NDArray[np.uint8]:
    """RGB batches from ``demo_data`` to BGR frames, the order a camera gives."""
    return np.ascontiguousarray(images[..., ::-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--frames", type=int, default=600, help="training frames")
    parser.add_argument("--val", type=int, default=150, help="validation frames")
    parser.add_argument("--calib", type=int, default=64, help="calibration frames")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--channels", default="8,16,32", help="conv widths")
    args = parser.parse_args(argv)
    out: Path = args.out
    (out / "samples").mkdir(parents=True, exist_ok=True)

    x_train, y_train = make_dataset(np.random.default_rng(args.seed), args.frames)
    x_val, y_val = make_dataset(np.random.default_rng(args.seed + 1000), args.val)
    channels = tuple(int(c) for c in args.channels.split(","))
    folded = tiny_cnn.train(
        np.random.default_rng(args.seed),
        x_train,
        y_train,
        channels=channels,
        epochs=args.epochs,
        log=False,
    )
    acc = tiny_cnn.accuracy(folded, x_val, y_val)

    (out / "model.onnx").write_bytes(to_onnx(folded))
    (out / "labels.txt").write_text("\n".join(LABELS) + "\n")
    np.save(out / "calib.npy", to_bgr(x_train[: args.calib]))
    np.save(out / "val.npy", to_bgr(x_val))
    (out / "val_labels.txt").write_text("".join(f"{int(y)}\n" for y in y_val))
    for c, name in enumerate(LABELS):
        first = int(np.flatnonzero(y_val == c)[0])
        cv2.imwrite(str(out / "samples" / f"{name}.png"), to_bgr(x_val[first]))
    print(f"wrote {out / 'model.onnx'}: float accuracy {acc:.3f} on {len(y_val)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
