"""Streaming detectors on synthetic series: what each finds, the alarm's rules, bad
input, causality, and the detector rule's config and alerts."""

from __future__ import annotations

import math
import random
import statistics
from collections.abc import Iterable, Sequence

import numpy as np
import pytest

from edgeinfer.config import parse_config
from edgeinfer.config.rules import DetectorRuleConfig
from edgeinfer.detectors import (
    NOT_READY,
    Alarm,
    AlarmPolicy,
    CombinedScorer,
    Deseasonalized,
    Detection,
    Detector,
    EwmaScorer,
    RangeScorer,
    RateScorer,
    RobustZScorer,
    Scorer,
    SeasonalProfile,
    SeasonalScorer,
    SortedWindow,
    TailCalibrator,
)
from edgeinfer.detectors.build import build_detector
from edgeinfer.errors import ConfigError
from edgeinfer.rules.detector import DetectorRule
from edgeinfer.rules.engine import build_rules
from edgeinfer.sources.base import Reading
from tests.conftest import ROOT

STEP = 300.0  # five-minute samples
DAY = 86_400.0
T0 = 1_399_939_200.0  # 2014-05-13 00:00 UTC: day 1 starts at sample 0


def times(n: int, step: float = STEP) -> list[float]:
    return [T0 + i * step for i in range(n)]


def noise(n: int, seed: int = 1, sd: float = 1.0) -> list[float]:
    rng = np.random.default_rng(seed)
    return [float(v) for v in rng.normal(0.0, sd, n)]


def scores(scorer: Scorer, values: Sequence[float], step: float = STEP) -> list[float]:
    return [
        scorer.update(t, x)
        for t, x in zip(times(len(values), step), values, strict=True)
    ]


def top(values: Iterable[float]) -> float:
    return max((v for v in values if not math.isnan(v)), default=-math.inf)


class Scripted:
    """A scorer that answers the scores it was given (for the combination rules)."""

    def __init__(self, name: str, answers: Sequence[float]) -> None:
        self.name, self.baseline = name, 0.0
        self._answers = iter(answers)

    def update(self, timestamp: float, value: float) -> float:
        return next(self._answers)

    def on_gap(self) -> None:
        pass


# -- the sorted window -------------------------------------------------------------


def test_sorted_window_median_and_mad_match_a_brute_force() -> None:
    rng = random.Random(7)  # noqa: S311 -- reproducible test data
    window = SortedWindow(25)
    recent: list[float] = []
    for _ in range(600):  # ties and duplicates included: integers and halves
        value = rng.choice([rng.randint(-5, 5), rng.randint(0, 3) / 2, rng.gauss(0, 3)])
        window.push(value)
        recent = [*recent, value][-25:]
        median = statistics.median(recent)
        deviations = sorted(abs(v - median) for v in recent)
        assert window.median() == pytest.approx(median)
        assert window.mad() == pytest.approx(deviations[len(recent) // 2])
        assert window.count_at_least(1.0) == sum(v >= 1.0 for v in recent)
    assert len(window) == 25
    assert window.full


# -- each statistic on the anomaly it is for ----------------------------------------


def test_robust_z_scores_a_spike_and_ignores_the_noise() -> None:
    values = noise(600)
    values[500] += 12.0
    z = scores(RobustZScorer(window=288), values)
    assert all(math.isnan(v) for v in z[:10])  # too few samples for a median
    assert z[500] > 9
    assert top(z[:500] + z[501:]) < 5


def test_robust_z_of_recent_medians_finds_a_level_shift_in_the_noise() -> None:
    values = noise(900, seed=2)
    shifted = [v + (1.5 if i >= 600 else 0.0) for i, v in enumerate(values)]
    single = scores(RobustZScorer(window=500), shifted)
    recent = scores(RobustZScorer(window=500, recent=24), shifted)
    assert top(single[600:700]) < 5  # each sample alone is ordinary noise
    assert top(recent[100:600]) < 3.5
    assert top(recent[600:650]) > 5


def test_ewma_chart_finds_a_slow_drift_before_it_leaves_the_noise_band() -> None:
    values = noise(2000, seed=3)
    drifting = [v + max(0, i - 1500) * 0.01 for i, v in enumerate(values)]
    chart = scores(EwmaScorer(alpha=0.002, lam=0.1), drifting)
    first = next(i for i, v in enumerate(chart) if i > 100 and v > 4)
    assert 1500 < first < 1800  # the drift is 3 sd by sample 1800
    assert top(chart[100:1500]) < 4
    assert max(drifting[1500:first]) < 4.5  # no single sample stood out


def test_rate_scores_a_jump_not_a_steady_ramp_nor_an_uneven_clock() -> None:
    rng = np.random.default_rng(4)
    stamps, values, t = [], [], T0
    for i in range(800):
        t += STEP * (2 if i % 7 == 0 else 1)  # every seventh interval is double
        stamps.append(t)
        values.append(t / STEP * 0.5 + float(rng.normal(0, 0.05)))
    values[700:] = [v + 20 for v in values[700:]]
    rate = RateScorer(window=288)
    z = [rate.update(t, x) for t, x in zip(stamps, values, strict=True)]
    assert z[700] > 50
    assert top(z[:700] + z[701:]) < 8
    assert rate.baseline == pytest.approx(values[-2] + 0.5, abs=0.5)


def daily_wave(days: int, seed: int = 5) -> list[float]:
    wave = [10 * math.sin(2 * math.pi * (t % DAY) / DAY) for t in times(days * 288)]
    return [w + n for w, n in zip(wave, noise(len(wave), seed, 0.5), strict=True)]


def test_seasonal_finds_a_value_that_is_normal_at_another_time_of_day() -> None:
    values = daily_wave(6)
    night = 5 * 288 + 216  # 18:00 on day 5, the trough of the wave (-10)
    values[night] = 10.0  # the noon value, twelve hours off
    seasonal = scores(SeasonalScorer(period_s=DAY, bins=48), values)
    plain = scores(RobustZScorer(window=288), values)
    assert math.isnan(seasonal[288])  # a slot must have been seen in 2 cycles
    assert seasonal[night] > 10
    assert top(seasonal[:night] + seasonal[night + 1 :]) < 8
    assert plain[night] < 2  # within the day's range: the plain z-score is blind


def test_deseasonalized_chart_sees_a_shift_the_daily_swing_would_hide() -> None:
    values = daily_wave(8, seed=6)
    shifted = [v + (2.0 if i >= 7 * 288 else 0.0) for i, v in enumerate(values)]
    chart = Deseasonalized(
        EwmaScorer(alpha=0.005, lam=0.2), SeasonalProfile(DAY, 48, 0.1)
    )
    plain = scores(EwmaScorer(alpha=0.005, lam=0.2), shifted)
    z = scores(chart, shifted)
    shift = 7 * 288
    assert math.isnan(z[0])  # nothing to subtract before a slot has a mean
    assert top(z[shift : shift + 30]) > 6
    assert top(z[300:shift]) < 4
    # Without the daily pattern removed the shift is lost in the daily swing.
    assert top(plain[shift : shift + 30]) < top(plain[300:shift])
    assert chart.baseline == pytest.approx(shifted[-1], abs=3)


def test_range_scores_new_extremes_in_margins_of_the_span() -> None:
    values = [float(i % 10) for i in range(200)] + [9.0, 9.3, -0.4, 12.0]
    z = scores(RangeScorer(window=100, margin=0.1), values)
    assert math.isnan(z[49])  # fewer than 50 samples make no range
    # Span 9 (unit 0.9), then 9.3 (0.93) after the new high, 9.7 after the low.
    assert z[199:] == pytest.approx([0.0, 0.0, 0.3 / 0.9, 0.4 / 0.93, 2.7 / 0.97])


# -- every statistic on every kind of anomaly ------------------------------------

ONSET = 2500


def with_anomaly(kind: str) -> tuple[list[float], int]:
    """3300 five-minute samples with ``kind`` starting at the returned index."""
    if kind == "off-cycle":  # an hour at the daily peak's level, at the trough's time
        values = daily_wave(12, seed=21)[:3300]
        start = ONSET + (216 - ONSET % 288) % 288  # the next 18:00
        values[start : start + 12] = [10.0 + v for v in noise(12, 22, 0.5)]
        return values, start
    if kind == "flatline":  # the sensor freezes on its last reading
        values = noise(3300, seed=22)
        values[ONSET:] = [values[ONSET - 1]] * (3300 - ONSET)
        return values, ONSET
    if kind == "frequency":  # a 4-hour oscillation turns into a 40-minute one
        period = np.where(np.arange(3300) < ONSET, 48.0, 8.0)
        wave = 3 * np.sin(np.cumsum(2 * np.pi / period))
        return [
            float(w + n) for w, n in zip(wave, noise(3300, 22, 0.3), strict=True)
        ], ONSET
    values = noise(3300, seed=22)
    if kind == "spike":
        values[ONSET] += 15
    elif kind == "shift":
        values = [v + (3 if i >= ONSET else 0) for i, v in enumerate(values)]
    else:  # drift: 3 sd more every 300 samples
        values = [v + max(0, i - ONSET) * 0.01 for i, v in enumerate(values)]
    return values, ONSET


STATISTICS = {
    "robust_z": "{kind: robust_z}",
    "robust_z of 24": "{kind: robust_z, recent: 24}",
    "ewma": "{kind: ewma}",
    "ewma chart": "{kind: ewma, lam: 0.1, alpha: 0.002}",
    "rate": "{kind: rate}",
    "seasonal": "{kind: seasonal}",
    "range": "{kind: range}",
    "flat": "{kind: flat}",
}
# What each statistic finds within 250 samples (21 hours) of the onset, with the
# shipped threshold (rarer than once a month); blanks are blind spots.
FINDS = {
    "spike": {"robust_z", "ewma", "ewma chart", "rate", "seasonal", "range"},
    "shift": {
        "robust_z",
        "robust_z of 24",
        "ewma",
        "ewma chart",
        "rate",
        "seasonal",
        "range",
    },
    "drift": {"robust_z", "robust_z of 24", "ewma chart", "seasonal", "range"},
    "off-cycle": {"rate", "seasonal"},
    # The median of the last 24 also sees a stuck value that is off the old median.
    "flatline": {"robust_z of 24", "flat"},
    "frequency": {"rate", "seasonal"},
}


@pytest.mark.parametrize("anomaly", list(FINDS))
@pytest.mark.parametrize("statistic", list(STATISTICS))
def test_each_statistic_on_each_kind_of_anomaly(statistic: str, anomaly: str) -> None:
    values, start = with_anomaly(anomaly)
    alarm = "{enter: 1.5, exit: 0.5, warmup: 288}"
    rule = rule_from(detector_rule(STATISTICS[statistic], alarm))
    _, found = run(rule, times(len(values)), values)
    raised = [i for i, f in enumerate(found) if f is not None]
    inside = [i for i in raised if start <= i < start + 250]
    assert bool(inside) == (statistic in FINDS[anomaly]), raised
    if anomaly == "spike" and inside:
        assert inside[0] == start  # on the spike itself


# -- calibration --------------------------------------------------------------------


def test_calibrated_scores_are_return_periods_in_days() -> None:
    values = noise(6000, seed=8)
    values[5500] = 40.0
    calibrated = TailCalibrator(RobustZScorer(window=288), history=2000)
    z = scores(calibrated, values)
    per_day = math.log10(STEP / DAY)  # 288 samples a day
    assert all(math.isnan(v) for v in z[:110])  # 10 for the median, 100 of history
    # "Once in 100 samples" comes back about every 100 samples.
    rare = [v for v in z[2200:5500] if v >= 2 + per_day]
    assert 0.005 < len(rare) / 3300 < 0.02
    assert z[5500] > 6 + per_day  # far beyond anything seen: extrapolated tail
    assert calibrated.baseline == pytest.approx(0.0, abs=0.2)


def test_calibration_judges_a_bursty_channel_by_its_own_bursts() -> None:
    rng = np.random.default_rng(9)
    bursty = [float(v) for v in rng.pareto(1.5, 4000)]  # heavy tailed, many "spikes"
    quiet = noise(4000, seed=9)
    raw = scores(RobustZScorer(window=288), bursty)
    calibrated = scores(TailCalibrator(RobustZScorer(window=288)), bursty)
    calm = scores(TailCalibrator(RobustZScorer(window=288)), quiet)
    assert top(raw[1000:]) > 50  # raw z-scores of a bursty channel are huge
    daily = 0.0  # once a day, in log10 days
    assert sum(v > daily + 1.5 for v in calibrated[1000:]) < 10
    assert sum(v > daily + 1.5 for v in calm[1000:]) < 10


# -- combinations -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "votes", "expected"),
    [
        ("any", 1, [5.0, 2.0, NOT_READY]),
        ("all", 1, [1.0, NOT_READY, NOT_READY]),
        ("vote", 2, [2.0, 1.0, NOT_READY]),
    ],
)
def test_combination_takes_the_max_min_or_kth_score(
    mode: str, votes: int, expected: list[float]
) -> None:
    members = [
        Scripted("a", [1.0, NOT_READY, NOT_READY]),
        Scripted("b", [5.0, 2.0, NOT_READY]),
        Scripted("c", [2.0, 1.0, NOT_READY]),
    ]
    combined = CombinedScorer(members, mode=mode, votes=votes)  # type: ignore[arg-type]
    got = scores(combined, [0.0, 0.0, 0.0])
    assert got == pytest.approx(expected, nan_ok=True)


def test_combination_reports_the_leading_member_and_applies_weights() -> None:
    members = [Scripted("range", [1.0]), Scripted("spike", [1.2])]
    combined = CombinedScorer(members, weights=[1.5, 1.0])
    assert combined.update(T0, 0.0) == pytest.approx(1.5)
    assert combined.leader.name == "range"


# -- the alarm ----------------------------------------------------------------------


def alerts(
    policy: AlarmPolicy, values: Sequence[float], step: float = 1.0
) -> list[tuple[int, str]]:
    alarm = Alarm(policy)
    return [
        (i, severity)
        for i, v in enumerate(values)
        if (severity := alarm.update(i * step, v)) is not None
    ]


def test_no_alert_during_warm_up_even_at_a_high_score() -> None:
    assert alerts(AlarmPolicy(enter=1.0, warmup=5), [9.0] * 5) == []
    # The episode starts with the first sample after the warm-up.
    assert alerts(AlarmPolicy(enter=1.0, warmup=5), [9.0] * 7) == [(5, "warning")]


def test_hysteresis_makes_a_wobbling_score_one_episode() -> None:
    wobble = [0.0, 2.0, 1.0, 2.0, 0.9, 2.1, 1.2, 0.0, 2.0]
    assert alerts(AlarmPolicy(enter=1.5, exit=0.5), wobble) == [
        (1, "warning"),
        (8, "warning"),
    ]
    without = alerts(AlarmPolicy(enter=1.5), wobble)
    assert [i for i, _ in without] == [1, 3, 5, 8]


def test_n_of_m_needs_n_high_scores_among_the_last_m() -> None:
    policy = AlarmPolicy(enter=1.0, n=2, m=3)
    assert alerts(policy, [2, 0, 0, 2, 0, 0, 2]) == []
    assert alerts(policy, [2, 0, 2, 0, 0, 0]) == [(2, "warning")]
    # On stays on while two of the last three reach exit (the default: enter).
    alarm = Alarm(policy)
    states = []
    for i, v in enumerate([2, 2, 0, 2, 0, 0, 0]):
        alarm.update(float(i), v)
        states.append(alarm.on)
    assert states == [False, True, True, True, False, False, False]


def test_cooldown_spaces_alerts_and_a_lasting_episode_alerts_when_it_ends() -> None:
    policy = AlarmPolicy(enter=1.0, exit=1.0, cooldown_s=10.0)
    scores_ = [0.0] * 40
    for start, length in [(0, 2), (4, 2), (12, 2), (20, 8)]:
        scores_[start : start + length] = [3.0] * length
    # 4: too soon; 12: cooldown over; 20: too soon, still on at 22 -> raised then.
    assert [i for i, _ in alerts(policy, scores_)] == [0, 12, 22]


def test_severity_is_critical_when_the_episode_peak_reaches_critical() -> None:
    policy = AlarmPolicy(enter=1.0, exit=0.5, critical=3.0, severity="info")
    assert alerts(policy, [0, 2, 0, 4, 0]) == [(1, "info"), (3, "critical")]
    # Raised on the sample that starts the episode: the peak is that sample's score.
    assert alerts(policy, [0, 2, 4, 0]) == [(1, "info")]


def test_alarm_policy_rejects_inconsistent_settings() -> None:
    with pytest.raises(ValueError, match="n <= m"):
        AlarmPolicy(enter=1.0, n=3, m=2)
    with pytest.raises(ValueError, match="must not exceed enter"):
        AlarmPolicy(enter=1.0, exit=2.0)


# -- bad input ----------------------------------------------------------------------


def bad_samples(t: float) -> list[tuple[float, float | None]]:
    """One sample of each bad kind, right after the good sample at ``t``."""
    return [
        (math.nan, 1.0),  # bad_time
        (math.inf, 1.0),  # bad_time
        (t + 1, None),  # missing
        (t + 1, math.nan),  # nan (an empty field reads as NaN)
        (t + 1, math.inf),  # inf
        (t + 1, -math.inf),  # inf
        (t, 2.0),  # duplicate_time
        (t - STEP, 2.0),  # out_of_order
    ]


def test_every_kind_of_bad_sample_is_dropped_counted_and_survived() -> None:
    good = noise(400, seed=10)
    detector = Detector(
        TailCalibrator(RobustZScorer(window=100)), AlarmPolicy(enter=5.0)
    )
    clean = Detector(TailCalibrator(RobustZScorer(window=100)), AlarmPolicy(enter=5.0))
    got, expected = [], []
    for i, (t, x) in enumerate(zip(times(400), good, strict=True)):
        detector.update(t, x)
        got.append(detector.score)
        clean.update(t, x)
        expected.append(clean.score)
        if i % 50 == 25:
            for stamp, value in bad_samples(t):
                assert detector.update(stamp, value) is None
                assert math.isnan(detector.score)
    assert got == pytest.approx(expected, nan_ok=True)  # bad samples changed nothing
    counts = detector.counts.to_json()
    assert counts == {
        "missing": 8,
        "nan": 8,
        "inf": 16,
        "bad_time": 16,
        "duplicate_time": 8,
        "out_of_order": 8,
        "gap": 0,
    }
    assert detector.counts.dropped == 64


def test_a_gap_is_counted_and_no_rate_is_taken_across_it() -> None:
    stamps = times(300) + [T0 + 300 * STEP + 2 * DAY + i * STEP for i in range(50)]
    values = [float(i) for i in range(350)]  # a steady ramp of 1 a sample
    detector = Detector(RateScorer(window=100), AlarmPolicy(enter=5.0))
    scored = []
    for t, x in zip(stamps, values, strict=True):
        detector.update(t, x)
        scored.append(detector.score)
    assert detector.counts.gap == 1
    # Across the gap the rate would be 1 / 600 of the usual: no score there.
    assert math.isnan(scored[300])
    assert top(scored[301:]) < 1


def test_detector_rule_counts_readings_without_the_channel() -> None:
    rule = DetectorRule(
        "a", "t", Detector(RobustZScorer(window=20), AlarmPolicy(enter=5.0))
    )
    readings = [Reading("s", i, T0 + i, {"t": 1.0 + i % 3}) for i in range(30)]
    readings[10] = Reading("s", 10, T0 + 10, {"h": 40.0})
    readings[11] = Reading("s", 11, T0 + 11, {"t": math.nan})
    assert [rule.on_reading(r) for r in readings] == [None] * 30
    assert (rule.counts.missing, rule.counts.nan) == (1, 1)


# -- causality ----------------------------------------------------------------------


def anomalous_series(n: int) -> tuple[list[float], list[float]]:
    """Ten days of a noisy daily wave with a spike, a shift, a dip and a gap."""
    stamps = times(n)
    stamps = stamps[:1500] + [t + DAY for t in stamps[1500:]]  # a day's gap
    values = [v + 50 for v in daily_wave(n // 288 + 1, seed=11)[:n]]
    values[900] += 30
    values[2000:2300] = [v + 6 for v in values[2000:2300]]
    values[2600] -= 25
    return stamps, values


RULE_KINDS = [
    "{kind: robust_z, window: 288}",
    "{kind: robust_z, window: 288, recent: 12, calibration: null}",
    "{kind: ewma, alpha: 0.01, lam: 0.2, deseason: {}}",
    "{kind: rate, window: 100}",
    "{kind: seasonal, bins: 24}",
    "{kind: range, window: 500}",
    "{kind: combine, mode: vote, votes: 2, members: [{kind: robust_z}, "
    "{kind: ewma}, {kind: seasonal}]}",
]


def detector_rule(scorer: str, alarm: str = "{enter: 1.0, exit: 0.5}") -> str:
    return (
        "streams:\n  - {kind: csv, name: s, path: x.csv}\n"
        "rules:\n  - kind: detector\n    name: anomaly\n    channel: value\n"
        f"    cooldown_s: 3600\n    scorer: {scorer}\n    alarm: {alarm}\n"
    )


def rule_from(text: str) -> DetectorRuleConfig:
    rule = parse_config(text, "edge.yaml").rules[0]
    assert isinstance(rule, DetectorRuleConfig)
    return rule


Outputs = tuple[list[float], list[Detection | None]]


def run(rule: DetectorRuleConfig, stamps: list[float], values: list[float]) -> Outputs:
    detector = build_detector(rule)
    outputs: list[float] = []
    found: list[Detection | None] = []
    for t, x in zip(stamps, values, strict=True):
        found.append(detector.update(t, x))
        outputs.append(detector.score)
    return outputs, found


@pytest.mark.parametrize("scorer", RULE_KINDS)
def test_appending_future_samples_never_changes_past_outputs(scorer: str) -> None:
    stamps, values = anomalous_series(3000)
    rule = rule_from(detector_rule(scorer))
    past_scores, past_found = run(rule, stamps[:2400], values[:2400])
    all_scores, all_found = run(rule, stamps, values)
    assert all_scores[:2400] == pytest.approx(past_scores, nan_ok=True)
    assert all_found[:2400] == past_found
    assert any(f is not None for f in all_found)


def test_the_shipped_sensor_config_is_causal_and_finds_the_spike_and_the_dip() -> None:
    config = parse_config(
        (ROOT / "device-configs" / "sensor-anomaly.yaml").read_text(),
        "sensor-anomaly.yaml",
        base_dir=ROOT / "device-configs",
    )
    rule = config.rules[0]
    assert isinstance(rule, DetectorRuleConfig)
    stamps, values = anomalous_series(3000)
    past_scores, past_found = run(rule, stamps[:2400], values[:2400])
    all_scores, all_found = run(rule, stamps, values)
    assert all_scores[:2400] == pytest.approx(past_scores, nan_ok=True)
    assert all_found[:2400] == past_found
    raised = {i for i, f in enumerate(all_found) if f is not None}
    assert {900, 2600} <= raised


# -- the rule: config and alerts ----------------------------------------------------


def test_detector_rule_alert_carries_detector_score_value_and_baseline() -> None:
    config = parse_config(
        detector_rule("{kind: robust_z, window: 288}", "{enter: 1.5, critical: 3}"),
        "edge.yaml",
    )
    rules = build_rules(list(config.rules), {}, ["s"])["s"]
    values = noise(1500, seed=12)
    values[1200] = 30.0
    raised = []
    for i, (t, x) in enumerate(zip(times(1500), values, strict=True)):
        raised += rules.on_reading(Reading("s", i, t, {"value": x}, f"row {i}"))
    assert len(raised) == 1
    alert = raised[0]
    assert (alert.rule, alert.stream, alert.source_time) == ("anomaly", "s", "row 1200")
    assert alert.severity == "critical"
    assert alert.values["detector"] == "robust_z"
    assert alert.values["value"] == 30.0
    assert alert.values["baseline"] == pytest.approx(0.0, abs=0.2)
    assert alert.values["score"] > 3


def config_error(text: str) -> str:
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "edge.yaml")
    return str(caught.value)


def test_detector_config_errors_name_the_line_the_key_and_a_fix() -> None:
    message = config_error(detector_rule("{kind: robust_z, windw: 10}"))
    assert message == (
        "edge.yaml:8: rules.0.scorer.windw: unknown key — did you mean 'window'?"
    )
    message = config_error(detector_rule("{kind: robust_z}", "{enter: 1, exit: 2}"))
    assert message == (
        "edge.yaml:9: rules.0.alarm: {'enter': 1, 'exit': 2} is not valid: exit "
        "(2.0) is above enter (1.0) — fix: set exit at or below enter"
    )
    message = config_error(
        detector_rule("{kind: combine, mode: vote, votes: 3, members: [{kind: rate}]}")
    )
    assert message.startswith("edge.yaml:8: rules.0.scorer: ")
    assert message.endswith("fix: set votes to at most 1")
    message = config_error(detector_rule("{kind: robustz}"))
    assert "rules.0.scorer.kind to one of 'robust_z', 'ewma'" in message


def test_detector_rule_needs_an_alarm_and_a_channel() -> None:
    text = detector_rule("{kind: rate}").replace("    channel: value\n", "")
    assert "rules.0.channel: required key is missing" in config_error(text)
    text = "\n".join(detector_rule("{kind: rate}").splitlines()[:-1]) + "\n"
    assert "rules.0.alarm: required key is missing" in config_error(text)
