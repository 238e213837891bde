"""Commands on streams: snapshot (a JPEG of a camera) and restart_stream."""

from __future__ import annotations

import time
from typing import Any

from pydantic import Field

from edgeinfer.config.streams import CameraStreamConfig
from edgeinfer.control.router import CommandArgs, CommandContext, CommandRouter
from edgeinfer.errors import CommandError
from edgeinfer.rules.alert import iso_time
from edgeinfer.sinks.snapshot import encode_snapshot

RESTART_WAIT_S = 2.0


class StreamArgs(CommandArgs):
    """Arguments naming one stream."""

    stream: str = Field(max_length=200, description="The stream's name.")


class SnapshotArgs(StreamArgs):
    """Arguments of ``snapshot``."""

    quality: int = Field(default=85, ge=10, le=100, description="JPEG quality.")
    annotate: bool = Field(
        default=True, description="Draw the latest result (boxes or top class)."
    )


def _stream_config(ctx: CommandContext, name: str) -> Any:
    for stream in ctx.daemon.config.streams:
        if stream.name == name:
            return stream
    names = ", ".join(s.name for s in ctx.daemon.config.streams) or "none configured"
    raise CommandError(
        f"no stream named {name!r} — use one of: {names}", code="not_found"
    )


def snapshot(ctx: CommandContext, args: SnapshotArgs) -> dict[str, Any]:
    """Publish the stream's latest frame as a JPEG to ``<prefix>/snapshot/<stream>``."""
    if not isinstance(_stream_config(ctx, args.stream), CameraStreamConfig):
        raise CommandError(
            f"snapshot: {args.stream!r} is a sensor stream — snapshots are of camera "
            "streams",
            code="bad_request",
        )
    daemon = ctx.daemon
    frame = daemon.latest_frames.get(args.stream)
    if frame is None:
        health = daemon.sources[args.stream].health
        raise CommandError(
            f"snapshot: no frame from {args.stream!r} yet ({health.health.value}"
            f"{': ' + health.reason if health.reason else ''}) — try again when the "
            "stream is ok",
            code="unavailable",
        )
    result = daemon.latest_results.get(args.stream) if args.annotate else None
    jpeg = encode_snapshot(frame.image, result, args.quality)
    taken = iso_time(frame.timestamp)
    sent = ctx.bus.publish_snapshot(
        args.stream, jpeg, {"timestamp": taken, "seq": frame.seq}
    )
    height, width = frame.image.shape[:2]
    return {
        **sent,
        "stream": args.stream,
        "seq": frame.seq,
        "timestamp": taken,
        "width": width,
        "height": height,
    }


def restart_stream(ctx: CommandContext, args: StreamArgs) -> dict[str, Any]:
    """Close and reopen a stream's source; its health after up to 2 s."""
    _stream_config(ctx, args.stream)
    daemon = ctx.daemon
    daemon.restart_stream(args.stream)
    source = daemon.sources[args.stream]
    deadline = time.monotonic() + RESTART_WAIT_S
    while source.health.health.value != "ok" and time.monotonic() < deadline:
        time.sleep(0.05)
    health = source.health
    return {
        "stream": args.stream,
        "health": health.health.value,
        "reason": health.reason,
    }


def register(router: CommandRouter) -> None:
    """Add this module's commands to ``router``."""
    router.add("snapshot", SnapshotArgs, snapshot)
    router.add("restart_stream", StreamArgs, restart_stream)
