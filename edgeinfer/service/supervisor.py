"""The daemon as a service: systemd notifications, watchdog, SIGHUP, control socket.

    service = Service(daemon)
    service.start()          # READY=1, control socket up, the watchdog thread runs
    signal.signal(signal.SIGHUP, lambda *_: service.request_reload())
    ...
    service.stop()           # STOPPING=1

The watchdog thread pings (``WATCHDOG=1``) every half interval while no stream has
stalled (see ``progress``); when one has, the pings stop and systemd restarts the
service once ``WatchdogSec`` has passed. ``STATUS=`` carries a one-line summary.
"""

from __future__ import annotations

import logging
import threading
import time
from types import FrameType
from typing import TYPE_CHECKING, Any

from edgeinfer.control import CommandContext, build_router
from edgeinfer.service.control import ControlServer, LocalBus
from edgeinfer.service.notify import Notifier, watchdog_interval
from edgeinfer.service.progress import ProgressMonitor

if TYPE_CHECKING:
    from edgeinfer.app import Daemon

log = logging.getLogger(__name__)


class Service:
    """Runs next to a started ``Daemon``: notifies systemd, serves the CLI."""

    def __init__(
        self,
        daemon: Daemon,
        notifier: Notifier | None = None,
        watchdog_s: float | None = None,
    ) -> None:
        self.daemon = daemon
        self.notifier = notifier or Notifier.from_environment()
        self.watchdog_s = watchdog_s if watchdog_s is not None else watchdog_interval()
        self.router = build_router()
        self.progress = ProgressMonitor(daemon)
        self.control: ControlServer | None = None
        cfg = daemon.config
        if cfg.service.control:
            self.control = ControlServer(daemon, cfg.control_socket, self.router)
        self.stalled: list[str] = []
        self._reload = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="service", daemon=True)
        self._counts: dict[str, tuple[int, float]] = {}

    def start(self) -> None:
        """Serve the control socket, say READY, start the watchdog thread."""
        if self.control is not None:
            self.control.start()
        self.notifier.send(READY=1, STATUS=self.summary())
        if self.watchdog_s:
            log.info("systemd watchdog: %.1f s", self.watchdog_s)
        self._thread.start()

    def stop(self) -> None:
        """Say STOPPING, stop the thread and the control socket."""
        self.notifier.send(STOPPING=1, STATUS="stopping: draining and flushing")
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5.0)
        if self.control is not None:
            self.control.stop()
        self.notifier.close()

    def request_reload(self) -> None:
        """Reload the config file soon (safe to call from a signal handler)."""
        self._reload.set()

    def on_sighup(self, _signum: int, _frame: FrameType | None) -> None:
        """The SIGHUP handler: reload on the service thread, not in the handler."""
        self.request_reload()

    def reload(self) -> dict[str, Any]:
        """Validate and apply the config file now, as the ``reload`` command does;
        on an error the running config stays. The command's reply."""
        self.notifier.send(RELOADING=1, MONOTONIC_USEC=time.monotonic_ns() // 1000)
        ctx = CommandContext(self.daemon, LocalBus())
        reply = self.router.handle("reload", {}, ctx)
        if reply.ok:
            log.info("config reloaded: %s", reply.result)
        else:
            log.error(
                "config reload failed, the running config stays: %s", reply.message
            )
        self.notifier.send(READY=1, STATUS=self.summary())
        return reply.to_json()

    # -- the thread -----------------------------------------------------------------
    def _loop(self) -> None:
        status_every = self.daemon.config.service.status_interval_s
        ping_every = self.watchdog_s / 2 if self.watchdog_s else None
        tick = min(status_every, ping_every or status_every, 1.0)
        next_status = next_ping = time.monotonic()
        while not self._stop.wait(0 if self._reload.is_set() else tick):
            now = time.monotonic()
            if self._reload.is_set():
                self._reload.clear()
                self.reload()
            if ping_every is not None and self.watchdog_s and now >= next_ping:
                next_ping = now + ping_every
                self._watchdog(self.watchdog_s)
            if now >= next_status:
                next_status = now + status_every
                self._send_status()

    def _send_status(self) -> None:
        try:
            line = self.summary()
        except Exception:  # a stage boundary: a bad summary must not stop the pings
            log.exception("could not summarise the status for systemd")
            return
        self.notifier.send(STATUS=line)

    def _watchdog(self, watchdog_s: float) -> None:
        stalled = self.progress.stalled(watchdog_s)
        if stalled and stalled != self.stalled:
            log.error(
                "pipeline stalled (%s): no watchdog pings, systemd will restart us",
                "; ".join(stalled),
            )
        elif self.stalled and not stalled:
            log.warning("pipeline moving again: watchdog pings resume")
        self.stalled = stalled
        if stalled:
            self.notifier.send(STATUS="stalled: " + "; ".join(stalled))
        else:
            self.notifier.send(WATCHDOG=1)

    # -- the STATUS line --------------------------------------------------------------
    def summary(self) -> str:
        """One line: streams with health and frames/s, models, broker, alerts."""
        status = self.daemon.status()
        now = time.monotonic()
        parts = []
        for name, s in status["streams"].items():
            count = s["frames_in"]
            last = self._counts.get(name)
            self._counts[name] = (count, now)
            rate = ""
            if last is not None and now > last[1]:
                rate = f" {(count - last[0]) / (now - last[1]):.1f}/s"
            parts.append(f"{name} {s['health']}{rate}")
        line = ", ".join(parts) or "no streams"
        models = [f"{n} on {m['placement']}" for n, m in status["models"].items()]
        if models:
            line += "; " + ", ".join(models)
        mqtt = status.get("mqtt")
        if mqtt is not None:
            line += f"; mqtt {mqtt['state']}, outbox {mqtt['outbox']['pending']}"
        alerts = sum(s["alerts"] for s in status["streams"].values())
        return f"{line}; {alerts} alerts"
