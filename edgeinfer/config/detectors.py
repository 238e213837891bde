"""Detector settings of a ``kind: detector`` rule: which statistic, and its alarm.

    scorer:
      kind: combine
      mode: any
      members:
        - {kind: range, window: 10000, margin: 0.02, weight: 1.5}
        - {kind: robust_z, window: 1000, recent: 24}
        - {kind: seasonal, period_s: 86400, bins: 48}
    alarm: {enter: 1.5, exit: 0.5, critical: 3}

Each statistic except ``range`` is calibrated unless ``calibration: null``: its
score is then ``log10`` of the return period in days of a statistic that large (1:
once in ten days), judged against its own recent values. Uncalibrated, thresholds
are in the statistic's raw units (z-scores; for ``range``, margins).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from edgeinfer.config._base import ConfigModel, ConfigPath, invalid


class CalibrationConfig(ConfigModel):
    """Turn the raw statistic into surprise: -log10 of how rare it is here."""

    history: int = Field(
        default=2000,
        ge=100,
        description="Past statistics (samples) the rarity is judged against.",
    )
    min_history: int = Field(
        default=100,
        ge=20,
        description="Statistics collected before the first score (samples).",
    )
    tail: float = Field(
        default=0.02,
        gt=0,
        lt=0.5,
        description="Top fraction of the history fitted with a Pareto tail; rarer "
        "statistics are extrapolated from it.",
    )

    @model_validator(mode="after")
    def _history_holds_the_minimum(self) -> CalibrationConfig:
        if self.min_history > self.history:
            raise invalid(
                f"min_history ({self.min_history}) is larger than history "
                f"({self.history})",
                "lower min_history or raise history",
            )
        return self


class DeseasonConfig(ConfigModel):
    """Score the sample minus what is usual at its time of the cycle."""

    period_s: float = Field(
        default=86_400.0,
        gt=0,
        description="Cycle length in seconds: 86400 daily, 604800 weekly.",
    )
    bins: int = Field(default=48, ge=1, description="Slots per cycle.")
    alpha: float = Field(
        default=0.1,
        gt=0,
        lt=1,
        description="Weight of the latest cycle in each slot's mean.",
    )


class _ScorerBase(ConfigModel):
    name: str | None = Field(
        default=None, description="Name reported in alerts; default: the kind."
    )
    calibration: CalibrationConfig | None = Field(
        default_factory=CalibrationConfig,
        description="Score as log10 return period in days; null: raw statistic.",
    )
    weight: float = Field(
        default=1.0,
        gt=0,
        description="In a combine: multiplies the score (puts a raw member on the "
        "members' common scale).",
    )


class _Deseasonable(_ScorerBase):
    deseason: DeseasonConfig | None = Field(
        default=None,
        description="Remove the daily (or weekly) pattern first; {} for defaults.",
    )


class RobustZConfig(_Deseasonable):
    """Distance from a sliding median in MAD units (spikes, level shifts)."""

    kind: Literal["robust_z"] = Field(default="robust_z", description="Robust z-score.")
    window: int = Field(
        default=288, ge=10, description="Samples in the sliding window."
    )
    recent: int = Field(
        default=1,
        ge=1,
        description="Compare the median of this many latest samples (1: the "
        "sample itself; more: sustained shifts, not single spikes).",
    )

    @model_validator(mode="after")
    def _recent_fits(self) -> RobustZConfig:
        if self.recent >= self.window:
            raise invalid(
                f"recent ({self.recent}) must be smaller than window ({self.window})",
                "lower recent or raise window",
            )
        return self


class EwmaConfig(_Deseasonable):
    """EWMA control chart against a slowly learned mean and spread (drift)."""

    kind: Literal["ewma"] = Field(default="ewma", description="EWMA control chart.")
    alpha: float = Field(
        default=0.01,
        gt=0,
        lt=1,
        description="Weight of each sample in the learned mean and variance.",
    )
    lam: float = Field(
        default=1.0,
        gt=0,
        le=1,
        description="Smoothing of the charted value: 1 charts each sample, 0.1 "
        "averages about 20 (small sustained shifts).",
    )


class FlatConfig(_ScorerBase):
    """Runs of repeated values: a sensor that stopped moving."""

    kind: Literal["flat"] = Field(default="flat", description="Flatline.")
    tolerance: float = Field(
        default=1e-9,
        ge=0,
        description="Relative change below which a sample repeats the last one.",
    )


class RateConfig(_Deseasonable):
    """Robust z-score of the rate of change per second (sudden jumps)."""

    kind: Literal["rate"] = Field(default="rate", description="Rate of change.")
    window: int = Field(default=288, ge=10, description="Past rates compared with.")


class SeasonalConfig(_ScorerBase):
    """Distance from what is usual at this time of the cycle (off-cycle values)."""

    kind: Literal["seasonal"] = Field(
        default="seasonal", description="Seasonal baseline."
    )
    period_s: float = Field(
        default=86_400.0,
        gt=0,
        description="Cycle length in seconds: 86400 daily, 604800 weekly.",
    )
    bins: int = Field(default=48, ge=1, description="Slots per cycle.")
    alpha: float = Field(
        default=0.1,
        gt=0,
        lt=1,
        description="Weight of the latest cycle in each slot's mean and spread.",
    )
    min_cycles: int = Field(
        default=2, ge=1, description="Cycles a slot is seen in before it scores."
    )


class RangeConfig(_ScorerBase):
    """A value beyond the min/max of the last samples (new highs and lows)."""

    kind: Literal["range"] = Field(default="range", description="New extremes.")
    window: int = Field(
        default=10_000, ge=50, description="Samples whose range is the reference."
    )
    margin: float = Field(
        default=0.02,
        gt=0,
        description="Score unit: this fraction of the window's span beyond it.",
    )
    calibration: CalibrationConfig | None = Field(
        default=None,
        description="Usually none: a new extreme is rare by construction.",
    )


class ModelScorerConfig(_ScorerBase):
    """A learned forecaster (int8, run on the backends): its forecast error."""

    kind: Literal["model"] = Field(default="model", description="Learned forecaster.")
    path: ConfigPath = Field(
        description="The forecaster's JSON description, from "
        "tools/make_sensor_model.py (the .tflite sits beside it).",
    )
    backend: str | None = Field(
        default=None, description="Backend to run it on; default: the best present."
    )


MemberConfig = Annotated[
    RobustZConfig
    | EwmaConfig
    | RateConfig
    | SeasonalConfig
    | RangeConfig
    | FlatConfig
    | ModelScorerConfig,
    Field(discriminator="kind"),
]
"""One statistic."""


class CombineConfig(ConfigModel):
    """Several statistics on the channel, joined into one score."""

    kind: Literal["combine"] = Field(
        default="combine", description="A combination of detectors."
    )
    mode: Literal["any", "all", "vote"] = Field(
        default="any",
        description="any: the highest member score; all: the lowest; vote: the "
        "votes-th highest.",
    )
    votes: int = Field(default=2, ge=1, description="vote: members that must agree.")
    members: list[MemberConfig] = Field(
        min_length=1, description="The statistics joined (on one scale)."
    )

    @model_validator(mode="after")
    def _enough_voters(self) -> CombineConfig:
        if self.mode == "vote" and self.votes > len(self.members):
            raise invalid(
                f"votes ({self.votes}) is more than the {len(self.members)} members",
                f"set votes to at most {len(self.members)}",
            )
        return self


DetectorConfig = Annotated[
    RobustZConfig
    | EwmaConfig
    | RateConfig
    | SeasonalConfig
    | RangeConfig
    | FlatConfig
    | ModelScorerConfig
    | CombineConfig,
    Field(discriminator="kind"),
]
"""The statistic of a detector rule, discriminated on ``kind``."""


class AlarmConfig(ConfigModel):
    """When scores become alerts: warm-up, hysteresis, N-of-M and severities."""

    enter: float = Field(description="Score at which an episode starts.")
    exit: float | None = Field(
        default=None,
        description="Score below which it ends (hysteresis); default: enter.",
    )
    n: int = Field(
        default=1,
        ge=1,
        description="Scores of the last m that must "
        "reach enter to start (and exit to go on).",
    )
    m: int = Field(default=1, ge=1, description="Scores looked at for n.")
    warmup: int = Field(
        default=0, ge=0, description="First samples that never alert (learning)."
    )
    critical: float | None = Field(
        default=None,
        description="Peak score that makes the alert critical; unset: never.",
    )

    @model_validator(mode="after")
    def _ordered(self) -> AlarmConfig:
        if self.exit is not None and self.exit > self.enter:
            raise invalid(
                f"exit ({self.exit}) is above enter ({self.enter})",
                "set exit at or below enter",
            )
        if self.n > self.m:
            raise invalid(f"n ({self.n}) is more than m ({self.m})", "set n <= m")
        if self.critical is not None and self.critical < self.enter:
            raise invalid(
                f"critical ({self.critical}) is below enter ({self.enter})",
                "set critical at or above enter",
            )
        return self
