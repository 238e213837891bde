"""Sensor lines, recorded CSV series and the ``streams`` config section.

The line parser and the CSV reader are pure; the CSV reader is also run on a real
NAB series from the assets. Config errors are checked on their message text.
"""

from __future__ import annotations

import math
import re
import threading
import time
from pathlib import Path

import pytest

from edgeinfer.config import parse_config
from edgeinfer.config.streams import (
    CameraStreamConfig,
    CsvStreamConfig,
    SerialStreamConfig,
)
from edgeinfer.errors import ConfigError, SourceError
from edgeinfer.sources import (
    Channel,
    CsvSource,
    Health,
    LineSpec,
    Reading,
    build_source,
    pace,
    parse_line,
    read_csv_series,
)

TH = (Channel("t", "degC"), Channel("h", "%"))


# -- the line parser -----------------------------------------------------------------
def values(line: bytes, spec: LineSpec) -> dict[str, float]:
    parsed = parse_line(line, spec)
    assert parsed is not None
    return parsed.values


@pytest.mark.parametrize(
    "line",
    [b"21.5,40", b'{"t": 21.5, "h": 40, "extra": "x"}', b"t=21.5 h=40", b"t=21.5,h=40"],
)
def test_every_format_gives_the_named_channels(line: bytes) -> None:
    parsed = parse_line(line + b"\r", LineSpec(channels=TH))
    assert parsed is not None
    assert parsed.values == {"t": 21.5, "h": 40.0}
    assert parsed.device_time is None


def test_without_channels_every_field_is_a_channel() -> None:
    assert values(b"1,2", LineSpec("csv")) == {"col0": 1, "col1": 2}
    assert values(b"a = 1; b=2", LineSpec()) == {"a": 1, "b": 2}


def test_csv_columns_can_be_mapped_explicitly() -> None:
    spec = LineSpec("csv", (Channel("t", column=2), Channel("h", column=0)))
    assert values(b"40,ignored,21.5,more", spec) == {"t": 21.5, "h": 40}


def test_a_csv_header_naming_the_channels_and_a_blank_line_give_nothing() -> None:
    assert parse_line(b"T, h", LineSpec(channels=TH)) is None
    assert parse_line(b"  \r", LineSpec(channels=TH)) is None


def test_units_come_from_the_channels() -> None:
    assert LineSpec(channels=(*TH, Channel("n"))).units == {"t": "degC", "h": "%"}


JSON_TS = LineSpec("json", (Channel("t"),), device_time=True)
KV_TS = LineSpec("kv", (Channel("t"),), device_time=True)
CSV_TS = LineSpec("csv", (Channel("t"),), device_time=True, timestamp_field="1")


@pytest.mark.parametrize(
    ("line", "spec", "stamp", "text"),
    [
        (b'{"ts": 1700000000, "t": 1}', JSON_TS, 1700000000.0, "1700000000"),
        (b'{"ts": 1700000000250, "t": 1}', JSON_TS, 1700000000.25, "1700000000250"),
        (b'{"ts": "1700000000.5", "t": 1}', JSON_TS, 1700000000.5, "1700000000.5"),
        (b"ts=2024-01-01T00:00:00Z t=1", KV_TS, 1704067200.0, "2024-01-01T00:00:00Z"),
        (
            b"ts=2024-01-01T01:00:00+01:00 t=1",
            KV_TS,
            1704067200.0,
            "2024-01-01T01:00:00+01:00",
        ),
        (b"ts=2024-01-01 00:00:00.5,t=1", KV_TS, None, ""),
        (b"1, 1704067200.5", CSV_TS, 1704067200.5, "1704067200.5"),
    ],
)
def test_device_timestamps_in_epoch_seconds_milliseconds_and_iso(
    line: bytes, spec: LineSpec, stamp: float | None, text: str
) -> None:
    if stamp is None:  # a space splits kv fields: the date alone is the timestamp
        with pytest.raises(ValueError, match=r"'00:00:00\.5' is not key=value"):
            parse_line(line, spec)
        return
    parsed = parse_line(line, spec)
    assert parsed is not None
    assert parsed.values == {"t": 1.0}
    assert parsed.device_time == pytest.approx(stamp)
    assert parsed.source_time == text


@pytest.mark.parametrize(
    ("line", "spec", "reason"),
    [
        (b"\x00\x01\x02", LineSpec(), "NUL bytes"),
        (b"\xc3\x28\xff", LineSpec(), "not UTF-8"),
        (b"21.5,warm", LineSpec(channels=TH), "h: 'warm' is not a number"),
        (b"21.5,40,1", LineSpec(channels=TH), "3 columns, expected 2"),
        (b"21.5", LineSpec(channels=TH), "1 columns, expected 2"),
        (b'{"t": 21.5, "h"', LineSpec(channels=TH), "not valid JSON"),
        (b"[1, 2]", LineSpec("json"), "JSON line is a list, not an object"),
        (b'{"t": true, "h": 1}', LineSpec(channels=TH), "t: True is not a number"),
        (b"t=21.5 h", LineSpec(channels=TH), "'h' is not key=value"),
        (b"t=21.5", LineSpec(channels=TH), "missing channel(s) h"),
        (b"t=1", LineSpec(device_time=True), "no device timestamp field 'ts'"),
        (b"ts=soon t=1", LineSpec(device_time=True), "'soon' is not epoch"),
        (b"ts=-5 t=1", LineSpec(device_time=True), "'-5' is out of range"),
        (b"ts=nan t=1", LineSpec(device_time=True), "'nan' is out of range"),
    ],
)
def test_malformed_lines_raise_value_error_with_the_reason(
    line: bytes, spec: LineSpec, reason: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(reason)):
        parse_line(line, spec)


# -- recorded series -----------------------------------------------------------------
def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "series.csv"
    path.write_text(text, encoding="utf-8")
    return path


def test_csv_series_reads_every_timestamp_format_and_keeps_nan_inf_empty(
    tmp_path: Path,
) -> None:
    path = write(
        tmp_path,
        "value,timestamp,other\n"
        "1.5,2014-04-01 00:00:00,2\n"
        "nan,2014-04-01T00:05:00Z,inf\n"
        ",2014-04-01T02:10:00+02:00,-inf\n"
        "4,1396311000,n/a\n"
        "\n"
        "5,yesterday,1\n"
        "6,1396311600\n",
    )
    series = read_csv_series(path, "s")
    assert series.channels == ("value", "other")
    readings = list(series)
    assert [r.timestamp for r in readings] == [
        1396310400.0,
        1396310700.0,
        1396311000.0,
        1396311000.0,
    ]
    assert [r.source_time for r in readings][:2] == [
        "2014-04-01 00:00:00",
        "2014-04-01T00:05:00Z",
    ]
    assert readings[0].values == {"value": 1.5, "other": 2.0}
    assert math.isnan(readings[1].values["value"])
    assert readings[1].values["other"] == math.inf
    assert math.isnan(readings[2].values["value"])
    assert readings[2].values["other"] == -math.inf
    assert math.isnan(readings[3].values["other"])
    assert [r.seq for r in readings] == [0, 1, 2, 3]
    assert (series.stats.rows, series.stats.skipped, series.stats.bad_values) == (
        4,
        2,
        1,
    )


@pytest.mark.parametrize(
    ("name", "first_stamp"),
    [
        ("realTweets/Twitter_volume_AAPL.csv", 1424986973.0),  # 2015-02-26 21:42:53
        ("realKnownCause/nyc_taxi.csv", 1404172800.0),  # no newline after the last row
    ],
)
def test_csv_series_of_a_real_nab_file_matches_the_file(
    assets: Path, name: str, first_stamp: float
) -> None:
    path = assets / "sensors" / "nab" / "data" / name
    data = path.read_bytes()
    lines = data.splitlines()
    series = read_csv_series(path, "nab")
    readings = list(series)
    # wc -l minus the header, plus a last row that has no newline after it
    assert len(readings) == data.count(b"\n") - 1 + (not data.endswith(b"\n"))
    assert readings[0].source_time == lines[1].decode().split(",")[0]
    assert readings[-1].source_time == lines[-1].decode().split(",")[0]
    assert readings[0].timestamp == first_stamp
    assert readings[0].values == {"value": float(lines[1].decode().split(",")[1])}
    assert series.stats.skipped == series.stats.bad_values == 0


def test_csv_series_survives_a_bom_and_bytes_that_are_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "series.csv"
    path.write_bytes(b"\xef\xbb\xbfts,v\n0,1\n1,\xff\n\xfe2,3\n3,4\n")
    series = read_csv_series(path, "s")
    assert series.channels == ("v",)
    readings = list(series)
    assert [r.timestamp for r in readings] == [0, 1, 3]
    assert math.isnan(readings[1].values["v"])
    assert (series.stats.skipped, series.stats.bad_values) == (1, 1)


def test_csv_series_without_a_usable_header_is_a_source_error(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="no header row"):
        read_csv_series(write(tmp_path, ""), "s")
    with pytest.raises(SourceError, match="cannot read series"):
        read_csv_series(tmp_path / "missing.csv", "s")


def readings_at(*stamps: float) -> list[Reading]:
    return [Reading("s", i, t, {"v": 1.0}) for i, t in enumerate(stamps)]


def test_pace_spreads_readings_by_their_timestamps_over_speed() -> None:
    started = time.monotonic()
    assert len(list(pace(readings_at(0, 1, 2), speed=10))) == 3
    assert 0.18 <= time.monotonic() - started < 0.5


def test_pace_ends_when_stopped() -> None:
    stop = threading.Event()
    threading.Timer(0.1, stop.set).start()
    started = time.monotonic()
    assert len(list(pace(readings_at(0, 100), stop=stop))) == 1
    assert time.monotonic() - started < 0.5


def test_csv_source_loops_with_increasing_time_and_selected_channels(
    tmp_path: Path,
) -> None:
    path = write(tmp_path, "ts,a,b\n0,1,2\n10,3,4\n20,5,6\n")
    got: list[Reading] = []
    source = CsvSource(
        "demo",
        path,
        got.append,
        realtime=False,
        loop=True,
        channels=[Channel("b", "V")],
    )
    source.start()
    deadline = time.monotonic() + 5
    while len(got) < 7 and time.monotonic() < deadline:
        time.sleep(0.01)
    source.stop()
    assert [r.timestamp for r in got[:7]] == [0, 10, 20, 30, 40, 50, 60]
    assert [r.source_time for r in got[3:5]] == ["0", "10"]
    assert got[0].values == {"b": 2.0}
    assert got[0].units == {"b": "V"}


def test_csv_source_ends_offline_at_the_end_of_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "ts,a\n0,1\n1,2\n")
    got: list[Reading] = []
    config = CsvStreamConfig(name="demo", path=path, realtime=False)
    source = build_source(config, got.append)
    assert isinstance(source, CsvSource)
    source.start()
    assert source.finished.wait(5)
    assert len(got) == 2
    assert source.health.health is Health.OFFLINE
    assert source.health.reason == "end of file"


# -- the streams config --------------------------------------------------------------
def config_error(text: str) -> str:
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "edge.yaml")
    return str(caught.value)


def test_a_camera_naming_an_unknown_model_lists_the_models() -> None:
    message = config_error(
        "models:\n  ssd: {path: ssd.tflite}\n  cls: {path: cls.tflite}\n"
        "streams:\n  - {kind: camera, name: door, source: '0', model: yolo}\n"
    )
    assert message == (
        "edge.yaml:5: streams.0.model: 'yolo' is not valid: stream 'door' names a "
        "model not under models: — fix: use one of: ssd, cls, or add it under models:"
    )


def test_duplicate_stream_names_are_rejected() -> None:
    message = config_error(
        "streams:\n  - {kind: camera, name: door, source: '0'}\n"
        "  - {kind: serial, name: door, port: /dev/ttyUSB0}\n"
    )
    assert message == (
        "edge.yaml:3: streams.1.name: 'door' is not valid: duplicate stream name "
        "(also streams.0) — fix: rename one"
    )


def test_a_bad_or_missing_kind_lists_the_kinds() -> None:
    message = config_error(
        "streams:\n  - {kind: webcam, name: a, source: '0'}\n  - {name: b}\n"
    )
    assert "edge.yaml:2: streams.0: " in message
    assert "fix: set streams.0.kind to one of 'camera', 'serial', 'csv'" in message
    assert (
        "edge.yaml:3: streams.1: {'name': 'b'} is not valid: no kind given" in message
    )


def test_a_stream_name_must_be_one_topic_level() -> None:
    message = config_error("streams:\n  - {kind: csv, name: a/b, path: x.csv}\n")
    assert message.startswith("edge.yaml:2: streams.0.name: 'a/b' is not valid: must")


def test_only_file_sources_resolve_against_the_config_folder(tmp_path: Path) -> None:
    text = (
        "streams:\n"
        "  - {kind: camera, name: a, source: clips/door.mp4}\n"
        "  - {kind: camera, name: b, source: 'rtsp://10.0.0.5/s1'}\n"
        "  - {kind: camera, name: c, source: '0'}\n"
        "  - {kind: camera, name: d, source: /dev/video2}\n"
        "  - {kind: csv, name: e, path: data/x.csv}\n"
    )
    streams = parse_config(text, "edge.yaml", base_dir=tmp_path).streams
    assert [s.source for s in streams if isinstance(s, CameraStreamConfig)] == [
        str(tmp_path / "clips" / "door.mp4"),
        "rtsp://10.0.0.5/s1",
        "0",
        "/dev/video2",
    ]
    assert isinstance(streams[4], CsvStreamConfig)
    assert streams[4].path == tmp_path / "data" / "x.csv"


def test_serial_defaults_and_field_bounds() -> None:
    text = "streams:\n  - {kind: serial, name: s, port: loop://}\n"
    stream = parse_config(text, "edge.yaml").streams[0]
    assert isinstance(stream, SerialStreamConfig)
    assert (stream.baud, stream.format, stream.delimiter) == (115200, "auto", "\n")
    message = config_error(
        "streams:\n  - {kind: serial, name: s, port: loop://, queue_size: 0}\n"
    )
    assert "streams.0.queue_size: 0 is not valid" in message
    assert "fix: set streams.0.queue_size to a whole number at least 1" in message
