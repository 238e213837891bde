"""Checks of the configured cameras and serial ports, opened directly.

Only while no daemon runs: a running daemon holds its cameras and ports, so the
doctor asks it for their health instead (see ``daemon``).
"""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path

import serial

from edgeinfer.config.streams import (
    CameraStreamConfig,
    SerialStreamConfig,
    camera_source_kind,
)
from edgeinfer.doctor.result import CheckResult, failed, passed, warned
from edgeinfer.sources.camera import open_capture
from edgeinfer.sources.parse import Channel, LineSpec, parse_line
from edgeinfer.sources.serial import open_serial

SERIAL_LISTEN_S = 2.0


def check_camera(stream: CameraStreamConfig, timeout_s: float = 5.0) -> CheckResult:
    """The camera opens and gives one frame within ``timeout_s``."""
    name, source = f"camera:{stream.name}", stream.source
    kind = camera_source_kind(source)
    if kind in ("file", "device") and not Path(source).exists():
        fix = (
            "plug the camera in and check ls /dev/video*; give its path in "
            f"streams.{stream.name}.source"
            if kind == "device"
            else f"put the video there or fix streams.{stream.name}.source"
        )
        return failed(name, f"{source}: no such {kind}", fix)
    if kind == "device" and not os.access(source, os.R_OK | os.W_OK):
        return failed(
            name,
            f"{source}: permission denied",
            "add the daemon's user to the video group: sudo usermod -aG video "
            "edgeinfer",
        )
    t0 = time.perf_counter()
    timeout = min(stream.open_timeout_s, timeout_s)
    threads = 1 if stream.decode_threads is None else stream.decode_threads
    capture = open_capture(source, timeout, threads)  # one frame: no decoding ahead
    try:
        if not capture.isOpened():
            return failed(name, f"{source} does not open", _camera_fix(kind, stream))
        ok, image = capture.read()
        ms = (time.perf_counter() - t0) * 1e3
        if not ok or image is None:
            return failed(
                name, f"{source} opened but gave no frame", _camera_fix(kind, stream)
            )
    finally:
        capture.release()
    height, width = image.shape[:2]
    return passed(name, f"{source}: {width}x{height} frame in {ms:.0f} ms")


def _camera_fix(kind: str, stream: CameraStreamConfig) -> str:
    if kind == "url":
        return (
            "check the URL, credentials and network (ffprobe URL); raise "
            f"streams.{stream.name}.open_timeout_s for slow cameras"
        )
    if kind in ("index", "device"):
        return (
            "another process may hold the camera (fuser -v /dev/video*), or it "
            "is not a capture device: v4l2-ctl --list-devices"
        )
    return "check the file plays (ffprobe FILE)"


def check_serial(
    stream: SerialStreamConfig, listen_s: float = SERIAL_LISTEN_S
) -> CheckResult:
    """The port opens; a line that arrives within ``listen_s`` parses."""
    name = f"serial:{stream.name}"
    port = stream.port
    if port.startswith("/dev/") and not Path(port).exists():
        return failed(
            name,
            f"{port}: no such device",
            "plug the adapter in and check ls /dev/ttyUSB* /dev/ttyACM* "
            "/dev/serial/by-id/; a by-id path survives replugging",
        )
    try:
        conn = open_serial(port, stream.baud, 0.1)
    except PermissionError:
        return failed(
            name,
            f"{port}: permission denied",
            "add the daemon's user to the dialout group: sudo usermod -aG dialout "
            "edgeinfer",
        )
    except (OSError, ValueError) as err:
        return failed(
            name,
            f"{port} does not open: {err}",
            "check the port name, and that no other program holds it (fuser -v PORT)",
        )
    try:
        lines = _read_lines(conn, stream.delimiter.encode(), listen_s, count=2)
    finally:
        with contextlib.suppress(OSError):
            conn.close()
    opened = f"{port} open at {stream.baud} baud"
    if not lines:
        return passed(name, f"{opened}; no line within {listen_s:g} s (quiet sensor)")
    spec = LineSpec(
        format=stream.format,
        channels=tuple(Channel(c.name, c.unit, c.column) for c in stream.channels),
    )
    error: ValueError | None = None
    for line in lines:  # the first may be cut: the port opened mid-line
        try:
            parsed = parse_line(line, spec)
        except ValueError as err:
            error = error or err
            continue
        values = " ".join(
            f"{k}={v:g}" for k, v in (parsed.values if parsed else {}).items()
        )
        return passed(name, f"{opened}; parsed {values or 'a header line'}")
    return warned(
        name,
        f"{opened}; lines do not parse ({error}): {lines[-1][:60]!r}",
        f"check streams.{stream.name}.baud (garbage is often a wrong baud rate) "
        "and format",
    )


def _read_lines(
    conn: serial.SerialBase, delimiter: bytes, listen_s: float, count: int
) -> list[bytes]:
    """Up to ``count`` non-empty lines read within ``listen_s`` seconds."""
    buf = bytearray()
    lines: list[bytes] = []
    deadline = time.monotonic() + listen_s
    while time.monotonic() < deadline and len(lines) < count:
        chunk = conn.read(conn.in_waiting or 1)
        if not chunk:
            continue
        buf += chunk
        while (end := buf.find(delimiter)) >= 0 and len(lines) < count:
            line = bytes(buf[:end]).strip(b"\r")
            del buf[: end + len(delimiter)]
            if line:
                lines.append(line)
    return lines
