"""Building each stream's rules from the config, checked against the loaded models."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from edgeinfer.config.rules import (
    DetectorRuleConfig,
    LabelRuleConfig,
    RuleConfig,
    ThresholdRuleConfig,
)
from edgeinfer.detectors.build import build_detector
from edgeinfer.errors import ConfigError
from edgeinfer.pipeline.events import Inference
from edgeinfer.rules.alert import Alert
from edgeinfer.rules.detector import DetectorRule
from edgeinfer.rules.sensor import ThresholdRule
from edgeinfer.rules.vision import LabelRule
from edgeinfer.sources.base import Reading


class SensorRule(Protocol):
    """A rule fed every reading of a sensor stream."""

    name: str

    def on_reading(self, reading: Reading) -> Alert | None: ...


@dataclass
class StreamRules:
    """The rule instances of one stream (each keeps its own state)."""

    vision: list[LabelRule] = field(default_factory=list)
    sensor: list[SensorRule] = field(default_factory=list)

    def on_inference(self, inference: Inference) -> list[Alert]:
        """Alerts the vision rules raise on one result."""
        return [a for r in self.vision if (a := r.on_inference(inference)) is not None]

    def on_reading(self, reading: Reading) -> list[Alert]:
        """Alerts the sensor rules raise on one reading."""
        return [a for r in self.sensor if (a := r.on_reading(reading)) is not None]


def _applies(rule: RuleConfig, stream: str) -> bool:
    return not rule.streams or stream in rule.streams


def build_rules(
    rules: list[RuleConfig],
    camera_labels: dict[str, set[str] | None],
    sensor_streams: list[str],
) -> dict[str, StreamRules]:
    """Fresh rule instances per stream.

    ``camera_labels`` maps each camera stream to its model's labels (None when the
    model has no labels file); a label rule naming a label the model does not have is
    a ``ConfigError``, as is a rule naming a stream that does not exist.
    """
    out = {name: StreamRules() for name in [*camera_labels, *sensor_streams]}
    for i, rule in enumerate(rules):
        unknown = [s for s in rule.streams if s not in out]
        if unknown:
            raise ConfigError(
                f"rules.{i} ({rule.name}): unknown stream {unknown[0]!r} — "
                f"use one of: {', '.join(out) or 'no streams configured'}"
            )
        if isinstance(rule, LabelRuleConfig):
            for stream, labels in camera_labels.items():
                if not _applies(rule, stream):
                    continue
                if labels is not None and rule.label not in labels:
                    some = ", ".join(sorted(labels)[:8])
                    raise ConfigError(
                        f"rules.{i} ({rule.name}): label {rule.label!r} is not a "
                        f"label of stream {stream}'s model — use one of its labels "
                        f"({some}, ...)"
                    )
                out[stream].vision.append(
                    LabelRule(
                        rule.name,
                        rule.label,
                        min_score=rule.min_score,
                        frames=rule.frames,
                        severity=rule.severity,
                        cooldown_s=rule.cooldown_s,
                    )
                )
        elif isinstance(rule, ThresholdRuleConfig):
            for stream in sensor_streams:
                if _applies(rule, stream):
                    out[stream].sensor.append(
                        ThresholdRule(
                            rule.name,
                            rule.channel,
                            above=rule.above,
                            below=rule.below,
                            samples=rule.samples,
                            severity=rule.severity,
                            cooldown_s=rule.cooldown_s,
                        )
                    )
        elif isinstance(rule, DetectorRuleConfig):
            for stream in sensor_streams:
                if _applies(rule, stream):
                    out[stream].sensor.append(
                        DetectorRule(rule.name, rule.channel, build_detector(rule))
                    )
    return out
