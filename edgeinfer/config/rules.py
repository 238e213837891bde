"""The ``rules`` section: conditions on results and readings that raise alerts."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from edgeinfer.config._base import ConfigModel, invalid
from edgeinfer.config.detectors import AlarmConfig, DetectorConfig

Severity = Literal["info", "warning", "critical"]


class _RuleBase(ConfigModel):
    name: str = Field(description="Rule name, reported in every alert it raises.")
    streams: list[str] = Field(
        default_factory=list,
        description="Streams the rule watches; empty: every stream of its type.",
    )
    severity: Severity = Field(default="warning", description="Severity of its alerts.")
    cooldown_s: float = Field(
        default=0.0, ge=0, description="Least time between two alerts, in seconds."
    )


def _check_zone(zone: list[tuple[float, float]] | None) -> None:
    if zone is None:
        return
    if len(zone) < 3:
        raise invalid("a zone needs at least 3 points", "list [x, y] corners in order")
    if any(not (0 <= v <= 1) for point in zone for v in point):
        raise invalid(
            "zone points must lie in 0..1",
            "give corners as fractions of the frame's width and height",
        )


class _LabelMatch(_RuleBase):
    label: str = Field(description="The label, as in the model's labels file.")
    min_score: float = Field(default=0.5, ge=0, le=1, description="Least score.")
    zone: list[tuple[float, float]] | None = Field(
        default=None,
        description="Polygon [[x, y], ...] in 0..1 frame coordinates; only "
        "detections whose box centre lies inside count. Unset: the whole frame.",
    )

    @model_validator(mode="after")
    def _valid_zone(self) -> _LabelMatch:
        _check_zone(self.zone)
        return self


class LabelRuleConfig(_LabelMatch):
    """A label seen with a score at or above ``min_score`` for ``frames`` frames."""

    kind: Literal["label"] = Field(description="Vision rule on a model's label.")
    frames: int = Field(
        default=1, ge=1, description="Consecutive frames the label must be seen."
    )


class CountRuleConfig(_LabelMatch):
    """How many of a label are in view: more than ``above`` or fewer than ``below``."""

    kind: Literal["count"] = Field(description="Vision rule on a label's count.")
    above: int | None = Field(default=None, ge=0, description="Alert when count > it.")
    below: int | None = Field(default=None, ge=1, description="Alert when count < it.")
    frames: int = Field(
        default=1, ge=1, description="Consecutive frames the count must be out."
    )

    @model_validator(mode="after")
    def _needs_a_bound(self) -> CountRuleConfig:
        if self.above is None and self.below is None:
            raise invalid("no bound given", "set above, below, or both")
        return self


class AbsentRuleConfig(_LabelMatch):
    """An expected label not seen for ``seconds``."""

    kind: Literal["absent"] = Field(description="Vision rule on a missing label.")
    seconds: float = Field(gt=0, description="Seconds without the label to alert.")


class ScoreRuleConfig(_RuleBase):
    """A model's anomaly score at or above ``min_score`` for ``frames`` frames."""

    kind: Literal["score"] = Field(description="Vision rule on an anomaly score.")
    min_score: float = Field(description="Alert when the score reaches this.")
    output: int = Field(
        default=0,
        ge=0,
        description="Output tensor holding the score (models without a decoder).",
    )
    label: str | None = Field(
        default=None, description="For a classifier: the label whose score counts."
    )
    frames: int = Field(
        default=1, ge=1, description="Consecutive frames the score must be high."
    )


class ThresholdRuleConfig(_RuleBase):
    """A sensor channel above or below a bound for ``samples`` consecutive samples."""

    kind: Literal["threshold"] = Field(description="Sensor rule on one channel.")
    channel: str = Field(description="Channel name, as configured on the stream.")
    above: float | None = Field(default=None, description="Alert when value > above.")
    below: float | None = Field(default=None, description="Alert when value < below.")
    samples: int = Field(
        default=1, ge=1, description="Consecutive samples beyond the bound."
    )

    @model_validator(mode="after")
    def _needs_a_bound(self) -> ThresholdRuleConfig:
        if self.above is None and self.below is None:
            raise invalid("no bound given", "set above, below, or both")
        return self


class DetectorRuleConfig(_RuleBase):
    """A streaming anomaly detector on one sensor channel (see ``detectors``)."""

    kind: Literal["detector"] = Field(
        default="detector", description="Anomaly detector on one channel."
    )
    channel: str = Field(description="Channel name, as configured on the stream.")
    scorer: DetectorConfig = Field(
        description="The statistic: robust_z, ewma, rate, seasonal, range or combine."
    )
    alarm: AlarmConfig = Field(
        description="Thresholds on the score, warm-up, hysteresis and N-of-M."
    )
    gap_factor: float = Field(
        default=10.0,
        gt=1,
        description="An interval over this many typical intervals is a gap.",
    )


class DriftRuleConfig(_RuleBase):
    """Population stability index of a statistic against its reference."""

    kind: Literal["drift"] = Field(description="Drift of inputs or outputs.")
    statistic: str = Field(
        default="score",
        description="Cameras: input (frame brightness) or score (the model's top "
        "score); sensors: a channel name.",
    )
    threshold: float = Field(
        default=0.25, gt=0, description="PSI that raises (0.1 moderate, 0.25 major)."
    )
    window: int = Field(default=500, ge=20, description="Recent values compared.")
    reference_size: int = Field(
        default=2000,
        ge=20,
        description="Values from the start of operation that form the reference.",
    )
    reference: list[float] | None = Field(
        default=None,
        description="A reference sample (e.g. from the model bundle) instead of the "
        "first values seen.",
    )
    bins: int = Field(default=10, ge=2, le=100, description="Quantile bins.")


VisionRuleConfig = (
    LabelRuleConfig | CountRuleConfig | AbsentRuleConfig | ScoreRuleConfig
)

RuleConfig = Annotated[
    LabelRuleConfig
    | CountRuleConfig
    | AbsentRuleConfig
    | ScoreRuleConfig
    | ThresholdRuleConfig
    | DetectorRuleConfig
    | DriftRuleConfig,
    Field(discriminator="kind"),
]
