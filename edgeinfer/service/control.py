"""The local control socket: the fleet commands, over a Unix socket on the device.

One request per line, one reply per line, both JSON:

    → {"command": "status", "args": {}}
    ← {"ok": true, "result": {...}}

Requests go through the same ``CommandRouter`` as MQTT commands, so a technician's
``edgeinfer status`` and the fleet console's ``status`` are one implementation.
The socket is created mode 0660 (owner and group only): whoever may talk to it may
change the config, as the fleet console may.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import os
import socket
import stat
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgeinfer.control import CommandContext, CommandRouter, Reply, build_router
from edgeinfer.errors import ServiceError

if TYPE_CHECKING:
    from edgeinfer.app import Daemon

log = logging.getLogger(__name__)

SOCKET_MODE = 0o660
MAX_REQUEST = 1 << 20  # bytes in one request line
CLIENT_TIMEOUT_S = 30.0
MAX_UNIX_PATH = 107  # sun_path holds 108 bytes with the terminating NUL


class LocalBus:
    """What commands send besides their reply, when they came over the socket:
    a snapshot is returned in the reply instead of published."""

    def publish_snapshot(
        self, stream: str, jpeg: bytes, meta: dict[str, Any]
    ) -> dict[str, Any]:
        """The JPEG in base64, for the client to write to a file."""
        return {"bytes": len(jpeg), "jpeg_base64": base64.b64encode(jpeg).decode()}


class ControlServer:
    """Serves ``router`` commands on the Unix socket at ``path``, one thread per
    client."""

    def __init__(
        self, daemon: Daemon, path: Path, router: CommandRouter | None = None
    ) -> None:
        self.path = path
        self.router = router or build_router()
        self.context = CommandContext(daemon, LocalBus())
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    def start(self) -> None:
        """Bind the socket (replacing a stale one) and start accepting."""
        if len(os.fsencode(self.path)) > MAX_UNIX_PATH:
            raise ServiceError(
                f"control socket path {self.path} is longer than {MAX_UNIX_PATH} "
                "bytes — set service.control_socket to a shorter path"
            )
        self.path.parent.mkdir(parents=True, exist_ok=True)
        _remove_stale(self.path)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old_umask = os.umask(0o117)  # never world-accessible, not even briefly
        try:
            sock.bind(str(self.path))
        finally:
            os.umask(old_umask)
        os.chmod(self.path, SOCKET_MODE)
        sock.listen(8)
        sock.settimeout(0.5)
        self._sock = sock
        self._thread = threading.Thread(
            target=self._accept_loop, name="control-socket", daemon=True
        )
        self._thread.start()
        log.info("control socket at %s", self.path)

    def stop(self) -> None:
        """Stop accepting and remove the socket file."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2.0)
        if self._sock is not None:
            self._sock.close()
            with contextlib.suppress(OSError):
                self.path.unlink()

    def handle(self, request: Any) -> dict[str, Any]:
        """The reply to one decoded request."""
        if not isinstance(request, dict) or not isinstance(request.get("command"), str):
            reply = Reply.failure(
                "bad_request",
                'a request is {"command": NAME, "args": {...}} on one line',
            )
        else:
            reply = self.router.handle(
                request["command"], request.get("args", {}), self.context
            )
        return reply.to_json()

    def _accept_loop(self) -> None:
        assert self._sock is not None
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                if not self._stop.is_set():
                    log.exception("control socket failed")
                return
            threading.Thread(
                target=self._serve, args=(conn,), name="control-client", daemon=True
            ).start()

    def _serve(self, conn: socket.socket) -> None:
        conn.settimeout(CLIENT_TIMEOUT_S)
        with conn, conn.makefile("rwb") as stream:
            while not self._stop.is_set():
                try:
                    line = stream.readline(MAX_REQUEST + 1)
                except OSError:
                    return
                if not line:
                    return
                if len(line) > MAX_REQUEST:
                    reply = Reply.failure("bad_request", "request too long").to_json()
                else:
                    try:
                        reply = self.handle(json.loads(line))
                    except ValueError:
                        reply = Reply.failure(
                            "bad_request", "the request is not JSON"
                        ).to_json()
                try:
                    stream.write(json.dumps(reply, default=str).encode() + b"\n")
                    stream.flush()
                except OSError:
                    return


def _remove_stale(path: Path) -> None:
    """Remove a socket left by a daemon that died; refuse to steal a live one."""
    try:
        mode = path.lstat().st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(mode):
        raise ServiceError(
            f"{path} exists and is not a socket — remove it or set "
            "service.control_socket to another path"
        )
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(str(path))
    except OSError:
        path.unlink(missing_ok=True)  # nobody listens: stale
        return
    finally:
        probe.close()
    raise ServiceError(
        f"another edgeinfer daemon is listening on {path} — stop it first "
        "(systemctl stop edgeinfer) or give this one another service.control_socket"
    )
