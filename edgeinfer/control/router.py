"""The command router: command names to handlers, arguments checked by pydantic.

Each command module registers its handlers (``router.add(name, Args, handler)``);
``handle`` validates the arguments strictly (no silent coercion, unknown keys
refused), runs the handler and turns every outcome into one ``Reply``:

    {"ok": true, "result": ...}
    {"ok": false, "error": {"code": "bad_request", "message": "..."}}

The router knows no transport: MQTT, a local socket or a test call it alike.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from edgeinfer.errors import CommandError, ConfigError, EdgeinferError

if TYPE_CHECKING:
    from edgeinfer.app import Daemon

log = logging.getLogger(__name__)


class CommandArgs(BaseModel):
    """Base of every command's arguments: strict types, unknown keys refused."""

    model_config = ConfigDict(extra="forbid", strict=True)


class NoArgs(CommandArgs):
    """A command without arguments."""


@dataclass(frozen=True)
class Reply:
    """The outcome of one command."""

    ok: bool
    result: Any = None
    code: str = ""
    message: str = ""

    @classmethod
    def failure(cls, code: str, message: str) -> Reply:
        """A failed command with an error ``code`` and a one-line ``message``."""
        return cls(ok=False, code=code, message=message)

    def to_json(self) -> dict[str, Any]:
        """``{"ok": true, "result": ...}`` or ``{"ok": false, "error": {...}}``."""
        if self.ok:
            return {"ok": True, "result": self.result}
        return {"ok": False, "error": {"code": self.code, "message": self.message}}


class Bus(Protocol):
    """What a command may send besides its reply."""

    def publish_snapshot(
        self, stream: str, jpeg: bytes, meta: dict[str, Any]
    ) -> dict[str, Any]:
        """Publish a JPEG of ``stream``; where it went (topic, id, bytes)."""


@dataclass(frozen=True)
class CommandContext:
    """What a handler works on: the daemon, and the bus the command came over."""

    daemon: Daemon
    bus: Bus


A = TypeVar("A", bound=CommandArgs)
Handler = Callable[[CommandContext, A], Any]


@dataclass(frozen=True)
class _Route(Generic[A]):
    args: type[A]
    handler: Handler[A]

    def run(self, ctx: CommandContext, raw: dict[str, Any]) -> Any:
        return self.handler(ctx, self.args.model_validate(raw))


class CommandRouter:
    """Command names to handlers."""

    def __init__(self) -> None:
        self._routes: dict[str, _Route[Any]] = {}

    def add(self, name: str, args: type[A], handler: Handler[A]) -> None:
        """Register ``handler`` for ``name``, taking arguments of model ``args``."""
        if name in self._routes:
            raise ValueError(f"command {name!r} is registered twice")
        self._routes[name] = _Route(args, handler)

    def names(self) -> list[str]:
        """The registered commands, sorted."""
        return sorted(self._routes)

    def handle(self, name: str, args: Any, ctx: CommandContext) -> Reply:
        """Run command ``name`` with JSON ``args``; never raises."""
        route = self._routes.get(name)
        if route is None:
            return Reply.failure(
                "unknown_command",
                f"unknown command {name!r} — use one of: {', '.join(self.names())}",
            )
        if not isinstance(args, dict):
            return Reply.failure(
                "bad_request",
                f"{name}: the arguments must be a JSON object, not "
                f"{type(args).__name__}",
            )
        try:
            return Reply(ok=True, result=route.run(ctx, args))
        except ValidationError as err:
            return Reply.failure("bad_request", f"{name}: {describe_errors(err)}")
        except EdgeinferError as err:
            return Reply.failure(error_code(err), str(err))
        except Exception as err:  # a stage boundary: the daemon goes on
            log.exception("command %s failed", name)
            return Reply.failure("internal", f"{name} failed: {type(err).__name__}")


def error_code(err: EdgeinferError) -> str:
    """The reply's error code for a deliberate error."""
    if isinstance(err, CommandError):
        return err.code
    return "invalid_config" if isinstance(err, ConfigError) else "failed"


def describe_errors(err: ValidationError) -> str:
    """Pydantic errors as ``key: problem (got value)``, joined by ``; ``."""
    parts = []
    for e in err.errors():
        key = ".".join(str(p) for p in e["loc"]) or "(arguments)"
        if e["type"] == "extra_forbidden":
            parts.append(f"{key}: unknown argument")
        elif e["type"] == "missing":
            parts.append(f"{key}: required argument is missing")
        else:
            parts.append(f"{key}: {e['msg']} (got {e['input']!r:.40})")
    return "; ".join(parts)
