"""Test support for the service: a systemd notify socket, a daemon in a subprocess,
an MJPEG camera that can stall, and a quiet TCP sensor.

    with NotifyListener(tmp_path / "notify") as systemd, DaemonProcess(cfg, systemd):
        systemd.wait_for("READY=1")
"""

from __future__ import annotations

import http.server
import os
import signal
import socket
import socketserver
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "models" / "demo"


class NotifyListener:
    """The service manager's end of ``$NOTIFY_SOCKET``: records every datagram
    with the time it came (monotonic s). ``address`` starting with ``@`` is an
    abstract socket."""

    def __init__(self, address: str) -> None:
        self.address = address
        bind = "\0" + address[1:] if address.startswith("@") else address
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(bind)
        self.sock.settimeout(0.2)
        self.messages: list[tuple[float, dict[str, str]]] = []
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                continue
            fields = dict(
                line.split("=", 1) for line in data.decode().splitlines() if line
            )
            with self._cond:
                self.messages.append((time.monotonic(), fields))
                self._cond.notify_all()

    def with_key(self, key: str, since: float = 0.0) -> list[tuple[float, str]]:
        """(time, value) of every message carrying ``key`` after ``since``."""
        with self._cond:
            return [(t, m[key]) for t, m in self.messages if key in m and t >= since]

    def wait_for(
        self, key: str, match: Callable[[str], bool] = bool, timeout: float = 30.0
    ) -> str:
        """The first value of ``key`` that ``match`` accepts."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for _t, m in self.messages:
                    if key in m and match(m[key]):
                        return m[key]
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"no {key} in {timeout} s: {self.messages[-5:]}")
                self._cond.wait(left)

    def __enter__(self) -> NotifyListener:
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(2)
        self.sock.close()


class DaemonProcess:
    """``edgeinfer run --config FILE`` in a subprocess, output to a log file."""

    def __init__(
        self, config: Path, notify: NotifyListener | None, watchdog_s: float = 1.0
    ) -> None:
        self.log = config.with_suffix(".log")
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        if notify is not None:
            env["NOTIFY_SOCKET"] = notify.address
            env["WATCHDOG_USEC"] = str(int(watchdog_s * 1e6))
        self._out = self.log.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "edgeinfer", "run", "--config", str(config)],
            stdout=self._out,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            env=env,
        )

    def output(self) -> str:
        """What the daemon printed so far."""
        return self.log.read_text(errors="replace")

    def wait_output(self, text: str, timeout: float = 15.0) -> None:
        """Wait until the daemon printed ``text``."""
        deadline = time.monotonic() + timeout
        while text not in self.output():
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise AssertionError(f"{text!r} not printed:\n{self.output()[-3000:]}")
            time.sleep(0.1)

    def signal(self, signum: int) -> None:
        """Send ``signum`` to the daemon."""
        self.proc.send_signal(signum)

    def stop(self, timeout: float = 20.0) -> int:
        """SIGTERM, then the exit status (killed if it does not end)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise
        finally:
            self._out.close()

    def __enter__(self) -> DaemonProcess:
        return self

    def __exit__(
        self,
        _t: type[BaseException] | None,
        _e: BaseException | None,
        _tb: TracebackType | None,
    ) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._out.close()


class MjpegCamera:
    """An HTTP MJPEG camera on localhost that sends ``frames`` frames at ``fps``
    and then holds the connection open without sending: a stalled camera."""

    def __init__(self, frames: int, fps: float = 20.0) -> None:
        image = np.zeros((240, 320, 3), np.uint8)
        image[60:180, 100:220] = (40, 200, 40)
        jpeg = cv2.imencode(".jpg", image)[1].tobytes()
        release = self.release = threading.Event()

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header(
                    "Content-Type", "multipart/x-mixed-replace; boundary=frame"
                )
                self.end_headers()
                head = b"--frame\r\nContent-Type: image/jpeg\r\n"
                try:
                    self._send(head, frames)
                except (BrokenPipeError, ConnectionResetError):
                    return  # the camera's reader went away
                release.wait(60)  # stalled: connected, silent

            def _send(self, head: bytes, frames: int) -> None:
                for _ in range(frames):
                    self.wfile.write(
                        head
                        + b"Content-Length: %d\r\n\r\n" % len(jpeg)
                        + jpeg
                        + b"\r\n"
                    )
                    self.wfile.flush()
                    time.sleep(1 / fps)

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}/stream.mjpg"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        """Let the stalled request end and stop serving."""
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


class QuietSensor:
    """A TCP serial sensor (pyserial ``socket://``) that sends ``lines`` to each
    client and then stays connected and silent."""

    def __init__(self, lines: list[bytes]) -> None:
        release = self.release = threading.Event()

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                # pyserial empties its input buffer while opening a socket:// port
                time.sleep(0.3)
                for line in lines:
                    self.request.sendall(line)
                release.wait(120)

        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"socket://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        """Disconnect the clients and stop serving."""
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
