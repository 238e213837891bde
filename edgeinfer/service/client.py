"""The CLI's side of the control socket: send a command, get the daemon's reply."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

from edgeinfer.errors import ServiceError

TIMEOUT_S = 30.0


def request(
    path: Path,
    command: str,
    args: dict[str, Any] | None = None,
    *,
    timeout: float = TIMEOUT_S,
) -> dict[str, Any]:
    """Send ``command`` to the daemon on ``path``; its reply ``{"ok", ...}``.

    Raises ``ServiceError`` when no daemon answers, with what to do about it.
    """
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        try:
            sock.connect(str(path))
        except (FileNotFoundError, ConnectionRefusedError):
            raise ServiceError(
                f"no edgeinfer daemon is running (nothing listens on {path}) — start "
                "it with 'systemctl start edgeinfer' or 'edgeinfer run --config FILE', "
                "or give the daemon's --config"
            ) from None
        except PermissionError:
            raise ServiceError(
                f"not allowed to open {path} — run as root or add your user to the "
                "daemon's group (sudo usermod -aG edgeinfer $USER, then log in again)"
            ) from None
        with sock.makefile("rwb") as stream:
            body = {"command": command, "args": args or {}}
            stream.write(json.dumps(body).encode() + b"\n")
            stream.flush()
            line = stream.readline()
    except TimeoutError:
        raise ServiceError(
            f"the daemon on {path} did not answer {command!r} within {timeout:g} s — "
            "it may be wedged: see journalctl -u edgeinfer"
        ) from None
    except OSError as err:
        raise ServiceError(f"talking to the daemon on {path} failed: {err}") from None
    finally:
        sock.close()
    if not line:
        raise ServiceError(
            f"the daemon on {path} closed the connection without a reply — see "
            "journalctl -u edgeinfer"
        )
    reply: dict[str, Any] = json.loads(line)
    return reply


def call(
    path: Path,
    command: str,
    args: dict[str, Any] | None = None,
    *,
    timeout: float = TIMEOUT_S,
) -> Any:
    """The result of ``command``; a failed command raises ``ServiceError``."""
    reply = request(path, command, args, timeout=timeout)
    if not reply.get("ok"):
        error = reply.get("error") or {}
        raise ServiceError(f"{command}: {error.get('message', 'failed')}")
    return reply.get("result")
