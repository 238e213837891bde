"""Commands about the daemon itself: ping, status, alerts, set_log_level, selftest."""

from __future__ import annotations

import logging
import time
from typing import Any, Literal

from pydantic import Field

from edgeinfer import __version__
from edgeinfer.control.router import CommandArgs, CommandContext, CommandRouter, NoArgs
from edgeinfer.control.selftest import run_selftest
from edgeinfer.rules.alert import iso_time


class LogLevelArgs(CommandArgs):
    """Arguments of ``set_log_level``."""

    level: Literal["debug", "info", "warning", "error"] = Field(
        description="Lowest level logged from now on."
    )
    logger: str = Field(
        default="",
        max_length=200,
        description="Logger name, e.g. edgeinfer.mqtt; empty: every logger.",
    )


def ping(ctx: CommandContext, _args: NoArgs) -> dict[str, Any]:
    """Answer at once: proves the device is up and obeys commands."""
    daemon = ctx.daemon
    return {
        "pong": True,
        "device": daemon.config.device.id,
        "time": iso_time(time.time()),
        "uptime_s": round(time.time() - daemon.started, 1),
    }


def status(ctx: CommandContext, _args: NoArgs) -> dict[str, Any]:
    """Streams, models, MQTT connection and outbox, as ``edgeinfer status`` shows."""
    return {"version": __version__, **ctx.daemon.status()}


class AlertsArgs(CommandArgs):
    """Arguments of ``alerts``."""

    limit: int = Field(default=10, ge=1, le=200, description="Newest alerts to return.")


def alerts(ctx: CommandContext, args: AlertsArgs) -> dict[str, Any]:
    """The newest alerts of the durable alert log, oldest first."""
    rows = ctx.daemon.alert_log.tail(args.limit)
    return {
        "alerts": [body for _seq, body in rows],
        "stored": ctx.daemon.alert_log.count(),
    }


def set_log_level(_ctx: CommandContext, args: LogLevelArgs) -> dict[str, Any]:
    """Change a logger's level until the next restart (the file is not changed)."""
    logger = logging.getLogger(args.logger or None)
    previous = logging.getLevelName(logger.getEffectiveLevel()).lower()
    logger.setLevel(args.level.upper())
    logging.getLogger(__name__).info(
        "log level of %s: %s (was %s)", args.logger or "root", args.level, previous
    )
    return {"logger": args.logger or "root", "level": args.level, "previous": previous}


def selftest(ctx: CommandContext, _args: NoArgs) -> dict[str, Any]:
    """Check state directory, disk, alert log, models, streams and the broker."""
    return run_selftest(ctx.daemon)


def register(router: CommandRouter) -> None:
    """Add this module's commands to ``router``."""
    router.add("ping", NoArgs, ping)
    router.add("status", NoArgs, status)
    router.add("alerts", AlertsArgs, alerts)
    router.add("set_log_level", LogLevelArgs, set_log_level)
    router.add("selftest", NoArgs, selftest)
