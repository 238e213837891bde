"""Runs on a real Coral Edge TPU or Intel NPU; skipped on machines without one."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgeinfer.backends import edgetpu, intel
from edgeinfer.backends.base import Placement
from edgeinfer.backends.select import Candidate
from edgeinfer.model import Model, ModelSpec
from edgeinfer.postprocess.results import Classification
from edgeinfer.preprocess.image import read_image

pytestmark = pytest.mark.hardware

has_edgetpu = (
    bool(edgetpu.usb_devices() or edgetpu.pci_devices()) and edgetpu.library_present()
)
has_npu = bool(intel.nodes("NPU"))


@pytest.mark.skipif(
    not has_edgetpu, reason="no Coral Edge TPU with libedgetpu on this machine"
)
def test_edgetpu_runs_the_compiled_classifier(models: Path, images: Path) -> None:
    model = Model.load(
        ModelSpec(
            path=models / "mobilenet_v1_0.25_128_quant_edgetpu.tflite",
            candidates=(Candidate(Placement("litert", "edgetpu")),),
            labels=models / "imagenet_labels.txt",
        )
    )
    try:
        result = model.predict(read_image(images / "parrot.jpg"))
        assert isinstance(result, Classification)
        assert result.top[0].label == "macaw"
        assert not model.selection.skipped
    finally:
        model.close()


@pytest.mark.skipif(not has_npu, reason="no Intel NPU (/dev/accel) on this machine")
def test_npu_runs_the_classifier(models: Path, images: Path) -> None:
    model = Model.load(
        ModelSpec(
            path=models / "mobilenet_v2_1.0_224_quant.tflite",
            candidates=(Candidate(Placement("openvino", "NPU")),),
            labels=models / "imagenet_labels.txt",
        )
    )
    try:
        result = model.predict(read_image(images / "cat.bmp"))
        assert isinstance(result, Classification)
        assert result.top[0].label == "Egyptian cat"
    finally:
        model.close()
