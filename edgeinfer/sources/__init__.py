"""Stream sources: cameras and video, serial sensors, recorded CSV series.

Each source runs its own thread and hands what it reads to a ``sink`` callback on
that thread: ``Frame`` for video, ``Reading`` for sensors. It never raises out of
the thread; failures are counted in ``.stats``, shown in ``.health`` and retried
with backoff.

    source = build_source(config.streams[0], sink=hub_put)
    source.start()
    ...
    source.stop()
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from edgeinfer.config.streams import (
    CameraStreamConfig,
    ChannelConfig,
    SerialStreamConfig,
    StreamConfig,
)
from edgeinfer.sources.base import (
    Backoff,
    Frame,
    Health,
    HealthState,
    Reading,
    Source,
    SourceStats,
)
from edgeinfer.sources.camera import CameraSource, iter_video
from edgeinfer.sources.parse import Channel, LineSpec, parse_line
from edgeinfer.sources.recording import CsvSource
from edgeinfer.sources.replay import CsvSeries, pace, read_csv_series
from edgeinfer.sources.serial import SerialSource

__all__ = [
    "Backoff",
    "CameraSource",
    "Channel",
    "CsvSeries",
    "CsvSource",
    "Frame",
    "Health",
    "HealthState",
    "LineSpec",
    "Reading",
    "SerialSource",
    "Source",
    "SourceStats",
    "build_source",
    "iter_video",
    "pace",
    "parse_line",
    "read_csv_series",
]


def _channels(configs: list[ChannelConfig]) -> tuple[Channel, ...]:
    return tuple(Channel(c.name, c.unit, c.column) for c in configs)


def build_source(cfg: StreamConfig, sink: Callable[[Any], None]) -> Source:
    """The source a stream's config describes, not started yet.

    ``sink`` takes a ``Frame`` (camera) or a ``Reading`` (serial, csv); it is called
    on the source's thread (a serial source's two threads call it one at a time, in
    order) and may take its time for sensor streams (back-pressure).
    """
    if isinstance(cfg, CameraStreamConfig):
        return CameraSource(
            cfg.name,
            cfg.source,
            sink,
            fps_cap=cfg.fps_cap,
            loop=cfg.loop,
            realtime=cfg.realtime,
            open_timeout_s=cfg.open_timeout_s,
            decode_threads=cfg.decode_threads,
        )
    if isinstance(cfg, SerialStreamConfig):
        spec = LineSpec(
            format=cfg.format,
            channels=_channels(cfg.channels),
            device_time=cfg.timestamp == "device",
            timestamp_field=cfg.timestamp_field,
        )
        return SerialSource(
            cfg.name,
            cfg.port,
            sink,
            baud=cfg.baud,
            spec=spec,
            delimiter=cfg.delimiter.encode(),
            max_line=cfg.max_line,
            queue_size=cfg.queue_size,
            low_latency=cfg.low_latency,
        )
    return CsvSource(
        cfg.name,
        cfg.path,
        sink,
        realtime=cfg.realtime,
        speed=cfg.speed,
        loop=cfg.loop,
        channels=_channels(cfg.channels),
    )
