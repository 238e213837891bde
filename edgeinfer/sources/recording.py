"""A recorded CSV series played as a live stream, for demos and soak tests.

source = CsvSource("taxi", Path("nyc_taxi.csv"), sink, speed=600, loop=True)
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from edgeinfer.errors import SourceError
from edgeinfer.sources.base import Backoff, Health, Reading
from edgeinfer.sources.parse import Channel
from edgeinfer.sources.replay import CsvSeries, pace, read_csv_series
from edgeinfer.sources.threaded import ThreadedSource

log = logging.getLogger(__name__)


class CsvSource(ThreadedSource):
    """A recorded CSV series played as a live stream (demos and soak tests).

    With ``realtime`` readings come at the pace of their timestamps times ``speed``,
    otherwise as fast as the sink takes them. ``loop`` starts again at the end,
    shifting timestamps by the file's span plus one step so time keeps increasing
    (``source_time`` stays the file's text). ``channels`` keeps those columns and
    gives their units; empty keeps every column.
    """

    _log = log

    def __init__(
        self,
        name: str,
        path: Path,
        sink: Callable[[Reading], None],
        *,
        realtime: bool = True,
        speed: float = 1.0,
        loop: bool = False,
        channels: Sequence[Channel] = (),
        backoff: Backoff | None = None,
    ) -> None:
        super().__init__(name, backoff)
        self.path, self.sink = Path(path), sink
        self.realtime, self.speed, self.loop = realtime, speed, loop
        self.channels = tuple(channels)

    def _run(self) -> None:
        series = None
        while series is None:
            if self._stop.is_set():
                return
            series = self._open()
        readings = self._passes(series)
        if self.realtime:
            readings = pace(readings, self.speed, self._stop)
        try:
            for reading in readings:
                if self._stop.is_set():
                    return
                self.stats.read = series.stats.rows + series.stats.skipped
                self.stats.malformed = series.stats.skipped
                self._set_health(Health.OK)
                self.sink(reading)
                self.stats.delivered += 1
        except SourceError as err:  # a row the csv module cannot read: stop there
            self._set_health(Health.OFFLINE, str(err))
            return
        self._set_health(Health.OFFLINE, "end of file")

    def _open(self) -> CsvSeries | None:
        try:
            return self._read_series()
        except SourceError as err:
            delay = self.backoff.next()
            self._set_health(Health.OFFLINE, f"{err} (retry in {delay:.1f} s)")
            self._stop.wait(delay)
            return None

    def _read_series(self) -> CsvSeries:
        series = read_csv_series(self.path, self.name)
        missing = {c.name for c in self.channels} - set(series.channels)
        if missing:
            raise SourceError(
                f"series {self.path} has no column {', '.join(sorted(missing))} "
                f"— use one of: {', '.join(series.channels)}"
            )
        return series

    def _passes(self, series: CsvSeries) -> Iterator[Reading]:
        units = {c.name: c.unit for c in self.channels if c.unit}
        keep = [c.name for c in self.channels]
        offset, seq = 0.0, 0
        while True:
            first = last = None
            count = 0
            for reading in series:
                first = reading.timestamp if first is None else first
                last, count = reading.timestamp, count + 1
                values = (
                    {k: reading.values[k] for k in keep} if keep else reading.values
                )
                stamp = reading.timestamp + offset
                yield Reading(
                    self.name, seq, stamp, values, reading.source_time, dict(units)
                )
                seq += 1
            if not self.loop or first is None or last is None:
                return
            step = (last - first) / (count - 1) if count > 1 else 1.0
            offset += last - first + step
