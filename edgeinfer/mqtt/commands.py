"""Commands arriving over MQTT: limits, decoding, and the reply to the asker.

The network thread only checks and queues (``offer``); a worker thread decodes the
JSON, runs the command through the router and sends the reply, so a slow command
never stalls the connection. What is refused and how:

- a flood beyond ``rate_per_s`` (with ``burst``): dropped and counted, no reply;
- a payload over ``max_payload_bytes``: ``payload_too_large``;
- not JSON: ``bad_json``; an unknown name or wrong arguments: the router's error;
- a retained command (it would run again on every reconnect): ignored and counted.

The reply goes to the MQTT 5 response topic with the request's correlation data,
or else to ``<prefix>/cmd/<name>/reply``.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from edgeinfer.config.mqtt import CommandsConfig
from edgeinfer.control.router import CommandContext, CommandRouter, Reply
from edgeinfer.mqtt.connection import Inbound
from edgeinfer.mqtt.messages import Message, json_message
from edgeinfer.mqtt.topics import Topics, is_publishable

log = logging.getLogger(__name__)

_WARN_EVERY_S = 10.0


class TokenBucket:
    """``rate`` events per second on average, up to ``burst`` at once."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate, self.burst = rate, float(burst)
        self._tokens = float(burst)
        self._last = time.monotonic()

    def take(self) -> bool:
        """Use one token; False when none is left."""
        now = time.monotonic()
        self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
        self._last = now
        if self._tokens < 1.0:
            return False
        self._tokens -= 1.0
        return True


@dataclass
class CommandCounters:
    """What happened to the commands received (each a count)."""

    received: int = 0
    ok: int = 0
    failed: int = 0
    rate_limited: int = 0
    ignored_retained: int = 0
    by_code: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """Plain counters for status and telemetry."""
        return {
            "received": self.received,
            "ok": self.ok,
            "failed": self.failed,
            "rate_limited": self.rate_limited,
            "ignored_retained": self.ignored_retained,
            "errors": dict(self.by_code),
        }


@dataclass(frozen=True)
class _Job:
    name: str
    request: Inbound
    refusal: Reply | None = None  # decided on arrival: no need to run anything


class CommandIntake:
    """Receives command messages, runs them one at a time, sends the replies."""

    def __init__(
        self,
        topics: Topics,
        router: CommandRouter,
        context: CommandContext,
        send: Callable[[Message], None],
        limits: CommandsConfig,
        *,
        device: str,
        response_topics: bool = True,
    ) -> None:
        self.topics = topics
        self.router = router
        self.context = context
        self.send = send
        self.limits = limits
        self.device = device
        self.response_topics = response_topics  # MQTT 5 only
        self.counters = CommandCounters()
        self._bucket = TokenBucket(limits.rate_per_s, limits.burst)
        self._jobs: queue.Queue[_Job | None] = queue.Queue(maxsize=limits.burst * 2)
        self._thread: threading.Thread | None = None
        self._last_warning = 0.0

    def start(self) -> None:
        """Start the worker thread."""
        self._thread = threading.Thread(target=self._run, name="mqtt-cmd", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Finish the command running now, drop the queued ones, stop."""
        while True:
            try:
                self._jobs.get_nowait()
            except queue.Empty:
                break
        self._jobs.put(None)
        if self._thread is not None:
            self._thread.join(timeout)

    # -- arrival (network thread) ---------------------------------------------------
    def offer(self, request: Inbound) -> None:
        """Check and queue one incoming message; never blocks."""
        name = self.topics.command_name(request.topic)
        if name is None:
            return
        self.counters.received += 1
        if request.retain:
            self.counters.ignored_retained += 1
            log.warning("ignored a retained command on %s", request.topic)
            return
        if not self._bucket.take():
            self._drop(request.topic)
            return
        refusal = None
        asked = request.response_topic if self.response_topics else None
        if len(request.payload) > self.limits.max_payload_bytes:
            refusal = Reply.failure(
                "payload_too_large",
                f"{name}: the payload has {len(request.payload)} bytes, more than the "
                f"{self.limits.max_payload_bytes} allowed",
            )
        elif asked is not None and not is_publishable(asked):
            refusal = Reply.failure(
                "bad_request",
                f"{name}: response topic {asked!r} cannot be published to "
                "(wildcards or empty); the reply went to the default reply topic",
            )
        try:
            self._jobs.put_nowait(_Job(name, request, refusal))
        except queue.Full:
            self._drop(request.topic)

    def _drop(self, topic: str) -> None:
        self.counters.rate_limited += 1
        now = time.monotonic()
        if now - self._last_warning >= _WARN_EVERY_S:
            self._last_warning = now
            log.warning(
                "commands arrive faster than %.1f/s: dropping (%d so far, last on %s)",
                self.limits.rate_per_s,
                self.counters.rate_limited,
                topic,
            )

    # -- the worker -----------------------------------------------------------------
    def _run(self) -> None:
        while (job := self._jobs.get()) is not None:
            try:
                reply = job.refusal or self._execute(job)
                self._count(reply)
                self._reply(job, reply)
            except Exception:  # a stage boundary: one bad command must not stop us
                log.exception("command %s on %s failed", job.name, job.request.topic)

    def _execute(self, job: _Job) -> Reply:
        started = time.monotonic()
        try:
            args = decode_arguments(job.request.payload)
        except ValueError as err:
            return Reply.failure("bad_json", f"{job.name}: {err}")
        reply = self.router.handle(job.name, args, self.context)
        log.info(
            "command %s from %s: %s in %.0f ms",
            job.name,
            job.request.topic,
            "ok" if reply.ok else f"{reply.code}: {reply.message}",
            (time.monotonic() - started) * 1e3,
        )
        return reply

    def _count(self, reply: Reply) -> None:
        if reply.ok:
            self.counters.ok += 1
            return
        self.counters.failed += 1
        by_code = self.counters.by_code
        by_code[reply.code] = by_code.get(reply.code, 0) + 1

    def _reply(self, job: _Job, reply: Reply) -> None:
        target = self.topics.reply(job.name)
        asked = job.request.response_topic if self.response_topics else None
        if asked is not None and is_publishable(asked):
            target = asked
        body = {"command": job.name, "device": self.device, **reply.to_json()}
        self.send(
            json_message(
                target,
                "reply",
                body,
                correlation_data=job.request.correlation_data,
            )
        )


def decode_arguments(payload: bytes) -> Any:
    """The JSON arguments of a command; an empty payload means ``{}``.

    Raises ``ValueError`` saying what is wrong with the payload.
    """
    if not payload.strip():
        return {}
    try:
        return json.loads(payload.decode("utf-8"))
    except UnicodeDecodeError:
        raise ValueError("the payload is not UTF-8 text — send a JSON object") from None
    except json.JSONDecodeError as err:
        raise ValueError(
            f"the payload is not JSON ({err.msg} at line {err.lineno} column "
            f"{err.colno}) — send a JSON object such as {{}}"
        ) from None
    except RecursionError:
        raise ValueError(
            "the payload nests too deeply — send a flat JSON object"
        ) from None
