"""Build the bundled demo: a conveyor quality-control classifier and its footage.

Everything is generated here from a seed, nothing is downloaded:

1. labelled 320x240 frames of a conveyor belt (``demo_data``): an empty belt, a good
   part, or a part with a defect (crack, burn, missing hole);
2. a tiny CNN trained on them in NumPy (``tiny_cnn``), then quantized to a
   full-integer int8 .tflite (``tflite_int8``) with a calibration set;
3. the int8 model checked on a held-out set through edgeinfer on LiteRT and on
   OpenVINO, against the float model (the build fails if accuracy drops too far);
4. sample images and a short conveyor video with its ground truth, for the demo and
   the tests.

Usage: ``python tools/make_demo.py [--out models/demo] [--seed 1]``. The same seed and
library versions give the same files; the manifest records what was measured.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import make_float_model
import numpy as np
import tflite_int8
import tiny_cnn
from demo_data import LABELS, MODEL_SIZE, make_dataset, render_shot
from demo_parts import DEFECT_KINDS, Sprite, render_part
from demo_scenes import (
    FRAME_H,
    FRAME_W,
    apply_camera,
    belt_background,
    make_belt,
    paste_sprite,
    sample_camera,
    visible_fraction,
)
from numpy.typing import NDArray

REPO = Path(__file__).resolve().parents[1]
MODEL_FILE = "conveyor_int8.tflite"
FLOAT_FILE = "conveyor_float.onnx"  # the same network before quantization
VIDEO_FILE = "conveyor.mp4"
CHANNELS = (16, 32, 64)
MAX_ACCURACY_DROP = 0.03  # int8 against float, on the held-out set
# Golden scores are taken on LiteRT; other runtimes round int8 arithmetic differently.
GOLDEN_TOLERANCE = 0.15
FPS = 15
BELT_SPEED = 10  # pixels per frame
PART_PITCH = 400  # pixels between the centres of successive parts
LATENCY_BUDGET_MS = 25.0  # per frame on a Raspberry Pi 4 class CPU
VIDEO_PARTS = ("ok", "crack", "ok", "ok", "burn", "ok", "missing_hole", "ok")


@dataclass(frozen=True)
class Sizes:
    """How much data to generate and how long to train."""

    train: int = 4000
    holdout: int = 900
    calibration: int = 300
    epochs: int = 20


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def load_int8(model_path: Path, labels_path: Path, backend: str) -> Any:
    """The int8 model through edgeinfer, as the daemon runs it, on ``backend``."""
    from edgeinfer.backends.base import BackendOptions
    from edgeinfer.model import Model, ModelSpec
    from edgeinfer.placement import candidates_from_flags

    candidates = candidates_from_flags(model_path, backend, None, BackendOptions())
    return Model.load(
        ModelSpec(
            path=model_path,
            candidates=tuple(candidates),
            labels=labels_path,
            task="classification",
            top_k=len(LABELS),
            interpolation="area",
            name="demo",
        )
    )


def scores_of(model: Any, bgr: NDArray[np.uint8]) -> NDArray[np.float32]:
    """Class scores (in label order) of one BGR frame."""
    result = model.predict(bgr)
    scores = np.zeros(len(LABELS), np.float32)
    for c in result.top:
        scores[c.index] = c.score
    return scores


def evaluate_int8(
    model_path: Path, labels_path: Path, images: NDArray[np.uint8], backend: str
) -> NDArray[np.float32]:
    """Scores (N, classes) of the int8 model on RGB ``images`` on ``backend``."""
    model = load_int8(model_path, labels_path, backend)
    try:
        return np.stack(
            [scores_of(model, np.ascontiguousarray(im[..., ::-1])) for im in images]
        )
    finally:
        model.close()


def write_samples(rng: np.random.Generator, out: Path) -> list[str]:
    """One frame of each kind, as PNG: what ``edgeinfer infer`` runs on."""
    belt = make_belt(rng)
    names = []
    wanted = [(0, None), (1, None), (1, None), *[(2, d) for d in DEFECT_KINDS]]
    for label, defect in wanted:
        while True:
            shot = render_shot(rng, belt, label)
            if shot.defect == defect:
                break
        name = f"{LABELS[label]}_{defect or shot.kind or 'belt'}.png"
        if name in names:
            name = name.replace(".png", "_2.png")
        cv2.imwrite(str(out / name), cv2.cvtColor(shot.frame, cv2.COLOR_RGB2BGR))
        names.append(name)
    return names


def write_video(rng: np.random.Generator, out: Path) -> dict[str, Any]:
    """Parts passing under the camera, left to right, one at a time.

    Returns the ground truth: per part its kind, defect and the frames in which it is
    wholly in view (where a defect can be seen).
    """
    belt = make_belt(rng)
    camera = sample_camera(rng, moving=True)
    camera = type(camera)(camera.light, camera.blur_sigma, 3, 2.0, 0)
    parts: list[tuple[Sprite, int, int]] = []  # sprite, x of the centre at frame 0, y0
    for i, what in enumerate(VIDEO_PARTS):
        sprite = render_part(rng, None if what == "ok" else what)
        h, w = sprite.alpha.shape
        y0 = (belt.top + belt.bottom - h) // 2 + int(rng.integers(-12, 13))
        parts.append((sprite, -PART_PITCH // 2 - i * PART_PITCH, y0))
    frames = (len(parts) * PART_PITCH + FRAME_W) // BELT_SPEED
    writer = cv2.VideoWriter(
        str(out / VIDEO_FILE), cv2.VideoWriter_fourcc(*"mp4v"), FPS, (FRAME_W, FRAME_H)
    )
    in_view: list[list[int]] = [[] for _ in parts]
    try:
        for f in range(frames):
            scene = belt_background(belt, f * BELT_SPEED)
            for i, (sprite, centre, y0) in enumerate(parts):
                h, w = sprite.alpha.shape
                x0 = centre + f * BELT_SPEED - w // 2
                if -w < x0 < FRAME_W:
                    paste_sprite(scene, sprite, x0, y0)
                if visible_fraction(sprite, x0, y0) > 0.999:
                    in_view[i].append(f)
            frame = apply_camera(rng, scene, camera)
            writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    finally:
        writer.release()
    return {
        "video": VIDEO_FILE,
        "fps": FPS,
        "frames": frames,
        "parts": [
            {
                "index": i,
                "kind": sprite.kind,
                "defect": sprite.defect,
                "label": "defect" if sprite.defect else "ok",
                "first_frame": frames_seen[0],
                "last_frame": frames_seen[-1],
            }
            for i, ((sprite, _, _), frames_seen) in enumerate(
                zip(parts, in_view, strict=True)
            )
        ],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=REPO / "models" / "demo")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--quick", action="store_true", help="small data and few epochs (for tests)"
    )
    parser.add_argument(
        "--max-drop",
        type=float,
        default=MAX_ACCURACY_DROP,
        help="fail when int8 accuracy is this much below float (default %(default)s)",
    )
    args = parser.parse_args(argv)
    sizes = Sizes(400, 150, 100, 3) if args.quick else Sizes()
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    (out / "samples").mkdir(exist_ok=True)
    started = time.monotonic()

    def log(message: str) -> None:
        print(f"[{time.monotonic() - started:6.1f}s] {message}", flush=True)

    log(f"rendering {sizes.train} training and {sizes.holdout} held-out frames")
    x_train, y_train = make_dataset(np.random.default_rng(args.seed), sizes.train)
    x_test, y_test = make_dataset(
        np.random.default_rng(args.seed + 1000), sizes.holdout
    )

    log(f"training a {CHANNELS} CNN for {sizes.epochs} epochs")
    folded = tiny_cnn.train(
        np.random.default_rng(args.seed),
        x_train,
        y_train,
        channels=CHANNELS,
        epochs=sizes.epochs,
        log=not args.quick,
    )
    float_scores = tiny_cnn.predict(folded, x_test)
    float_acc = float((float_scores.argmax(1) == y_test).mean())
    log(f"float accuracy on held-out frames: {float_acc:.3f}")

    labels_path = out / "labels.txt"
    labels_path.write_text("\n".join(LABELS) + "\n")
    model_path = out / MODEL_FILE
    model_path.write_bytes(
        tflite_int8.build_tflite(folded, x_train[: sizes.calibration], MODEL_SIZE)
    )

    (out / FLOAT_FILE).write_bytes(make_float_model.to_onnx(folded))

    metrics: dict[str, Any] = {"float_accuracy": round(float_acc, 4)}
    for backend in ("litert", "openvino"):
        scores = evaluate_int8(model_path, labels_path, x_test, backend)
        acc = float((scores.argmax(1) == y_test).mean())
        agree = float((scores.argmax(1) == float_scores.argmax(1)).mean())
        per_class = {
            LABELS[c]: round(float((scores.argmax(1)[y_test == c] == c).mean()), 4)
            for c in range(len(LABELS))
        }
        metrics[backend] = {
            "int8_accuracy": round(acc, 4),
            "agreement_with_float": round(agree, 4),
            "recall": per_class,
        }
        log(f"int8 on {backend}: accuracy {acc:.3f}, agreement with float {agree:.3f}")
        if float_acc - acc > args.max_drop:
            log(
                f"int8 accuracy on {backend} dropped {float_acc - acc:.3f} "
                f"(> {args.max_drop}); not writing a manifest"
            )
            return 1

    log("writing samples and the conveyor video")
    samples = write_samples(np.random.default_rng(args.seed + 2000), out / "samples")
    truth = write_video(np.random.default_rng(args.seed + 3000), out)
    (out / "truth.json").write_text(json.dumps(truth, indent=2) + "\n")

    model = load_int8(model_path, labels_path, "litert")
    try:
        golden = [
            {
                "input": f"samples/{name}",
                "expected_scores": [
                    round(float(v), 4)
                    for v in scores_of(model, cv2.imread(str(out / "samples" / name)))
                ],
            }
            for name in samples
        ]
    finally:
        model.close()
    files = [MODEL_FILE, FLOAT_FILE, "labels.txt", VIDEO_FILE, "truth.json"] + [
        f"samples/{name}" for name in samples
    ]
    manifest = {
        "name": "conveyor-qc",
        "version": "1.0.0",
        "task": "classification",
        "description": "Conveyor quality control: empty belt, good part, or defect.",
        "model": MODEL_FILE,
        "labels": "labels.txt",
        "input": {
            "layout": "NHWC",
            "size": [MODEL_SIZE, MODEL_SIZE],
            "colour": "RGB",
            "dtype": "int8",
            "normalisation": "pixel - 128 (scale 1/255, zero point -128)",
            "resize": "area",
        },
        "output": {"decoding": "classification", "scores": "softmax"},
        "golden": golden,
        "golden_tolerance": GOLDEN_TOLERANCE,
        "latency_budget_ms": LATENCY_BUDGET_MS,
        "build": {
            "tool": "tools/make_demo.py",
            "seed": args.seed,
            "quick": bool(args.quick),
            "train_frames": sizes.train,
            "holdout_frames": sizes.holdout,
            "calibration_frames": sizes.calibration,
            "epochs": sizes.epochs,
            "channels": list(CHANNELS),
        },
        "metrics": metrics,
        "files": [
            {"path": f, "sha256": sha256(out / f), "size": (out / f).stat().st_size}
            for f in files
        ],
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    log(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
