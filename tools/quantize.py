"""Post-training quantization FP32 -> INT8 with calibration data, then a comparison.

One command, three formats (``--formats``, comma-separated):

* ``onnx``: ONNX QDQ with ONNX Runtime's ``quantize_static`` (per-channel int8
  weights, int8 activations), run with edgeinfer on ONNX Runtime;
* ``openvino``: OpenVINO IR through NNCF (``nncf.quantize``), run on OpenVINO;
* ``litert``: a full-integer .tflite (int8 input and output) from a SavedModel or Keras
  file with the TensorFlow Lite converter, run on LiteRT. The project's own NumPy
  models need no TensorFlow: ``tools/tflite_int8.py`` writes their int8 .tflite.

Each int8 model is compared with the float model on a validation set (accuracy with
``--val-labels``, top-1 agreement without), by size, and by ``edgeinfer bench``
speed; a WARNING is printed when accuracy drops more than ``--tolerance``, and
``--strict`` then exits 1.

    python tools/quantize.py --model float.onnx --calib calib/ --val val.npy \\
        --val-labels val_labels.txt --formats onnx,openvino --out build/int8 \\
        [--mean 0 --std 255] [--report report.json] [--tolerance 0.01] [--strict]

Needs the ``tools`` extra: ``pip install -e '.[tools]'``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from model_data import (
    Preprocessing,
    float_input,
    model_input,
    read_frames,
    read_labels,
    run_model,
    tensors,
)
from model_report import Measured, bench, compare, format_table, model_size
from model_report import warnings_for as drop_warnings
from numpy.typing import NDArray

FORMATS = ("onnx", "openvino", "litert")
RUNS_ON = {"onnx": "onnxruntime", "openvino": "openvino", "litert": "litert"}
EXTRA_HINT = "install the tools extra: pip install -e '.[tools]'"


def quantize_onnx(source: Path, calib: list[NDArray[np.float32]], out: Path) -> Path:
    """ONNX QDQ: int8 weights per output channel, int8 activations from ``calib``.

    The graph first goes through ONNX Runtime's ``quant_pre_process`` (shape inference
    and folding), which places the quantize/dequantize pairs better; symbolic shape
    inference is skipped because edge models have static shapes.
    """
    import onnx
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    name = onnx.load(source, load_external_data=False).graph.input[0].name

    class Reader(CalibrationDataReader):  # type: ignore[misc]
        """Feeds the calibration tensors one at a time, as ONNX Runtime asks."""

        def __init__(self) -> None:
            self._batches = iter(calib)

        def get_next(self) -> dict[str, NDArray[np.float32]] | None:
            tensor = next(self._batches, None)
            return None if tensor is None else {name: tensor}

    target = out / f"{source.stem}_int8.onnx"
    with tempfile.TemporaryDirectory() as tmp:
        prepared = Path(tmp) / source.name
        quant_pre_process(str(source), str(prepared), skip_symbolic_shape=True)
        quantize_static(
            str(prepared),
            str(target),
            Reader(),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QInt8,
            weight_type=QuantType.QInt8,
        )
    return target


def quantize_openvino(
    source: Path, calib: list[NDArray[np.float32]], out: Path
) -> Path:
    """OpenVINO IR (.xml + .bin) quantized by NNCF with ``calib`` as its dataset."""
    try:
        import nncf
    except ImportError:
        raise SystemExit(f"the openvino format needs nncf: {EXTRA_HINT}") from None
    import openvino as ov

    model = ov.Core().read_model(str(source))
    quantized = nncf.quantize(model, nncf.Dataset(calib), subset_size=len(calib))
    target = out / f"{source.stem}_int8.xml"
    ov.save_model(quantized, str(target))
    return target


def quantize_litert(
    source: Path, frames: NDArray[np.uint8], prep: Preprocessing, out: Path
) -> tuple[Path, Path]:
    """A float and a full-integer .tflite from a SavedModel directory or Keras file.

    The float .tflite is the reference the int8 one is compared with, both run by
    edgeinfer on LiteRT.
    """
    try:
        import tensorflow as tf
    except ImportError:
        raise SystemExit(
            "the litert format needs TensorFlow (tensorflow-cpu): " + EXTRA_HINT
        ) from None
    if source.is_dir():
        converter = tf.lite.TFLiteConverter.from_saved_model(str(source))
        float_converter = tf.lite.TFLiteConverter.from_saved_model(str(source))
    else:
        keras_model = tf.keras.models.load_model(source)
        converter = tf.lite.TFLiteConverter.from_keras_model(keras_model)
        float_converter = tf.lite.TFLiteConverter.from_keras_model(keras_model)
    float_path = out / f"{source.stem}_float.tflite"
    float_path.write_bytes(float_converter.convert())
    spec = model_input(float_path, "litert")
    calib = list(tensors(frames, float_input(spec.shape, spec.name), prep))

    def representative() -> Any:
        for tensor in calib:
            yield [tensor]

    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    target = out / f"{source.stem}_int8.tflite"
    target.write_bytes(converter.convert())
    return float_path, target


def check_source(fmt: str, model: Path) -> None:
    """Refuse, before any work, a format the model file or installed tools cannot do."""
    if fmt == "litert":
        if importlib.util.find_spec("tensorflow") is None:
            raise SystemExit(
                "the litert format needs TensorFlow (tensorflow-cpu): " + EXTRA_HINT
            )
        if not (model.is_dir() or model.suffix in (".keras", ".h5")):
            raise SystemExit("the litert format starts from a SavedModel or Keras file")
    elif fmt == "onnx" and model.suffix != ".onnx":
        raise SystemExit("the onnx format starts from an .onnx model")
    elif fmt == "openvino" and model.suffix not in (".onnx", ".xml"):
        raise SystemExit("the openvino format starts from an .onnx or .xml model")


def measure(
    path: Path,
    backend: str,
    frames: NDArray[np.uint8],
    prep: Preprocessing,
    duration_s: float,
) -> Measured:
    """Run ``path`` on the validation frames and benchmark it."""
    scores = run_model(path, frames, prep, backend)
    return Measured(
        path,
        backend,
        model_size(path),
        scores.argmax(1),
        bench(path, backend, duration_s),
    )


def parse_floats(text: str | None) -> float | list[float] | None:
    """``"127.5"`` or ``"123.7,116.3,103.5"`` (per channel) to numbers."""
    if text is None:
        return None
    values = [float(v) for v in text.split(",")]
    return values[0] if len(values) == 1 else values


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--model",
        type=Path,
        required=True,
        help="float model: .onnx, OpenVINO .xml, SavedModel dir, .keras",
    )
    parser.add_argument(
        "--calib",
        type=Path,
        required=True,
        help="calibration frames: folder of images or .npy batch",
    )
    parser.add_argument("--val", type=Path, help="validation frames (default: calib)")
    parser.add_argument(
        "--val-labels",
        type=Path,
        help="class index or name per line; without it, agreement",
    )
    parser.add_argument("--labels", type=Path, help="class names, for --val-labels")
    parser.add_argument(
        "--formats",
        default="onnx,openvino",
        help=f"comma-separated, of {', '.join(FORMATS)}",
    )
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument("--mean", help="input normalisation (one or per channel)")
    parser.add_argument("--std", help="input normalisation (one or per channel)")
    parser.add_argument(
        "--interpolation", default="linear", choices=("linear", "area", "nearest")
    )
    parser.add_argument(
        "--calib-count",
        type=int,
        default=300,
        help="at most this many calibration frames",
    )
    parser.add_argument("--report", type=Path, help="write the report here (JSON)")
    parser.add_argument(
        "--tolerance",
        type=float,
        default=0.01,
        help="largest accuracy drop allowed (0.01 = 1 point)",
    )
    parser.add_argument(
        "--strict", action="store_true", help="exit 1 when a drop exceeds the tolerance"
    )
    parser.add_argument(
        "--bench-duration",
        type=float,
        default=3.0,
        help="seconds of edgeinfer bench per model",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    formats = [f.strip() for f in args.formats.split(",") if f.strip()]
    unknown = sorted(set(formats) - set(FORMATS))
    if unknown:
        raise SystemExit(
            f"unknown format {', '.join(unknown)}: use {', '.join(FORMATS)}"
        )
    prep = Preprocessing(
        parse_floats(args.mean), parse_floats(args.std), args.interpolation
    )
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    calib_frames = read_frames(args.calib, args.calib_count)
    val_frames = read_frames(args.val or args.calib)
    names = args.labels.read_text().split() if args.labels else []
    labels = read_labels(args.val_labels, names) if args.val_labels else None
    if labels is not None and len(labels) != len(val_frames):
        raise SystemExit(
            f"{args.val_labels} has {len(labels)} labels for {len(val_frames)} frames"
        )

    for fmt in formats:
        check_source(fmt, args.model)
    entries: list[dict[str, Any]] = []
    for fmt in formats:
        backend = RUNS_ON[fmt]
        if fmt == "litert":
            float_path, int8_path = quantize_litert(args.model, calib_frames, prep, out)
        else:
            spec = model_input(args.model)
            calib = list(
                tensors(calib_frames, float_input(spec.shape, spec.name), prep)
            )
            quantize = quantize_onnx if fmt == "onnx" else quantize_openvino
            float_path, int8_path = args.model, quantize(args.model, calib, out)
        print(f"{fmt}: wrote {int8_path}", flush=True)
        entries.append(
            compare(
                fmt,
                measure(float_path, backend, val_frames, prep, args.bench_duration),
                measure(int8_path, backend, val_frames, prep, args.bench_duration),
                labels,
                args.tolerance,
            )
        )

    print(format_table(entries))
    warnings = drop_warnings(entries)
    for line in warnings:
        print(line)
    if args.report:
        args.report.write_text(json.dumps({"conversions": entries}, indent=2) + "\n")
    return 1 if warnings and args.strict else 0


if __name__ == "__main__":
    raise SystemExit(main())
