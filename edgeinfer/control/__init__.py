"""The control path: commands from the fleet console, turned into daemon actions.

    router = build_router()
    ctx = CommandContext(daemon, bus)
    router.handle("set_log_level", {"level": "debug"}, ctx).to_json()
    # {"ok": true, "result": {"logger": "root", "level": "debug", "previous": ...}}

Each module registers its own commands; this package knows no transport.
"""

from __future__ import annotations

from edgeinfer.control import basic, configure, models, streams
from edgeinfer.control.router import CommandContext, CommandRouter, Reply


def build_router() -> CommandRouter:
    """A router with every command of the daemon."""
    router = CommandRouter()
    basic.register(router)
    configure.register(router)
    streams.register(router)
    models.register(router)
    return router


__all__ = ["CommandContext", "CommandRouter", "Reply", "build_router"]
