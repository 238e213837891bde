"""Is the pipeline making progress? The watchdog's question, stream by stream.

A stream *stalls* when it has work it does not get through:

- a camera whose source says ``ok`` is expected to deliver frames; its progress is
  frames run through its model (inferred or gated, failures included) or, without
  a model, frames received. A wedged inference worker or a camera read that never
  returns both leave the count still while the camera looks ok.
- a sensor stream (serial, CSV) may be quiet for hours; it stalls only when its
  source handed over readings the rules thread has not taken yet and that thread
  takes none.

Cameras that are offline or degraded (their own thread retries with backoff), files
that have ended and quiet sensors are not stalls: the watchdog restarts a wedged
process, not a missing camera, which status reports as degraded instead.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from edgeinfer.config.streams import CameraStreamConfig

if TYPE_CHECKING:
    from edgeinfer.app import Daemon


@dataclass
class _Mark:
    count: int
    since: float  # monotonic time the count last moved


class ProgressMonitor:
    """Remembers each stream's progress count and when it last moved.

    ``stalled(stall_after_s)`` names the streams with work waiting whose count has
    not moved for ``stall_after_s`` seconds (three frame periods at least, for a
    camera with an ``fps_cap``).
    """

    def __init__(self, daemon: Daemon) -> None:
        self.daemon = daemon
        self._marks: dict[str, _Mark] = {}

    def stalled(self, stall_after_s: float, now: float | None = None) -> list[str]:
        """Streams stuck for ``stall_after_s`` seconds, each with the reason."""
        now = time.monotonic() if now is None else now
        stuck = []
        for stream in self.daemon.config.streams:
            name = stream.name
            source = self.daemon.sources.get(name)
            stats = self.daemon.stats.get(name)
            if source is None or stats is None:
                continue
            count, waiting = _progress(stream, source, stats)
            mark = self._marks.get(name)
            if mark is None or mark.count != count or not waiting:
                self._marks[name] = _Mark(count, now)
                continue
            # A camera capped below one frame per interval is not late yet.
            cap = getattr(stream, "fps_cap", None)
            patience = max(stall_after_s, 3.0 / cap) if cap else stall_after_s
            if now - mark.since >= patience:
                stuck.append(f"{name}: no progress for {now - mark.since:.0f} s")
        return stuck


def _progress(stream: Any, source: Any, stats: Any) -> tuple[int, bool]:
    """The stream's progress count, and whether work is waiting for it."""
    finished = getattr(source, "finished", None)
    if finished is not None and finished.is_set():
        return stats.frames_in, False
    if isinstance(stream, CameraStreamConfig):
        count = (
            stats.inferred + stats.gated + stats.errors
            if stream.model
            else stats.frames_in
        )
        return count, source.health.health.value == "ok"
    delivered = getattr(getattr(source, "stats", None), "delivered", 0)
    return stats.frames_in, delivered > stats.frames_in
