"""``tools/make_demo.py`` end to end on a small data set: it renders, trains, quantizes,
checks the int8 model on LiteRT and OpenVINO, and writes a complete, loadable demo."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from edgeinfer.backends.tflite_meta import read_tflite_info
from edgeinfer.sources.camera import iter_video

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def test_quick_build_writes_a_verified_int8_demo(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    proc = subprocess.run(
        [
            sys.executable,
            "tools/make_demo.py",
            "--quick",
            "--max-drop",
            "0.1",
            "--out",
            str(out),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    for entry in manifest["files"]:
        data = (out / entry["path"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"]

    info = read_tflite_info(out / manifest["model"])
    (image,) = info.inputs
    assert image.shape == (1, 64, 64, 3)
    assert image.dtype == np.int8
    assert (image.quant.scale, image.quant.zero_point) == pytest.approx((1 / 255, -128))
    assert info.outputs[0].shape == (1, 3)
    for backend in ("litert", "openvino"):
        metrics = manifest["metrics"][backend]
        # Too little data to learn much; what must hold is that int8 kept the model.
        assert metrics["agreement_with_float"] >= 0.85

    truth = json.loads((out / "truth.json").read_text())
    frames = list(iter_video(out / truth["video"], "belt"))
    assert len(frames) == truth["frames"]
    assert frames[0].image.shape == (240, 320, 3)
    assert sum(1 for p in truth["parts"] if p["defect"]) == 3
    for golden in manifest["golden"]:
        assert cv2.imread(str(out / golden["input"])) is not None
