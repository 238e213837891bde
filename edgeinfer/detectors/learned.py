"""A learned detector: an int8 forecaster run on the device's backends.

``tools/make_sensor_model.py`` trains a small network on normal data to forecast the
next sample from the last ``window`` samples and writes it as a full-integer .tflite
with a JSON description (window, normalisation, the spread of the forecast error on
normal data). ``ForecastScorer`` runs it through the same backend layer as the vision
models (LiteRT, OpenVINO, ...) and scores each sample by how far it is from the
forecast, in units of that spread: a z-score of the forecast error. The sample is
scored before it joins the window, so the score never depends on a later sample.
"""

from __future__ import annotations

import json
import math
from collections import deque
from pathlib import Path

import numpy as np

from edgeinfer.backends.base import BackendOptions
from edgeinfer.detectors.base import NOT_READY
from edgeinfer.errors import ConfigError
from edgeinfer.model import Model, ModelSpec
from edgeinfer.placement import candidates_from_flags
from edgeinfer.preprocess.quantize import dequantize, quantize


class ForecastScorer:
    """|value - forecast| / residual scale, with the forecast from an int8 model."""

    def __init__(
        self, description: Path, name: str = "model", backend: str | None = None
    ) -> None:
        try:
            info = json.loads(description.read_text())
            self.window = int(info["window"])
            self.mean, self.std = float(info["mean"]), float(info["std"]) or 1.0
            self.scale = float(info["residual_scale"]) or 1e-3
            model_path = description.parent / str(info["model"])
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise ConfigError(
                f"{description}: not a forecaster description ({err}) — build one "
                "with tools/make_sensor_model.py"
            ) from err
        self.name = name
        candidates = candidates_from_flags(
            model_path, backend, None, BackendOptions(threads=1)
        )
        self.model = Model.load(
            ModelSpec(
                path=model_path,
                candidates=tuple(candidates),
                task="raw",
                name=name,
            )
        )
        self._in = self.model.backend.inputs[0]
        self._out = self.model.backend.outputs[0]
        if math.prod(self._in.shape) != self.window:
            raise ConfigError(
                f"{model_path} takes {self._in.shape}, not a window of {self.window} "
                "— rebuild it with tools/make_sensor_model.py"
            )
        self._recent: deque[float] = deque(maxlen=self.window)
        self._baseline = math.nan

    @property
    def baseline(self) -> float:
        """The forecast for the last sample, in the channel's units."""
        return self._baseline

    def update(self, timestamp: float, value: float) -> float:
        """Score ``value`` against the forecast from the samples before it."""
        z = (value - self.mean) / self.std
        score = NOT_READY
        if len(self._recent) == self.window:
            window = np.fromiter(self._recent, np.float32, self.window)
            tensor = quantize(window.reshape(self._in.shape), self._in)
            (out,) = self.model.backend.infer([tensor])
            predicted = float(dequantize(out, self._out).reshape(-1)[0])
            self._baseline = predicted * self.std + self.mean
            score = abs(z - predicted) / self.scale
        self._recent.append(z)
        return score

    def on_gap(self) -> None:
        """A gap breaks the window: forecast again once it has refilled."""
        self._recent.clear()
