"""What sources produce (frames and readings), their health, and reconnect backoff."""

from __future__ import annotations

import enum
import random
import threading
import time
from dataclasses import dataclass, field
from typing import Protocol

from edgeinfer.backends.base import NDArray


@dataclass(frozen=True, eq=False)
class Frame:
    """One decoded video frame.

    ``timestamp`` is the capture time in seconds since the epoch (for files: the
    position in the file added to the stream's start), ``seq`` counts frames read from
    the source since it started (gaps mean frames dropped downstream).
    """

    stream: str
    seq: int
    timestamp: float
    image: NDArray  # HxWx3 BGR uint8
    received: float = field(default_factory=time.perf_counter)  # for latency only


@dataclass(frozen=True)
class Reading:
    """One sensor sample: named channel values at one timestamp (epoch seconds).

    ``source_time`` keeps the timestamp as the device or file wrote it, when it did,
    so replay can report alerts with the file's own timestamps.
    """

    stream: str
    seq: int
    timestamp: float
    values: dict[str, float]
    source_time: str = ""
    units: dict[str, str] = field(default_factory=dict)


class Health(enum.Enum):
    """Stream health: ok, degraded (errors but data flows) or offline (no data)."""

    OK = "ok"
    DEGRADED = "degraded"
    OFFLINE = "offline"


@dataclass(frozen=True)
class HealthState:
    """A stream's health with the reason for it and when it last changed."""

    health: Health
    reason: str = ""
    since: float = 0.0


@dataclass
class SourceStats:
    """Counters of one source since it was built (each a count).

    ``read`` counts frames grabbed or lines framed, ``delivered`` frames or readings
    handed to the sink, ``malformed`` lines skipped as garbage (undecodable, partial,
    over-long, non-numeric, wrong column count, bad device timestamp),
    ``decode_errors`` frames that could not be read or decoded, ``reconnects``
    successful reopenings after a loss, ``fps_skipped`` frames not delivered because
    of the fps cap, ``errors`` unexpected failures that restarted the source.
    """

    read: int = 0
    delivered: int = 0
    malformed: int = 0
    decode_errors: int = 0
    reconnects: int = 0
    fps_skipped: int = 0
    errors: int = 0


class Source(Protocol):
    """A stream of frames or readings run by its own thread."""

    name: str

    def start(self) -> None:
        """Start the reading thread."""
        ...

    def stop(self) -> None:
        """Stop reading and release the device; returns once the thread has ended."""
        ...

    @property
    def health(self) -> HealthState:
        """Current health and its reason."""
        ...


class Backoff:
    """Capped exponential backoff with jitter, for reopening cameras and ports.

    ``next()`` gives the delay before the next attempt: ``initial * 2**n`` capped at
    ``cap``, with up to ``jitter`` (a fraction) taken off at random so a fleet that lost
    its network does not reconnect in lockstep. ``reset()`` after a success.
    """

    def __init__(
        self, initial: float = 0.5, cap: float = 30.0, jitter: float = 0.2
    ) -> None:
        self.initial, self.cap, self.jitter = initial, cap, jitter
        self.attempts = 0
        self._rng = random.Random()  # noqa: S311 -- jitter, not security

    def next(self) -> float:
        """The delay (seconds) before the next attempt."""
        delay = min(self.cap, self.initial * 2.0 ** min(self.attempts, 32))
        self.attempts += 1
        return delay * (1 - self.jitter * self._rng.random())

    def reset(self) -> None:
        """Start again from ``initial`` after a successful attempt."""
        self.attempts = 0

    def wait(self, stop: threading.Event) -> bool:
        """Sleep the next delay unless ``stop`` is set first; True if stopped."""
        return stop.wait(self.next())
