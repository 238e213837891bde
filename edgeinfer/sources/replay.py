"""Recorded time series: CSV files read as readings, paced in real time if wanted.

    series = read_csv_series(Path("nyc_taxi.csv"), "taxi")
    for reading in series:           # streamed row by row
        ...
    series.stats                     # SeriesStats(rows=10320, skipped=0, bad_values=0)

The file has a header row; the timestamp column is the one named ``timestamp``,
``time`` or ``ts`` (else the first), the other columns are channels. Timestamps are
``2014-04-01 00:00:00`` (NAB; UTC), ISO 8601 with or without a zone (UTC without),
or epoch seconds; the parser chosen for the first row is reused while it fits.
"""

from __future__ import annotations

import csv
import logging
import math
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TextIO

from edgeinfer.errors import SourceError
from edgeinfer.sources.base import Reading

log = logging.getLogger(__name__)

TIME_COLUMNS = ("timestamp", "time", "ts")
NAN = math.nan
_EPOCH = datetime(1970, 1, 1)  # naive: a timestamp without a zone is UTC
_EPOCH_UTC = _EPOCH.replace(tzinfo=timezone.utc)

TimeParser = Callable[[str], float]


@dataclass
class SeriesStats:
    """Counts of a CSV read: ``rows`` readings yielded, ``skipped`` rows dropped
    (bad timestamp, wrong column count), ``bad_values`` non-numeric fields kept as
    NaN (empty, ``nan`` and ``inf`` fields are values, not counted)."""

    rows: int = 0
    skipped: int = 0
    bad_values: int = 0


def _epoch_seconds(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"timestamp {text!r} is not finite")
    return value


def _iso_naive(text: str) -> float:
    # TypeError (an aware value) makes the caller detect the format again.
    return (datetime.fromisoformat(text) - _EPOCH).total_seconds()


def _iso_aware(text: str) -> float:
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    return (datetime.fromisoformat(text) - _EPOCH_UTC).total_seconds()


def detect_time_parser(text: str) -> tuple[TimeParser, float]:
    """The parser for a timestamp's format and the timestamp (epoch s) it gives."""
    for parser in (_epoch_seconds, _iso_naive, _iso_aware):
        try:
            return parser, parser(text)
        except (ValueError, TypeError):
            continue
    raise ValueError(f"timestamp {text!r} is not epoch seconds or ISO 8601")


class CsvSeries:
    """A CSV time series, read lazily each time it is iterated.

    The header is read at construction, so a missing or empty file raises
    SourceError at once; ``channels`` names the value columns.
    """

    def __init__(self, path: Path | str, stream: str) -> None:
        self.path, self.stream = Path(path), stream
        self.stats = SeriesStats()
        try:
            with self._open() as file:
                header = next(csv.reader(file), None)
        except (OSError, csv.Error) as err:
            raise SourceError(
                f"cannot read series {path}: {err} — check the path"
            ) from None
        if not header or len(header) < 2:
            raise SourceError(
                f"series {path} has no header row with a timestamp and values "
                "— start it with a line such as timestamp,value"
            )
        names = [name.strip() for name in header]
        lowered = [name.lower() for name in names]
        self.time_column = next(
            (lowered.index(n) for n in TIME_COLUMNS if n in lowered), 0
        )
        self.width = len(names)
        self.columns = [(i, n) for i, n in enumerate(names) if i != self.time_column]
        self.channels = tuple(name for _, name in self.columns)

    def __iter__(self) -> Iterator[Reading]:
        stream, tcol, width, columns = (
            self.stream,
            self.time_column,
            self.width,
            self.columns,
        )
        (first, name), single = columns[0], len(columns) == 1  # NAB: one column
        parse: TimeParser = _epoch_seconds
        seq = 0
        with self._open() as file:
            rows = csv.reader(file)
            next(rows, None)
            try:
                for row in rows:
                    if len(row) != width:
                        if row:  # a blank line is no row
                            self._skip(rows.line_num, f"{len(row)} fields, not {width}")
                        continue
                    text = row[tcol]
                    try:
                        stamp = parse(text)
                    except (ValueError, TypeError):
                        try:
                            parse, stamp = detect_time_parser(text)
                        except ValueError as err:
                            self._skip(rows.line_num, str(err))
                            continue
                    try:
                        if single:
                            values = {name: float(row[first])}
                        else:
                            values = {n: float(row[i]) for i, n in columns}
                    except ValueError:
                        values = self._lenient_values(row)
                    yield Reading(stream, seq, stamp, values, text)
                    seq += 1
                    self.stats.rows += 1
            except csv.Error as err:  # e.g. a field over the csv module's size limit
                raise SourceError(
                    f"{self.path}:{rows.line_num}: unreadable CSV row: {err}"
                ) from None

    def _open(self) -> TextIO:
        # A stray byte that is not UTF-8 becomes U+FFFD: its row is then skipped
        # or its value NaN, instead of ending the file; a BOM is dropped.
        return self.path.open(newline="", encoding="utf-8-sig", errors="replace")

    def _lenient_values(self, row: list[str]) -> dict[str, float]:
        """Values of a row with empty or non-numeric fields, kept as NaN."""
        values = {}
        for index, name in self.columns:
            try:
                values[name] = float(row[index])
            except ValueError:
                values[name] = NAN
                if row[index].strip():
                    self.stats.bad_values += 1
        return values

    def _skip(self, line: int, reason: str) -> None:
        self.stats.skipped += 1
        log.debug("%s:%d: row skipped: %s", self.path, line, reason)


def read_csv_series(path: Path | str, stream: str) -> CsvSeries:
    """Readings of ``stream`` from the CSV file ``path``; see ``CsvSeries``."""
    return CsvSeries(path, stream)


def pace(
    readings: Iterable[Reading], speed: float = 1.0, stop: threading.Event | None = None
) -> Iterator[Reading]:
    """Yield ``readings`` as their timestamps come due, ``speed`` times real time.

    The first is yielded at once; a reading whose time has passed (or that goes
    back in time) is yielded without waiting. Ends early when ``stop`` is set.
    """
    if speed <= 0:
        raise ValueError(f"speed must be greater than 0, not {speed}")
    start_time: float | None = None
    clock = time.monotonic()
    for reading in readings:
        if start_time is None:
            start_time, clock = reading.timestamp, time.monotonic()
        delay = clock + (reading.timestamp - start_time) / speed - time.monotonic()
        if delay > 0:
            if stop is None:
                time.sleep(delay)
            elif stop.wait(delay):
                return
        elif stop is not None and stop.is_set():
            return
        yield reading
