"""Validation on this device, before a model is activated.

The candidate is loaded on the configured accelerators (as it will run), each golden
input goes through the whole model, and the first output, dequantized and flattened,
must be within ``golden_tolerance`` (max absolute difference) of the expected values.
Then the median time of one inference must fit ``latency_budget_ms``.
"""

from __future__ import annotations

import logging
import statistics
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from edgeinfer.backends.base import NDArray
from edgeinfer.errors import EdgeinferError, UpdateError
from edgeinfer.model import Model, ModelSpec
from edgeinfer.preprocess.quantize import dequantize
from edgeinfer.updates.bundle import Bundle
from edgeinfer.updates.compat import check_input

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ValidationReport:
    """What validation measured: worst golden difference and median latency (ms)."""

    placement: str
    golden: int
    max_diff: float
    latency_ms: float

    def to_json(self) -> dict[str, Any]:
        """The report as JSON for model/state and the CLI."""
        return {
            "placement": self.placement,
            "golden": self.golden,
            "max_diff": round(self.max_diff, 5),
            "latency_ms": round(self.latency_ms, 3),
        }


def read_input(bundle: Bundle, name: str) -> NDArray:
    """A golden input: an image (BGR, as a camera gives) or a ``.npy`` tensor."""
    path = bundle.path(name)
    if path.suffix == ".npy":
        return np.asarray(np.load(path, allow_pickle=False))
    import cv2  # noqa: PLC0415 -- images only

    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise UpdateError(
            f"golden input {name} of bundle {bundle.manifest.name} is not an image",
            reason="golden_mismatch",
        )
    return np.asarray(image)


def first_output(model: Model, data: NDArray) -> tuple[NDArray, float]:
    """The dequantized first output for one input, and the inference time (ms)."""
    if data.dtype == np.uint8 and data.ndim == 3:
        tensor, _ = model.preprocessor(data)
    else:
        tensor = data
    t0 = time.perf_counter()
    outputs = model.backend.infer([tensor])
    elapsed = (time.perf_counter() - t0) * 1e3
    real = dequantize(outputs[0], model.backend.outputs[0])
    return np.asarray(real, np.float64).ravel(), elapsed


def load_candidate(spec: ModelSpec, bundle: Bundle) -> Model:
    """Load the bundle's model as the daemon would run it."""
    try:
        model = Model.load(spec)
    except EdgeinferError as err:
        raise UpdateError(
            f"bundle {bundle.manifest.name} {bundle.version} does not load on this "
            f"device: {err}",
            reason="load_failed",
        ) from None
    try:
        check_input(model, bundle)
    except Exception:
        model.close()
        raise
    return model


def validate_model(model: Model, bundle: Bundle, runs: int = 10) -> ValidationReport:
    """Check ``model`` (loaded from ``bundle``) against the golden outputs and the
    latency budget; raises ``UpdateError`` (golden_mismatch, over_budget)."""
    m = bundle.manifest
    times: list[float] = []
    worst = 0.0
    inputs = [(g, read_input(bundle, g.input)) for g in m.golden]
    for golden, data in inputs:
        got, _ = first_output(model, data)  # the first run also warms the model up
        want = np.asarray(golden.expected_scores, np.float64)
        if got.shape != want.shape:
            raise UpdateError(
                f"golden {golden.input}: the model gives {got.size} values, the "
                f"manifest expects {want.size}",
                reason="golden_mismatch",
            )
        diff = float(np.max(np.abs(got - want))) if want.size else 0.0
        worst = max(worst, diff)
        if diff > m.golden_tolerance:
            raise UpdateError(
                f"golden {golden.input}: output differs by {diff:.4f}, over the "
                f"tolerance {m.golden_tolerance} — the model does not behave as built",
                reason="golden_mismatch",
            )
    if m.latency_budget_ms is not None:
        sample = inputs[0][1] if inputs else None
        for _ in range(max(1, runs)):
            if sample is None:
                break
            times.append(first_output(model, sample)[1])
    latency = statistics.median(times) if times else 0.0
    if m.latency_budget_ms is not None and latency > m.latency_budget_ms:
        raise UpdateError(
            f"bundle {m.name} {m.version} takes {latency:.2f} ms per inference on "
            f"{model.backend.placement}, over its budget of {m.latency_budget_ms} ms",
            reason="over_budget",
        )
    report = ValidationReport(str(model.backend.placement), len(inputs), worst, latency)
    log.info("bundle %s %s validated: %s", m.name, m.version, report.to_json())
    return report
