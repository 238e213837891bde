"""Serial sources over real ports: pyserial ``loop://`` and a socat pty pair.

Real bytes go in (CSV, JSON and kv lines, garbage, NUL bytes, an over-long line, a
line split across writes, ``\\r\\n`` endings); every good reading must come out in
order and every bad line be counted. socat is killed and restarted under the source
to check that an unplugged port is reported and reopened.
"""

from __future__ import annotations

import itertools
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import serial

from edgeinfer.sources import (
    Backoff,
    Channel,
    Health,
    LineSpec,
    Reading,
    SerialSource,
)
from edgeinfer.testing import LoopbackPort, ScriptStep, serial_script

pytestmark = pytest.mark.integration

SPEC = LineSpec(channels=(Channel("t", "degC"), Channel("h", "%")))

SCRIPT: list[ScriptStep] = [
    b"t,h\n",  # a CSV header naming the channels: skipped, not garbage
    b"21.5,40\n",
    b'{"t": 21.6, "h": 41}\r\n',
    b"\xff\xfe\x00\x01garbage\n",  # binary with NUL bytes
    b"t=21.7 h=42\n",
    b"\xc3\x28\xa0\xa1\n",  # not UTF-8
    b"t=21.8,h=43\r\n",
    b"t=abc h=1\n",  # non-numeric
    b"1,2,3\n",  # wrong column count
    b"x" * 600 + b"\n",  # longer than max_line
    b"t=21.9 h=",  # a partial line...
    0.05,
    b"44\n",  # ...completed by a later write
    b'{"t": 22.0, "h"\n',  # a truncated JSON line
    b"22.1,45\r\n",
]
GOOD = [(21.5, 40), (21.6, 41), (21.7, 42), (21.8, 43), (21.9, 44), (22.1, 45)]
BAD = 6


def wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


class SocatPair:
    """Two linked ptys (``a`` read by the source, ``b`` written by the test)."""

    def __init__(self, folder: Path) -> None:
        self.a, self.b = str(folder / "ttyA"), str(folder / "ttyB")
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                "socat",
                "-d",
                "-d",
                f"pty,raw,echo=0,link={self.a}",
                f"pty,raw,echo=0,link={self.b}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        assert wait_for(lambda: Path(self.a).exists() and Path(self.b).exists(), 5)

    def kill(self) -> None:
        """SIGKILL, as if the adapter were pulled: its links are left dangling."""
        if self.process is not None:
            self.process.kill()
            self.process.wait(5)


@pytest.fixture
def socat(tmp_path: Path) -> Iterator[SocatPair]:
    """A running socat pty pair, killed at the end."""
    if shutil.which("socat") is None:
        pytest.skip("socat is not installed")
    pair = SocatPair(tmp_path)
    pair.start()
    yield pair
    pair.kill()


Transport = tuple[SerialSource, Callable[[list[ScriptStep]], None]]


def send_script(conn: socket.socket, script: list[ScriptStep]) -> None:
    for step in script:
        if isinstance(step, bytes):
            conn.sendall(step)
        else:
            time.sleep(step)


@contextmanager
def transport(
    kind: str,
    sink: Callable[[Reading], None],
    folder: Path,
    spec: LineSpec,
    max_line: int = 4096,
    queue_size: int = 10_000,
) -> Iterator[Transport]:
    """A started source on a loopback port or a socat pty, and how to write to it."""
    if kind == "loop":
        port = LoopbackPort()
        source = SerialSource(
            "sensor",
            "loop://",
            sink,
            spec=spec,
            max_line=max_line,
            queue_size=queue_size,
            opener=port.open,
        )
        source.start()
        try:
            yield source, port.play
        finally:
            source.stop()
        return
    if kind == "socket":  # a serial device server's TCP port
        with socket.create_server(("127.0.0.1", 0)) as server:
            server.settimeout(10)
            url = f"socket://127.0.0.1:{server.getsockname()[1]}"
            source = SerialSource(
                "sensor", url, sink, spec=spec, max_line=max_line, queue_size=queue_size
            )
            source.start()
            conn, _ = server.accept()
            try:
                assert wait_for(lambda: source.health.health is Health.OK)
                yield source, lambda script: send_script(conn, script)
            finally:
                source.stop()
                conn.close()
        return
    if shutil.which("socat") is None:
        pytest.skip("socat is not installed")
    pair = SocatPair(folder)
    pair.start()
    source = SerialSource(
        "sensor", pair.a, sink, spec=spec, max_line=max_line, queue_size=queue_size
    )
    source.start()
    try:
        assert wait_for(lambda: source.health.health is Health.OK)
        yield source, lambda script: serial_script(pair.b, script)
    finally:
        source.stop()
        pair.kill()


@pytest.mark.parametrize("kind", ["loop", "pty", "socket"])
def test_good_lines_arrive_in_order_and_bad_ones_are_counted(
    kind: str, tmp_path: Path
) -> None:
    readings: list[Reading] = []
    with transport(kind, readings.append, tmp_path, SPEC, max_line=256) as (
        source,
        play,
    ):
        play(SCRIPT)
        assert wait_for(
            lambda: len(readings) >= len(GOOD) and source.stats.malformed >= BAD
        )
        time.sleep(0.1)  # nothing more arrives
    assert [(r.values["t"], r.values["h"]) for r in readings] == GOOD
    assert [r.seq for r in readings] == list(range(len(GOOD)))
    assert readings[0].units == {"t": "degC", "h": "%"}
    assert all(b.timestamp >= a.timestamp for a, b in itertools.pairwise(readings))
    assert source.stats.malformed == BAD
    assert source.stats.delivered == len(GOOD)


@pytest.mark.parametrize("kind", ["loop", "pty", "socket"])
def test_a_slow_sink_loses_no_reading_and_holds_the_port_back(
    kind: str, tmp_path: Path
) -> None:
    lines, bound = 5000, 100
    received: list[int] = []
    most = 0

    def slow(reading: Reading) -> None:
        nonlocal most
        most = max(most, source.queued)
        received.append(int(reading.values["n"]))
        time.sleep(0.0001)

    with transport(kind, slow, tmp_path, LineSpec("kv"), queue_size=bound) as (
        source,
        play,
    ):
        play([b"".join(b"n=%d\n" % i for i in range(lines))])
        assert wait_for(lambda: len(received) == lines, timeout=30)
    assert received == list(range(lines))
    # Full: the port was read no further until there was room.
    assert bound - 1 <= most <= bound
    assert source.stats.malformed == 0
    assert source.stats.delivered == lines


@pytest.mark.parametrize("kind", ["loop", "pty", "socket"])
def test_lines_arriving_while_the_sink_is_busy_are_read_and_stamped_on_arrival(
    kind: str, tmp_path: Path
) -> None:
    readings: list[Reading] = []

    def sink(reading: Reading) -> None:
        readings.append(reading)
        if reading.values["n"] == 0:
            time.sleep(1.0)  # a rule or a store that stalls

    with transport(kind, sink, tmp_path, LineSpec("kv")) as (source, play):
        play([b"n=0\n", 0.25, b"n=1\n", 0.25, b"n=2\n", 0.25, b"n=3\n"])
        assert wait_for(lambda: len(readings) == 4)
        assert source.queued == 0
    assert [r.values["n"] for r in readings] == [0, 1, 2, 3]
    # Read by the other thread during the stall, each when it came, not all at once
    # when the stall ended.
    gaps = [b.timestamp - a.timestamp for a, b in itertools.pairwise(readings)]
    assert all(0.15 < gap < 0.6 for gap in gaps), gaps
    stopped = [
        t.name for t in threading.enumerate() if t.name.startswith("source-sensor")
    ]
    assert not stopped  # both threads end with the source


@pytest.mark.parametrize("wanted", [True, False])
def test_the_driver_is_asked_for_low_latency_where_the_port_has_it(
    wanted: bool,
) -> None:
    asked: list[bool] = []

    class Adapter(LoopbackPort):  # a USB adapter's port has the flag, loop:// not
        def open(self, url: str, baud: int, timeout: float) -> serial.SerialBase:
            port = super().open(url, baud, timeout)
            port.set_low_latency_mode = asked.append
            return port

    readings: list[Reading] = []
    port = Adapter()
    source = SerialSource(
        "s", "/dev/ttyUSB0", readings.append, low_latency=wanted, opener=port.open
    )
    source.start()
    port.play([b"t=1\n"])
    assert wait_for(lambda: len(readings) == 1)
    source.stop()
    assert asked == ([True] if wanted else [])
    assert ("in low-latency mode" in source.health.reason) is wanted


def test_a_port_without_low_latency_mode_is_read_as_usual(tmp_path: Path) -> None:
    readings: list[Reading] = []
    with transport("pty", readings.append, tmp_path, LineSpec("kv")) as (src, play):
        play([b"t=1\n"])
        assert wait_for(lambda: len(readings) == 1)
        assert src.health.reason.endswith("open at 115200 baud")  # a pty has none


def test_a_closed_tcp_connection_goes_offline_and_the_source_reconnects() -> None:
    readings: list[Reading] = []
    with socket.create_server(("127.0.0.1", 0)) as server:
        server.settimeout(10)
        url = f"socket://127.0.0.1:{server.getsockname()[1]}"
        source = SerialSource(
            "s", url, readings.append, spec=SPEC, backoff=Backoff(0.05, 0.2)
        )
        source.start()
        try:
            conn, _ = server.accept()
            assert wait_for(lambda: source.health.health is Health.OK)
            conn.sendall(b"1,2\n")
            assert wait_for(lambda: len(readings) == 1)
            conn.close()  # the device server drops the connection
            assert wait_for(lambda: source.health.health is Health.OFFLINE)
            assert "hung up" in source.health.reason
            conn, _ = server.accept()  # it reconnects
            assert wait_for(lambda: source.health.health is Health.OK)
            conn.sendall(b"3,4\n")
            assert wait_for(lambda: len(readings) == 2)
            conn.close()
        finally:
            source.stop()
    assert [r.values for r in readings] == [{"t": 1, "h": 2}, {"t": 3, "h": 4}]
    assert source.stats.reconnects == 1


def test_device_timestamps_come_from_the_line() -> None:
    readings: list[Reading] = []
    port = LoopbackPort()
    spec = LineSpec("json", (Channel("t"),), device_time=True, timestamp_field="ts")
    source = SerialSource("s", "loop://", readings.append, spec=spec, opener=port.open)
    source.start()
    port.play(
        [
            b'{"ts": 1700000000, "t": 1}\n',
            b'{"ts": 1700000000500, "t": 2}\n',
            b'{"ts": "2024-01-01T00:00:00Z", "t": 3}\n',
            b'{"ts": "yesterday", "t": 4}\n',
        ]
    )
    assert wait_for(lambda: len(readings) == 3 and source.stats.malformed == 1)
    source.stop()
    assert [r.timestamp for r in readings] == [1700000000.0, 1700000000.5, 1704067200.0]
    assert readings[2].source_time == "2024-01-01T00:00:00Z"


def test_loopback_unplug_goes_offline_and_replug_resumes() -> None:
    readings: list[Reading] = []
    port = LoopbackPort()
    source = SerialSource(
        "s",
        "loop://",
        readings.append,
        spec=SPEC,
        opener=port.open,
        backoff=Backoff(0.05, 0.2),
    )
    source.start()
    port.play([b"1,2\n"])
    assert wait_for(lambda: len(readings) == 1)
    port.unplug()
    assert wait_for(lambda: source.health.health is Health.OFFLINE)
    assert "loop://" in source.health.reason
    port.replug()
    assert wait_for(lambda: source.health.health is Health.OK)
    port.play([b"3,4\n"])
    assert wait_for(lambda: len(readings) == 2)
    started = time.monotonic()
    source.stop()
    assert time.monotonic() - started < 1.0
    assert source.stats.reconnects == 1
    assert [r.values for r in readings] == [{"t": 1, "h": 2}, {"t": 3, "h": 4}]


def test_killed_socat_is_reported_and_the_port_reopened_after_restart(
    socat: SocatPair,
) -> None:
    readings: list[Reading] = []
    source = SerialSource(
        "boiler", socat.a, readings.append, spec=SPEC, backoff=Backoff(0.05, 0.3)
    )
    source.start()
    try:
        assert wait_for(lambda: source.health.health is Health.OK)
        serial_script(socat.b, [b"1,10\n2,20\n3,"])  # killed mid-line
        assert wait_for(lambda: len(readings) == 2)
        socat.kill()
        assert wait_for(lambda: source.health.health is Health.OFFLINE)
        assert socat.a in source.health.reason
        time.sleep(0.3)  # retrying against a missing device
        assert not source.finished.is_set()
        socat.start()
        assert wait_for(lambda: source.health.health is Health.OK)
        serial_script(socat.b, [b"4,40\n5,50\n"])
        assert wait_for(lambda: len(readings) == 4)
    finally:
        source.stop()
    assert [r.values["t"] for r in readings] == [1, 2, 4, 5]
    assert source.stats.reconnects >= 1
