"""Streaming anomaly detectors for sensor channels: one sample in, maybe one alert out.

    detector = Detector(RobustZScorer(window=288), AlarmPolicy(enter=5, exit=3))
    for t, x in samples:                       # epoch seconds, channel value
        if (found := detector.update(t, x)) is not None:
            ...                                # found.score, .value, .baseline

Each stage is small, per channel, and causal (an output at time t depends only on
samples at or before t); a statistic costs a few microseconds of Python a sample
(sliding windows are sorted lists kept with binary search):

    guard       drops and counts bad samples (missing, NaN, infinite, duplicated
                or out-of-order timestamps) and notices gaps   (``guard``)
    scorer      how unusual the sample is: ``robust_z`` (sliding median/MAD),
                ``ewma`` (control chart), ``rate`` (rate of change), ``seasonal``
                (daily/weekly slots learned from timestamps), ``range`` (new
                highs and lows), ``flat`` (a stuck sensor's repeated values),
                ``combine`` (any/all/vote over several); any of
                the first three may see the data with its daily pattern removed
    calibrate   the statistic as the log10 return period (days) of a value that
                unusual among its own recent values, so one threshold fits every
                channel and every sampling rate
    alarm       warm-up, hysteresis, N-of-M debounce, cooldown and severity

A learned scorer is one more ``Scorer`` (see ``base``) and one more entry in
``build``'s table: ``model``, an int8 forecaster run on the device's backends
(``learned``).
"""

from edgeinfer.detectors.alarm import Alarm, AlarmPolicy
from edgeinfer.detectors.base import NOT_READY, Scorer
from edgeinfer.detectors.calibrate import TailCalibrator
from edgeinfer.detectors.combine import CombinedScorer
from edgeinfer.detectors.detector import Detection, Detector
from edgeinfer.detectors.ewma import EwmaScorer
from edgeinfer.detectors.flat import FlatScorer
from edgeinfer.detectors.guard import InputCounts, SampleGuard, TypicalInterval
from edgeinfer.detectors.range import RangeScorer
from edgeinfer.detectors.rate import RateScorer
from edgeinfer.detectors.robust import RobustZScorer
from edgeinfer.detectors.seasonal import (
    Deseasonalized,
    SeasonalProfile,
    SeasonalScorer,
)
from edgeinfer.detectors.window import SortedWindow

__all__ = [
    "NOT_READY",
    "Alarm",
    "AlarmPolicy",
    "CombinedScorer",
    "Deseasonalized",
    "Detection",
    "Detector",
    "EwmaScorer",
    "FlatScorer",
    "InputCounts",
    "RangeScorer",
    "RateScorer",
    "RobustZScorer",
    "SampleGuard",
    "Scorer",
    "SeasonalProfile",
    "SeasonalScorer",
    "SortedWindow",
    "TailCalibrator",
    "TypicalInterval",
]
