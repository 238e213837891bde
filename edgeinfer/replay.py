"""Replay: the daemon's stages and rules over a recorded file, as fast as possible.

A CSV time series stands for a sensor stream, a video file for a camera stream. Every
sample is processed (nothing is dropped, as the file waits for the pipeline), in order,
with the file's own timestamps, through the same rule objects the daemon builds, so an
alert raised here is the alert the daemon raises on the same data.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from edgeinfer.app import Sink
from edgeinfer.config import EdgeinferConfig
from edgeinfer.config.streams import CameraStreamConfig
from edgeinfer.errors import ConfigError
from edgeinfer.loading import model_spec
from edgeinfer.model import Model
from edgeinfer.pipeline.gate import MotionGate
from edgeinfer.pipeline.stats import StreamStats
from edgeinfer.pipeline.vision import FrameRunner
from edgeinfer.rules.detector import DetectorRule
from edgeinfer.rules.engine import build_rules
from edgeinfer.sources.camera import iter_video
from edgeinfer.sources.replay import read_csv_series

VIDEO_SUFFIXES = (".avi", ".mp4", ".mkv", ".mov", ".webm", ".mjpeg", ".mjpg", ".m4v")


def _pick_stream(config: EdgeinferConfig, name: str | None, video: bool) -> Any:
    kinds = [s for s in config.streams if isinstance(s, CameraStreamConfig) == video]
    if name is not None:
        for s in config.streams:
            if s.name == name:
                return s
        raise ConfigError(
            f"no stream named {name!r} in the config — "
            f"use one of: {', '.join(s.name for s in config.streams)}"
        )
    if not kinds:
        what = "camera" if video else "sensor"
        raise ConfigError(
            f"the config has no {what} stream to replay this file as — "
            f"add one under streams:"
        )
    return kinds[0]


def replay_file(
    config: EdgeinferConfig, path: Path, stream_name: str | None, sink: Sink
) -> dict[str, Any]:
    """Replay ``path`` as stream ``stream_name`` (default: the first of its kind)."""
    video = path.suffix.lower() in VIDEO_SUFFIXES
    stream = _pick_stream(config, stream_name, video)
    stats = StreamStats()
    start = time.perf_counter()
    if video:
        model = Model.load(model_spec(config, stream.model)) if stream.model else None
        labels = {stream.name: (set(model.labels.values()) or None) if model else set()}
        rules = build_rules(list(config.rules), labels, [])[stream.name]
        gate = (
            MotionGate(stream.motion_gate.threshold)
            if stream.motion_gate.enabled
            else None
        )
        runner = FrameRunner({stream.name: stats})
        try:
            for frame in iter_video(path, stream.name):
                stats.frames_in += 1
                if model is None:
                    continue
                gated = gate.check(frame.image) if gate is not None else False
                inference = runner.run(model, frame, gated)
                sink.on_result(inference)
                for alert in rules.on_inference(inference):
                    stats.alerts += 1
                    sink.on_alert(alert)
        finally:
            if model is not None:
                model.close()
        skipped = 0
        dropped: dict[str, dict[str, int]] = {}
    else:
        rules = build_rules(list(config.rules), {}, [stream.name])[stream.name]
        reader = read_csv_series(path, stream.name)
        for reading in reader:
            stats.frames_in += 1
            for alert in rules.on_reading(reading):
                stats.alerts += 1
                sink.on_alert(alert)
        skipped = reader.stats.skipped
        # Samples each detector rule could not score, by reason (see InputCounts).
        dropped = {
            rule.name: rule.counts.to_json()
            for rule in rules.sensor
            if isinstance(rule, DetectorRule)
        }
    seconds = time.perf_counter() - start
    summary = {
        "stream": stream.name,
        "input": str(path),
        "samples": stats.frames_in,
        "alerts": stats.alerts,
        "skipped": skipped,
        "seconds": round(seconds, 3),
        "samples_per_s": round(stats.frames_in / seconds, 1) if seconds > 0 else 0.0,
    }
    if dropped:
        summary["detector_inputs"] = dropped
    return summary
