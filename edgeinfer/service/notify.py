"""The systemd notification protocol, without libsystemd.

systemd gives a ``Type=notify`` service a datagram socket in ``$NOTIFY_SOCKET`` (a
path, or ``@name`` for the abstract namespace) and, with ``WatchdogSec=``, the
interval in ``$WATCHDOG_USEC``. Each notification is one datagram of
``KEY=VALUE`` lines:

    notifier = Notifier.from_environment()
    notifier.send(READY=1, STATUS="line1 ok 9.8 fps")
    notifier.send(WATCHDOG=1)   # at least every watchdog_s / 2

Outside systemd (no ``$NOTIFY_SOCKET``) every call does nothing.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Mapping

log = logging.getLogger(__name__)


def socket_address(value: str) -> str:
    """The ``AF_UNIX`` address of ``$NOTIFY_SOCKET``: ``@name`` is abstract."""
    return "\0" + value[1:] if value.startswith("@") else value


def watchdog_interval(env: Mapping[str, str] | None = None) -> float | None:
    """The watchdog timeout in seconds systemd expects pings within, or None.

    ``$WATCHDOG_PID``, when set, names the process the watchdog is meant for: any
    other process (a child started by the daemon) must not ping.
    """
    env = os.environ if env is None else env
    usec = env.get("WATCHDOG_USEC", "")
    pid = env.get("WATCHDOG_PID", "")
    if not usec.isdigit() or int(usec) == 0:
        return None
    if pid and pid != str(os.getpid()):
        return None
    return int(usec) / 1e6


class Notifier:
    """Sends notifications to the service manager; a no-op without a socket."""

    def __init__(self, address: str | None) -> None:
        self.address = address
        self._sock: socket.socket | None = None
        self._warned = False
        if address:
            self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            self._sock.setblocking(False)

    @classmethod
    def from_environment(cls) -> Notifier:
        """A notifier for ``$NOTIFY_SOCKET`` (a no-op when it is unset)."""
        value = os.environ.get("NOTIFY_SOCKET", "")
        return cls(socket_address(value) if value else None)

    @property
    def enabled(self) -> bool:
        """True when running under a service manager that listens."""
        return self._sock is not None

    def send(self, **fields: object) -> bool:
        """Send ``KEY=VALUE`` lines in one datagram; False if it was not sent.

        A lost notification is logged once and never raised: the daemon goes on,
        and systemd's watchdog acts if pings stop for good.
        """
        if self._sock is None or self.address is None:
            return False
        text = "\n".join(
            f"{key}={_one_line(str(value))}" for key, value in fields.items()
        )
        try:
            self._sock.sendto(text.encode(), self.address)
        except OSError as err:
            if not self._warned:
                log.warning("cannot notify systemd at %s: %s", self.address, err)
                self._warned = True
            return False
        return True

    def close(self) -> None:
        """Close the socket; later calls do nothing."""
        if self._sock is not None:
            self._sock.close()
            self._sock = None


def _one_line(value: str) -> str:
    """A value without line breaks (a newline would start another field)."""
    return " ".join(value.split("\n"))
