"""Make a signed model bundle from an int8 model, ready for ``edgeinfer models``.

The bundle directory gets the model (an OpenVINO ``.xml`` with its ``.bin``), the
labels, golden input images with the outputs edgeinfer gives on them here, the input
spec read from the model, a latency budget, an optional Edge TPU twin, and then a
signature made with edgeinfer's own signing code, so that ``edgeinfer models verify``
accepts it and a changed byte is refused (see docs/bundles.md).

With ``--drift-video`` (frames like those the device will see) the manifest also gets
``drift_reference``: the model's top score and the frames' brightness measured on up
to ``--drift-frames`` frames spread over the video, which drift rules then compare
the live values with from the first frame on.

The latency budget is ``--latency-budget-ms`` when given; otherwise the p99 that
``edgeinfer bench`` measured for this model (from ``--report`` of ``quantize.py``, or
run now) times ``--margin``, so that a device a few times slower still passes.

    python tools/make_bundle.py --model build/int8/model_int8.onnx \\
        --labels labels.txt --golden samples/*.png --key fleet.pem \\
        --name conveyor-qc --version 1.1.0 --out build/bundle [--report report.json]
"""

from __future__ import annotations

import argparse
import json
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal

import cv2
import numpy as np
from model_data import BACKEND_OF, Preprocessing, load_model, model_input, run_model
from model_report import bench
from quantize import parse_floats

from edgeinfer.model import Model
from edgeinfer.preprocess.image import image_layout, read_image
from edgeinfer.rules.drift import frame_brightness, top_score
from edgeinfer.updates.bundle import pack_bundle, sign_bundle
from edgeinfer.updates.manifest import MANIFEST

DEFAULT_MARGIN = 3.0


def copy_model(model: Path, dest: Path) -> Path:
    """Copy the model (and an OpenVINO ``.bin``) into ``dest``; the copied path."""
    target = dest / model.name
    shutil.copyfile(model, target)
    if model.suffix == ".xml":
        shutil.copyfile(model.with_suffix(".bin"), target.with_suffix(".bin"))
    return target


def measured_p99(report: Path | None, model: Path) -> float | None:
    """The int8 p99 (ms) that ``quantize.py`` measured for ``model``, if reported."""
    if report is None:
        return None
    for entry in json.loads(report.read_text())["conversions"]:
        if Path(entry["int8"]["model"]).name == model.name:
            return float(entry["int8"]["bench"]["latency_ms"]["p99"])
    return None


def latency_budget(args: argparse.Namespace, model: Path) -> float:
    """The budget (ms): the override, or a measured p99 times the margin."""
    if args.latency_budget_ms is not None:
        return float(args.latency_budget_ms)
    p99 = measured_p99(args.report, args.model)
    if p99 is None:
        backend = BACKEND_OF[model.suffix]
        p99 = float(bench(model, backend, args.bench_duration)["latency_ms"]["p99"])
    return round(p99 * float(args.margin), 3)


def input_spec(model: Path, prep: Preprocessing) -> dict[str, Any]:
    """The manifest's ``input``: layout, [width, height], dtype and preprocessing."""
    spec = model_input(model)
    height, width, _, nchw = image_layout(spec)
    entry: dict[str, Any] = {
        "layout": "NCHW" if nchw else "NHWC",
        "size": [width, height],
        "colour": "RGB",
        "dtype": spec.dtype.name,
        "resize": prep.interpolation,
    }
    if prep.mean is not None:
        entry["mean"] = prep.mean
    if prep.std is not None:
        entry["std"] = prep.std
    return entry


def drift_reference(
    model: Path,
    prep: Preprocessing,
    task: Literal["classification", "detection", "pose", "raw"],
    video: Path,
    count: int,
) -> dict[str, list[float]]:
    """Top scores and brightness of up to ``count`` frames spread over ``video``, as
    the daemon's drift rules compute them."""
    capture = cv2.VideoCapture(str(video))
    total = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    if not capture.isOpened() or total <= 0:
        raise SystemExit(f"{video}: OpenCV cannot read frames from it")
    wanted = set(np.linspace(0, total - 1, min(count, total)).astype(int).tolist())
    loaded = load_model(model, prep, None)  # read as classification
    if task != loaded.spec.task:
        spec = replace(loaded.spec, task=task)
        loaded.close()
        loaded = Model.load(spec)
    scores: list[float] = []
    brightness: list[float] = []
    try:
        for index in range(total):
            ok, frame = capture.read()
            if not ok:
                break
            if index in wanted:
                scores.append(round(top_score(loaded.predict(frame)), 5))
                brightness.append(round(frame_brightness(frame), 3))
    finally:
        capture.release()
        loaded.close()
    if len(scores) < 20:
        raise SystemExit(f"{video}: {len(scores)} frames read; drift needs 20 or more")
    return {"score": scores, "input": brightness}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", type=Path, required=True, help=".onnx, .xml or .tflite")
    p.add_argument("--labels", type=Path, help="class names, one per line")
    p.add_argument("--golden", type=Path, nargs="+", required=True, help="images")
    p.add_argument("--key", type=Path, required=True, help="Ed25519 key (PEM)")
    p.add_argument("--out", type=Path, required=True, help="bundle folder to create")
    p.add_argument("--name", required=True)
    p.add_argument("--version", required=True)
    p.add_argument("--task", default="classification")
    p.add_argument("--description", default="")
    p.add_argument("--mean", help="input normalisation (one or per channel)")
    p.add_argument("--std", help="input normalisation (one or per channel)")
    p.add_argument(
        "--interpolation", default="linear", choices=("linear", "area", "nearest")
    )
    p.add_argument("--edgetpu", type=Path, help="Edge TPU twin (_edgetpu.tflite)")
    p.add_argument("--golden-tolerance", type=float, default=0.1)
    p.add_argument("--latency-budget-ms", type=float, help="override the budget")
    p.add_argument("--report", type=Path, help="quantize.py report with the p99")
    p.add_argument("--margin", type=float, default=DEFAULT_MARGIN, help="p99 factor")
    p.add_argument("--bench-duration", type=float, default=3.0)
    p.add_argument("--tar", type=Path, help="also pack the signed bundle here")
    p.add_argument("--drift-video", type=Path, help="frames for the drift reference")
    p.add_argument("--drift-frames", type=int, default=500, help="at most this many")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    out: Path = args.out
    if out.exists():
        raise SystemExit(f"{out} exists: bundles are built into a new folder")
    (out / "golden").mkdir(parents=True)
    prep = Preprocessing(
        parse_floats(args.mean), parse_floats(args.std), args.interpolation
    )
    model = copy_model(args.model, out)
    manifest: dict[str, Any] = {
        "name": args.name,
        "version": args.version,
        "task": args.task,
        "description": args.description,
        "model": model.name,
        "input": input_spec(model, prep),
        "output": {"decoding": args.task},
    }
    if args.labels:
        shutil.copyfile(args.labels, out / "labels.txt")
        manifest["labels"] = "labels.txt"
    if args.edgetpu:
        shutil.copyfile(args.edgetpu, out / args.edgetpu.name)
        manifest["variants"] = [{"accelerator": "edgetpu", "model": args.edgetpu.name}]

    names = [image.name for image in args.golden]
    if len(set(names)) != len(names):
        raise SystemExit("golden images need distinct file names")
    frames = [read_image(image) for image in args.golden]  # as the device reads them
    for image in args.golden:
        shutil.copyfile(image, out / "golden" / image.name)
    scores = run_model(model, frames, prep, None)
    manifest["golden"] = [
        {
            "input": f"golden/{name}",
            "expected_scores": [round(float(v), 5) for v in row],
        }
        for name, row in zip(names, scores, strict=True)
    ]
    manifest["golden_tolerance"] = args.golden_tolerance
    manifest["latency_budget_ms"] = latency_budget(args, model)
    if args.drift_video:
        manifest["drift_reference"] = drift_reference(
            model, prep, args.task, args.drift_video, args.drift_frames
        )
    manifest["build"] = {"tool": "tools/make_bundle.py", "source": args.model.name}
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    signed = sign_bundle(out, args.key)
    if args.tar:
        pack_bundle(out, args.tar)
    print(
        f"signed {signed.name} {signed.version}: {len(signed.files)} files, "
        f"{len(names)} golden inputs, budget {manifest['latency_budget_ms']} ms"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
