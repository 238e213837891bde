"""The ``streams`` section: cameras, serial sensors and recorded CSV files.

    streams:
      - {kind: camera, name: door, source: "rtsp://10.0.0.5/stream1", model: ssd}
      - kind: serial
        name: boiler
        port: /dev/ttyUSB0
        format: kv
        channels: [{name: t, unit: degC}, {name: p, unit: bar}]
      - {kind: csv, name: taxi, path: data/nyc_taxi.csv, speed: 600}

Stream names are unique MQTT topic levels, and a camera's model must be one of
``models:``; the root model checks both (``check_streams``).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic_core import InitErrorDetails

from edgeinfer.config._base import ConfigModel, ConfigPath, _resolve_path, invalid
from edgeinfer.config.device import TopicLevel

KINDS = ("camera", "serial", "csv")
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")

CameraSourceKind = Literal["index", "device", "url", "file"]


def camera_source_kind(source: str) -> CameraSourceKind:
    """What a camera ``source`` names: a device index, a /dev path, a URL or a file."""
    if source.isdigit():
        return "index"
    if source.startswith("/dev/"):
        return "device"
    return "url" if _URL.match(source) else "file"


def _resolve_source(value: str, info: ValidationInfo) -> str:
    if not value.strip():
        raise invalid("is empty", "give a device index, /dev/videoN, a URL or a file")
    if camera_source_kind(value) != "file":
        return value
    return str(_resolve_path(Path(value), info))


class MotionGateConfig(ConfigModel):
    """Skip inference on frames that barely differ from the last one inferred."""

    enabled: bool = Field(default=False, description="Turn the motion gate on.")
    threshold: float = Field(
        default=2.0,
        ge=0,
        le=255,
        description="Least mean absolute difference (0..255) between 64x64 grey "
        "thumbnails of this frame and the last inferred one that counts as motion.",
    )


class ChannelConfig(ConfigModel):
    """One named value in a sensor line, with its unit."""

    name: str = Field(min_length=1, description="Channel name, used by rules.")
    unit: str = Field(default="", description="Unit reported with it, e.g. degC.")
    column: int | None = Field(
        default=None,
        ge=0,
        description="0-based column in serial CSV lines; default: the next column.",
    )


def _unique_channels(channels: list[ChannelConfig]) -> list[ChannelConfig]:
    names = [c.name for c in channels]
    for name in names:
        if names.count(name) > 1:
            raise invalid(f"channel {name!r} is listed twice", "give each a new name")
    return channels


Channels = Annotated[list[ChannelConfig], AfterValidator(_unique_channels)]


class _StreamBase(ConfigModel):
    name: TopicLevel = Field(
        description="Stream name, one MQTT topic level, unique across streams."
    )


class CameraStreamConfig(_StreamBase):
    """A camera, network stream or video file, decoded with OpenCV (FFmpeg)."""

    kind: Literal["camera"] = Field(default="camera", description="A video stream.")
    source: Annotated[str, AfterValidator(_resolve_source)] = Field(
        description="Device index (0), /dev/videoN, rtsp://, http(s):// (MJPEG or "
        "anything FFmpeg reads) or a video file (relative to the config file)."
    )
    model: str | None = Field(
        default=None, description="Model (a name under models:) run on its frames."
    )
    fps_cap: float | None = Field(
        default=None, gt=0, description="Most frames per second delivered; unset: all."
    )
    loop: bool = Field(default=False, description="Files: rewind at the end.")
    realtime: bool = Field(
        default=True,
        description="Files: deliver at the file's frame rate; false: as fast as "
        "they decode.",
    )
    motion_gate: MotionGateConfig = Field(
        default_factory=MotionGateConfig, description="Skip inference on still frames."
    )
    open_timeout_s: float = Field(
        default=5.0,
        gt=0,
        description="Network streams: seconds to wait for the stream to open and "
        "for each frame before reconnecting.",
    )
    decode_threads: int | None = Field(
        default=None,
        ge=0,
        description="Files and network streams: FFmpeg decoder threads. Unset: 1 "
        "where frames come at the source's pace (network streams, files with "
        "realtime), which hands each frame on as soon as it is decoded, with the "
        "least memory and CPU; FFmpeg's default (one per core) for a file read as "
        "fast as it decodes, where decoding ahead on every core gives the most "
        "frames/s. 0: FFmpeg's default always; each thread past the first holds "
        "one more frame back.",
    )


class SerialStreamConfig(_StreamBase):
    """A sensor on a serial port (or loop://, socket://, rfc2217:// URL)."""

    kind: Literal["serial"] = Field(default="serial", description="A serial sensor.")
    port: str = Field(
        min_length=1, description="Device path (/dev/ttyUSB0) or pyserial URL."
    )
    baud: int = Field(default=115200, gt=0, description="Baud rate, in bit/s.")
    format: Literal["auto", "csv", "json", "kv"] = Field(
        default="auto",
        description="Line payload: csv, json (an object), kv (t=21.5 h=40) or auto.",
    )
    delimiter: str = Field(
        default="\n", min_length=1, description="Line delimiter; \\r is stripped."
    )
    channels: Channels = Field(
        default_factory=list,
        description="Channels read from each line; empty: every field of the line.",
    )
    timestamp: Literal["host", "device"] = Field(
        default="host",
        description="host: time the line arrived; device: a field of the line.",
    )
    timestamp_field: str = Field(
        default="ts",
        min_length=1,
        description="Device timestamps: JSON/kv field, or CSV column index (epoch "
        "s or ms, or ISO 8601).",
    )
    queue_size: int = Field(
        default=10000,
        ge=1,
        description="Readings buffered before the port is read more slowly.",
    )
    max_line: int = Field(
        default=4096, ge=16, description="Longest line in bytes; longer is garbage."
    )
    low_latency: bool = Field(
        default=True,
        description="Ask the driver to pass bytes on at once (a USB adapter such as "
        "an FTDI then does so every 1 ms rather than every 16); ignored where the "
        "port has no such setting.",
    )


class CsvStreamConfig(_StreamBase):
    """A recorded CSV time series played as a live stream (demos, soak tests)."""

    kind: Literal["csv"] = Field(default="csv", description="A recorded series.")
    path: ConfigPath = Field(
        description="CSV file with a header row; a timestamp column then values."
    )
    realtime: bool = Field(
        default=True, description="Pace readings by their timestamps (see speed)."
    )
    speed: float = Field(
        default=1.0, gt=0, description="Replay speed; 60 plays an hour in a minute."
    )
    loop: bool = Field(default=False, description="Start again at the end.")
    channels: Channels = Field(
        default_factory=list,
        description="Columns to keep (by name) with units; empty: every column.",
    )

    @field_validator("channels")
    @classmethod
    def _no_columns(cls, value: list[ChannelConfig]) -> list[ChannelConfig]:
        if any(c.column is not None for c in value):
            raise invalid("column applies to serial streams", "name the CSV column")
        return value


def _require_kind(value: Any) -> Any:
    if isinstance(value, dict) and "kind" not in value:
        raise invalid("no kind given", f"add kind: one of {', '.join(KINDS)}")
    return value


StreamConfig = Annotated[
    CameraStreamConfig | SerialStreamConfig | CsvStreamConfig,
    Field(discriminator="kind"),
    BeforeValidator(_require_kind),
]
"""One stream, discriminated on ``kind``."""


def check_streams(streams: list[Any], info: ValidationInfo) -> list[Any]:
    """Stream names are unique and every camera's model is under ``models:``."""
    models = (info.data or {}).get("models")
    errors: list[InitErrorDetails] = []
    first: dict[str, int] = {}
    for index, stream in enumerate(streams):
        if stream.name in first:
            reason = f"duplicate stream name (also streams.{first[stream.name]})"
            errors.append(_error((index, "name"), stream.name, reason, "rename one"))
        first.setdefault(stream.name, index)
        model = getattr(stream, "model", None)
        if model is None or models is None or model in models:
            continue
        fix = (
            f"use one of: {', '.join(models)}, or add it under models:"
            if models
            else "add it under models:, or remove model: from the stream"
        )
        reason = f"stream {stream.name!r} names a model not under models:"
        errors.append(_error((index, "model"), model, reason, fix))
    if errors:
        raise ValidationError.from_exception_data("streams", errors)
    return streams


def _error(
    loc: tuple[str | int, ...], value: str, reason: str, fix: str
) -> InitErrorDetails:
    return InitErrorDetails(type=invalid(reason, fix), loc=loc, input=value)


StreamList = Annotated[list[StreamConfig], AfterValidator(check_streams)]
"""The streams, checked together against each other and against ``models``."""
