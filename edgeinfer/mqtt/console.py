"""The fleet console's MQTT client: devices seen, commands with replies, watching,
and pushing a signed bundle to devices with a staged rollout.

    console = FleetConsole("broker.example", 8883, ca_file=Path("ca.pem"))
    console.devices()                        # {"cell7": {retained status}, ...}
    console.command("cell7", "ping")         # {"cell7": {"ok": true, ...}}
    console.command("group:line3", "status") # every device of the group that replies
    console.rollout(bundle, ["cell7", "cell8", "cell9"], canaries=["cell7"])

It assumes the default topic prefix (``edgeinfer/<device id>``) and works with any
MQTT 5 broker: requests carry a response topic and correlation data.
"""

from __future__ import annotations

import base64
import json
import logging
import ssl
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from edgeinfer.errors import CommandError
from edgeinfer.mqtt.topics import GROUP_ROOT

log = logging.getLogger(__name__)
ROOT = "edgeinfer"
CHUNK_BYTES = 40_000  # base64 of it stays under the default 64 KiB command limit
FINAL = {"active", "rejected", "rolled_back"}


@dataclass
class RolloutResult:
    """How a staged rollout went: the outcome per device, and where it stopped."""

    version: str
    outcomes: dict[str, dict[str, Any]] = field(default_factory=dict)
    stopped: str = ""  # why the rollout stopped early, empty when it completed

    @property
    def ok(self) -> bool:
        """True when every device runs the new version."""
        return not self.stopped and all(
            o.get("state") == "active" for o in self.outcomes.values()
        )

    def to_json(self) -> dict[str, Any]:
        """The result as printed by ``edgeinfer fleet push --json``."""
        return {
            "ok": self.ok,
            "version": self.version,
            "stopped": self.stopped,
            "devices": self.outcomes,
        }


class FleetConsole:
    """One MQTT 5 connection of the console to the broker."""

    def __init__(
        self,
        host: str,
        port: int = 1883,
        *,
        username: str | None = None,
        password: str | None = None,
        ca_file: Path | None = None,
        timeout: float = 10.0,
    ) -> None:
        self.client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"edgeinfer-console-{uuid.uuid4().hex[:8]}",
            protocol=paho.MQTTv5,
        )
        if username is not None:
            self.client.username_pw_set(username, password)
        if ca_file is not None:
            self.client.tls_set_context(ssl.create_default_context(cafile=str(ca_file)))
        self.inbox = f"console/{uuid.uuid4().hex}"
        self.status: dict[str, dict[str, Any]] = {}
        self.model_state: dict[str, dict[str, Any]] = {}
        self._replies: dict[bytes, list[dict[str, Any]]] = {}
        self._watchers: list[Callable[[str, dict[str, Any]], None]] = []
        self._cond = threading.Condition()
        self._connected = threading.Event()
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message
        try:
            self.client.connect(host, port, keepalive=30)
        except OSError as err:
            raise CommandError(
                f"cannot reach the broker at {host}:{port}: {err}", code="unavailable"
            ) from None
        self.client.loop_start()
        if not self._connected.wait(timeout):
            self.close()
            raise CommandError(
                f"the broker at {host}:{port} did not accept the connection",
                code="unavailable",
            )

    # -- plumbing -------------------------------------------------------------------
    def _on_connect(self, client: Any, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            return
        client.subscribe(
            [
                (f"{ROOT}/+/status", 1),
                (f"{ROOT}/+/model/state", 1),
                (f"{self.inbox}/#", 1),
            ]
        )

    def _on_subscribe(self, *_args: Any) -> None:
        self._connected.set()  # replies can arrive only once the SUBACK is in

    def _on_message(self, _c: Any, _u: Any, msg: paho.MQTTMessage) -> None:
        try:
            body = json.loads(msg.payload)
        except ValueError:
            return
        parts = msg.topic.split("/")
        with self._cond:
            if msg.topic.startswith(self.inbox):
                corr = getattr(msg.properties, "CorrelationData", None) or b""
                self._replies.setdefault(bytes(corr), []).append(body)
            elif len(parts) == 3 and parts[2] == "status":
                self.status[parts[1]] = body
            elif len(parts) == 4 and parts[2:] == ["model", "state"]:
                self.model_state[parts[1]] = body
            self._cond.notify_all()
        for watcher in list(self._watchers):
            watcher(msg.topic, body)

    def _wait(self, check: Callable[[], bool], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self._cond:
            while not check():
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
        return True

    def close(self) -> None:
        """Disconnect."""
        self.client.disconnect()
        self.client.loop_stop()

    # -- devices and commands -------------------------------------------------------
    def devices(self, settle: float = 1.0) -> dict[str, dict[str, Any]]:
        """Devices seen in retained status (online or offline), by id."""
        time.sleep(settle)  # retained messages arrive right after subscribing
        with self._cond:
            return dict(self.status)

    def members(self, target: str) -> list[str]:
        """Device ids a target names: ``group:<g>`` (from retained status) or an id."""
        if not target.startswith("group:"):
            return [target]
        group = target[len("group:") :]
        with self._cond:
            return sorted(
                d for d, s in self.status.items() if group in s.get("groups", [])
            )

    def command(
        self,
        target: str,
        name: str,
        args: dict[str, Any] | None = None,
        timeout: float = 10.0,
    ) -> dict[str, dict[str, Any]]:
        """Send command ``name`` to a device or ``group:<g>``; replies by device id
        (a device that did not answer in time is missing)."""
        if target.startswith("group:"):
            topic = f"{GROUP_ROOT}/{target[len('group:') :]}/cmd/{name}"
            expected = set(self.members(target))
        else:
            topic = f"{ROOT}/{target}/cmd/{name}"
            expected = {target}
        corr = uuid.uuid4().bytes
        props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
        props.ResponseTopic = f"{self.inbox}/{name}"
        props.CorrelationData = corr
        info = self.client.publish(
            topic, json.dumps(args or {}), qos=1, properties=props
        )
        info.wait_for_publish(timeout)

        def answered() -> set[str]:
            return {str(r.get("device", "")) for r in self._replies.get(corr, [])}

        self._wait(lambda: bool(expected) and expected <= answered(), timeout)
        with self._cond:
            replies = self._replies.pop(corr, [])
        return {str(r.get("device", "")): r for r in replies}

    def watch(
        self, callback: Callable[[str, dict[str, Any]], None], targets: Iterable[str]
    ) -> None:
        """Call ``callback(topic, body)`` for telemetry and alerts of ``targets``."""
        self._watchers.append(callback)
        subs = [
            (f"{ROOT}/{t}/{k}", 1) for t in targets for k in ("telemetry", "alerts")
        ]
        self.client.subscribe(subs)

    # -- pushing bundles ------------------------------------------------------------
    def push(
        self, bundle: Path, device: str, url: str | None, timeout: float = 30.0
    ) -> dict[str, Any]:
        """Send ``bundle`` (a signed directory) to one device, by ``url`` where the
        same directory is served, or in chunks over MQTT; the device's reply."""
        args: dict[str, Any] = {
            "manifest": (bundle / "manifest.json").read_text(encoding="utf-8"),
            "signature": (bundle / "manifest.sig").read_text(encoding="utf-8"),
        }
        args.update({"url": url} if url else {"chunks": True})
        with self._cond:
            self.model_state.pop(device, None)
        reply = self.command(device, "model_update", args, timeout).get(device)
        if reply is None or not reply.get("ok"):
            return reply or {"ok": False, "error": {"message": "no reply"}}
        for path, have in reply["result"].get("missing", {}).items():
            data = (bundle / path).read_bytes()
            for offset in range(have, len(data), CHUNK_BYTES):
                piece = base64.b64encode(data[offset : offset + CHUNK_BYTES]).decode()
                chunk = {"path": path, "offset": offset, "data": piece}
                r = self.command(device, "model_chunk", chunk, timeout).get(device)
                if r is None or not r.get("ok"):
                    return r or {"ok": False, "error": {"message": "no reply"}}
        return reply

    def outcome(
        self, device: str, version: str, timeout: float, healthy: bool = True
    ) -> dict[str, Any]:
        """Wait for ``device`` to end the update to ``version``: rejected,
        rolled_back, or active (with ``healthy``: through its probation)."""

        def done() -> bool:
            s = self.model_state.get(device, {})
            if s.get("version") != version and s.get("from_version") != version:
                return False
            if s.get("state") == "active" and healthy:
                return s.get("probation") == "passed"
            return s.get("state") in FINAL

        if not self._wait(done, timeout):
            state = self.model_state.get(device, {})
            return {"state": "timeout", "last": state}
        with self._cond:
            return dict(self.model_state[device])

    def rollout(
        self,
        bundle: Path,
        devices: list[str],
        *,
        canaries: list[str],
        url: str | None = None,
        timeout: float = 120.0,
        progress: Callable[[str, dict[str, Any]], None] | None = None,
    ) -> RolloutResult:
        """Push ``bundle`` to the canaries, wait until each is active and through its
        probation, then to the other devices; stop at the first canary failure."""
        version = json.loads((bundle / "manifest.json").read_bytes())["version"]
        result = RolloutResult(version)
        rest = [d for d in devices if d not in canaries]
        for stage, members in (("canary", canaries), ("rest", rest)):
            for device in members:
                reply = self.push(bundle, device, url)
                if not reply.get("ok"):
                    result.outcomes[device] = {"state": "rejected", "reply": reply}
            for device in members:
                if device in result.outcomes:
                    continue
                result.outcomes[device] = self.outcome(device, version, timeout)
                if progress is not None:
                    progress(device, result.outcomes[device])
            failed = [d for d in members if result.outcomes[d].get("state") != "active"]
            if failed and stage == "canary":
                result.stopped = (
                    f"canary {', '.join(failed)} did not become healthy: "
                    + "; ".join(
                        str(result.outcomes[d].get("reason", result.outcomes[d]))
                        for d in failed
                    )
                )
                return result
        return result
