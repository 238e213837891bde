"""Parse one framed sensor line (CSV, JSON or key=value) into channel values.

    spec = LineSpec(channels=(Channel("t", "degC"), Channel("h", "%")))
    parse_line(b"t=21.5 h=40", spec).values   # {'t': 21.5, 'h': 40.0}
    parse_line(b'{"t": 21.5, "h": 40}', spec).values
    parse_line(b"21.5,40", spec).values

Pure functions shared by the serial source and replay. A malformed line raises
``ValueError`` whose message is the reason; ``None`` means a line with nothing to
deliver (blank, or a CSV header naming the channels).
"""

from __future__ import annotations

import itertools
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import lru_cache
from typing import Literal

LineFormat = Literal["auto", "csv", "json", "kv"]

EPOCH_MS_ABOVE = 1e11
"""A numeric device timestamp above this is epoch milliseconds (1e11 s is year 5138)."""

_KV_SPLIT = re.compile(r"[\s,;]+")
_KV_EQUALS = re.compile(r"\s*=\s*")


@dataclass(frozen=True)
class Channel:
    """A named channel with its unit; ``column`` is its 0-based CSV column."""

    name: str
    unit: str = ""
    column: int | None = None


@dataclass(frozen=True)
class LineSpec:
    """How lines are read: format, channels, and where timestamps come from.

    With ``device_time`` the timestamp is the field ``timestamp_field`` of a JSON or
    kv line, or for CSV the column whose index it holds (``"0"``; a name means the
    first column); it is epoch seconds, epoch milliseconds or ISO 8601 (UTC if it
    has no zone). Without channels every field is a channel (CSV: ``col0``, ...).
    """

    format: LineFormat = "auto"
    channels: tuple[Channel, ...] = ()
    device_time: bool = False
    timestamp_field: str = "ts"

    @property
    def units(self) -> dict[str, str]:
        """Units of the channels that have one, by channel name."""
        return {c.name: c.unit for c in self.channels if c.unit}


@dataclass(frozen=True)
class ParsedLine:
    """A good line: its values, and the device timestamp (epoch s) and its text."""

    values: dict[str, float]
    device_time: float | None = None
    source_time: str = ""


def parse_line(line: bytes, spec: LineSpec) -> ParsedLine | None:
    """Parse one line without its delimiter; ValueError(reason) if it is malformed."""
    if b"\0" in line:
        raise ValueError("NUL bytes in the line (binary garbage)")
    try:
        text = line.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise ValueError("not UTF-8 text (binary garbage)") from None
    if not text:
        return None
    fmt = detect_format(text) if spec.format == "auto" else spec.format
    if fmt == "csv":
        return _parse_csv(text, spec)
    fields = _json_fields(text) if fmt == "json" else _kv_fields(text)
    return _from_fields(fields, spec)


def detect_format(text: str) -> LineFormat:
    """``json`` for ``{...}``, ``kv`` when the line has ``=``, otherwise ``csv``."""
    if text.startswith("{"):
        return "json"
    return "kv" if "=" in text else "csv"


def parse_device_time(raw: object) -> tuple[float, str]:
    """Epoch seconds and the text as written, from epoch s/ms or ISO 8601."""
    text = raw.strip() if isinstance(raw, str) else str(raw)
    if isinstance(raw, str):
        try:
            value = float(text)
        except ValueError:
            value = parse_iso(text)
    else:
        value = _number(raw, "device timestamp")
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"device timestamp {text!r} is out of range")
    return (value / 1000 if value > EPOCH_MS_ABOVE else value), text


def parse_iso(text: str) -> float:
    """Epoch seconds of an ISO 8601 date-time; one without a zone is UTC."""
    fixed = text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text
    try:
        stamp = datetime.fromisoformat(fixed)
    except ValueError:
        raise ValueError(
            f"timestamp {text!r} is not epoch seconds/ms or ISO 8601"
        ) from None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=timezone.utc)
    return stamp.timestamp()


def _number(raw: object, key: str) -> float:
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        return float(raw)
    if isinstance(raw, str):
        try:
            return float(raw)
        except ValueError:
            pass
    raise ValueError(f"{key}: {raw!r} is not a number")


def _json_fields(text: str) -> dict[str, object]:
    try:
        data = json.loads(text)
    except ValueError:
        raise ValueError("not valid JSON (partial or garbled line)") from None
    if isinstance(data, dict):
        return data
    raise ValueError(f"JSON line is a {type(data).__name__}, not an object")


def _kv_fields(text: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    for token in _KV_SPLIT.split(_KV_EQUALS.sub("=", text)):
        key, sep, value = token.partition("=")
        if not (key and sep and value):
            raise ValueError(f"{token!r} is not key=value")
        fields[key] = value
    return fields


def _from_fields(fields: Mapping[str, object], spec: LineSpec) -> ParsedLine:
    stamp, text = None, ""
    if spec.device_time:
        if spec.timestamp_field not in fields:
            raise ValueError(f"no device timestamp field {spec.timestamp_field!r}")
        stamp, text = parse_device_time(fields[spec.timestamp_field])
    if spec.channels:
        missing = [c.name for c in spec.channels if c.name not in fields]
        if missing:
            raise ValueError(f"missing channel(s) {', '.join(missing)}")
        values = {c.name: _number(fields[c.name], c.name) for c in spec.channels}
    else:
        values = {
            key: _number(raw, key)
            for key, raw in fields.items()
            if not (spec.device_time and key == spec.timestamp_field)
        }
        if not values:
            raise ValueError("no values in the line")
    return ParsedLine(values, stamp, text)


@dataclass(frozen=True)
class _CsvLayout:
    time_column: int | None
    columns: tuple[tuple[str, int], ...]  # (channel name, column index)
    width: int  # columns a line must have (exactly, or at least when explicit)
    exact: bool


@lru_cache(maxsize=64)
def _csv_layout(spec: LineSpec) -> _CsvLayout:
    time_column = None
    if spec.device_time:
        field = spec.timestamp_field
        time_column = int(field) if field.isdigit() else 0
    reserved = {c.column for c in spec.channels} | {time_column}
    free = (i for i in itertools.count() if i not in reserved)
    columns = tuple(
        (c.name, c.column if c.column is not None else next(free))
        for c in spec.channels
    )
    used = [i for _, i in columns]
    if time_column is not None:
        used.append(time_column)
    exact = all(c.column is None for c in spec.channels)
    return _CsvLayout(time_column, columns, max(used, default=-1) + 1, exact)


def _parse_csv(text: str, spec: LineSpec) -> ParsedLine | None:
    fields = [field.strip() for field in text.split(",")]
    layout = _csv_layout(spec)
    if spec.channels:
        count = len(fields)
        if count < layout.width or (layout.exact and count != layout.width):
            raise ValueError(f"{count} columns, expected {layout.width}")
        if all(fields[i].lower() == name.lower() for name, i in layout.columns):
            return None  # a header naming the channels
        columns = layout.columns
    else:
        columns = tuple(
            (f"col{i}", i) for i in range(len(fields)) if i != layout.time_column
        )
        no_time = layout.time_column is not None and layout.time_column >= len(fields)
        if no_time or not columns:
            raise ValueError(f"{len(fields)} column(s): no timestamp or no values")
    stamp, stamp_text = None, ""
    if layout.time_column is not None:
        stamp, stamp_text = parse_device_time(fields[layout.time_column])
    values = {name: _number(fields[i], name) for name, i in columns}
    return ParsedLine(values, stamp, stamp_text)
