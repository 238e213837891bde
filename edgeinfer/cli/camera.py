"""``edgeinfer camera snapshot``: one JPEG from a camera, to see what the model sees.

``--source`` is a device index, ``/dev/videoN``, a URL or a video file, opened here;
or the name of a configured stream: from the running daemon when there is one (it
holds the camera), else from that stream's source opened here.
"""

from __future__ import annotations

import base64
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from edgeinfer.cli._common import SetOption
from edgeinfer.cli._daemon import JsonOption, SocketOption
from edgeinfer.cli._output import print_json
from edgeinfer.cli.daemon import DEFAULT_CONFIG
from edgeinfer.errors import ConfigError, ServiceError, SourceError

app = typer.Typer(help="Look through a camera.", no_args_is_help=True)

WARMUP_FRAMES = 5  # live cameras adjust exposure over the first frames


@app.command("snapshot")
def snapshot_command(
    source: Annotated[
        str,
        typer.Option(
            "--source",
            "-s",
            help="Device index, /dev/videoN, URL, video file, or a stream name of "
            "the config.",
        ),
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="JPEG file to write.")],
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            "-c",
            help=f"Config naming the streams; default {DEFAULT_CONFIG}.",
        ),
    ] = None,
    socket: SocketOption = None,
    overrides: SetOption = None,
    annotate: Annotated[
        bool,
        typer.Option(help="Daemon streams: draw the latest result on the frame."),
    ] = True,
    quality: Annotated[int, typer.Option(min=10, max=100, help="JPEG quality.")] = 90,
    timeout: Annotated[
        float, typer.Option(min=0.5, help="Seconds to wait for the camera.")
    ] = 10.0,
    json_out: JsonOption = False,
) -> None:
    """Write one frame of SOURCE to OUT as a JPEG."""
    stream = _stream(source, config, overrides or [])
    if stream is not None:
        cfg, stream_cfg = stream
        info = _from_daemon(
            socket or cfg.control_socket, source, out, annotate, quality
        )
        if info is None:
            info = grab(stream_cfg.source, out, quality, timeout)
    else:
        info = grab(source, out, quality, timeout)
    if json_out:
        print_json(info)
    else:
        typer.echo(
            f"wrote {out} ({info['width']}x{info['height']}, {info['bytes']} bytes) "
            f"from {info['source']}"
        )


def _stream(source: str, config: Path | None, overrides: list[str]) -> Any:
    """(config, stream config) when ``source`` names a configured camera stream."""
    from edgeinfer.config import load_config  # noqa: PLC0415 -- keep startup light
    from edgeinfer.config.streams import CameraStreamConfig  # noqa: PLC0415

    if config is None:
        if not DEFAULT_CONFIG.exists():
            return None
        config = DEFAULT_CONFIG
    cfg = load_config(config, overrides)
    for stream in cfg.streams:
        if stream.name == source:
            if not isinstance(stream, CameraStreamConfig):
                raise ConfigError(
                    f"stream {source!r} is a {stream.kind} stream — snapshots are of "
                    "camera streams; try edgeinfer serial monitor"
                )
            return cfg, stream
    return None


def _from_daemon(
    socket: Path, stream: str, out: Path, annotate: bool, quality: int
) -> dict[str, Any] | None:
    """The running daemon's latest frame of ``stream``, or None without a daemon."""
    from edgeinfer.service.client import call  # noqa: PLC0415

    args = {"stream": stream, "annotate": annotate, "quality": quality}
    try:
        result: dict[str, Any] = call(socket, "snapshot", args)
    except ServiceError as err:
        if "no edgeinfer daemon is running" in str(err):
            return None
        raise
    jpeg = base64.b64decode(result.pop("jpeg_base64"))
    out.write_bytes(jpeg)
    return {**result, "source": f"stream {stream} of the running daemon"}


def grab(
    source: str, out: Path, quality: int = 90, timeout: float = 10.0
) -> dict[str, Any]:
    """Open ``source``, read a frame (after a few for live cameras), write a JPEG."""
    import cv2  # noqa: PLC0415 -- OpenCV only for this command

    from edgeinfer.config.streams import camera_source_kind  # noqa: PLC0415
    from edgeinfer.sources.camera import open_capture  # noqa: PLC0415

    kind = camera_source_kind(source)
    if kind in ("file", "device") and not Path(source).exists():
        fix = "check ls /dev/video*" if kind == "device" else "check the path"
        raise SourceError(f"camera {source}: no such {kind} — {fix}")
    capture = open_capture(source, timeout)
    try:
        if not capture.isOpened():
            raise SourceError(
                f"camera {source} does not open — check the device or URL; edgeinfer "
                "doctor checks permissions"
            )
        image = None
        frames = 1 if kind == "file" else WARMUP_FRAMES
        deadline = time.monotonic() + timeout
        for _ in range(frames):
            ok, frame = capture.read()
            if ok and frame is not None:
                image = frame
            if time.monotonic() > deadline:
                break
    finally:
        capture.release()
    if image is None:
        raise SourceError(
            f"camera {source} opened but gave no frame within {timeout:g} s — is "
            "another program using it? (fuser -v /dev/video*)"
        )
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise SourceError(f"camera {source}: the frame did not encode as JPEG")
    data = buf.tobytes()
    out.write_bytes(data)
    height, width = image.shape[:2]
    return {"source": source, "width": width, "height": height, "bytes": len(data)}
