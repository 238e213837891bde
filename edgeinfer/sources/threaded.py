"""The thread every source runs on: start, prompt stop, health, restart on failure."""

from __future__ import annotations

import abc
import logging
import threading
import time
from typing import ClassVar

from edgeinfer.sources.base import Backoff, Health, HealthState, SourceStats

log = logging.getLogger(__name__)

STOP_TIMEOUT_S = 1.0


class ThreadedSource(abc.ABC):
    """Base of the sources: runs ``_run`` on a thread of its own.

    ``_run`` returns when ``_stop`` is set (it checks at least every ~0.2 s) or when
    the source has ended by itself (a file that reached its end). An exception that
    escapes it is logged and counted, health goes offline and ``_run`` starts again
    after a backoff: nothing escapes the thread. ``finished`` is set once the thread
    has ended, whether by itself or through ``stop()``.
    """

    _log: ClassVar[logging.Logger] = log  # subclasses log as their own module

    def __init__(self, name: str, backoff: Backoff | None = None) -> None:
        self.name = name
        self.stats = SourceStats()
        self.finished = threading.Event()
        self.backoff = backoff or Backoff()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._health = HealthState(Health.OFFLINE, "not started", time.time())

    @property
    def health(self) -> HealthState:
        """Current health, its reason, and since when (epoch s) it has this level."""
        return self._health

    def start(self) -> None:
        """Start the source's thread (once; a running source is left alone)."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self.finished.clear()
        self._thread = threading.Thread(
            target=self._main, name=f"source-{self.name}", daemon=True
        )
        self._thread.start()

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> None:
        """Ask the thread to end and join it for at most ``timeout`` seconds.

        A thread still inside a blocking device call (an FFmpeg open that has not
        timed out yet) is left to end by itself when the call returns.
        """
        self._stop.set()
        thread = self._thread
        if thread is None or thread is threading.current_thread():
            return
        thread.join(timeout)
        if thread.is_alive():
            self._log.warning(
                "source %s: still inside a device call after %.1f s; "
                "its thread ends when the call returns",
                self.name,
                timeout,
            )

    @abc.abstractmethod
    def _run(self) -> None:
        """Read and deliver until ``_stop`` is set or the source has ended."""

    def _main(self) -> None:
        try:
            while not self._stop.is_set():
                try:
                    self._run()
                except Exception as err:  # the thread's boundary: log, back off, retry
                    delay = self.backoff.next()
                    self._set_health(
                        Health.OFFLINE,
                        f"{type(err).__name__}: {err} (retry in {delay:.1f} s)",
                    )
                    self.stats.errors += 1
                    self._log.exception("source %s failed", self.name)
                    self._stop.wait(delay)
                else:
                    return
        finally:
            self.finished.set()

    def _set_health(self, health: Health, reason: str = "") -> None:
        old = self._health
        if old.health is health and old.reason == reason:
            return
        since = old.since if old.health is health else time.time()
        self._health = HealthState(health, reason, since)
        if old.health is health:
            self._log.debug("source %s: %s: %s", self.name, health.value, reason)
        elif health is Health.OK:
            self._log.info(
                "source %s: ok (was %s: %s)", self.name, old.health.value, old.reason
            )
        else:
            self._log.warning("source %s: %s: %s", self.name, health.value, reason)
