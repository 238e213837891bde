"""Measure MQTT delivery against the broker's own speed, and what telemetry costs.

    python tools/bench_mqtt.py [--count 300] [--rounds 1] [--state-dir DIR]
                               [--serial pty|socket]
    python tools/bench_mqtt.py --compare OTHER_CHECKOUT [--rounds 4] [--count 300]
    python tools/bench_mqtt.py --bursts 300

(a) the daemon: ``edgeinfer run`` reads a serial stream from a pseudo-terminal whose
    other end this tool holds (``--serial socket`` instead serves it over TCP to
    ``socket://``); the tool writes one line every 20 ms; every second line crosses a
    threshold and raises an alert; from writing the line to receiving the alert here,
    p50/p99. The alert passes the alert log (fsynced) and the outbox: once with
    ``mqtt.outbox.power_safe`` (fsynced too, the default), once without;
(b) the broker's own publish-to-receive, in the same seconds: halfway between every
    two lines, a separate publisher process sends a QoS 1 message carrying its send
    time to a topic the same subscriber holds; p50/p99. Interleaved, both see the
    same machine: on a VM whose speed drifts by a fifth within minutes, figures taken
    one after the other compare the drift as much as the code;
(c) telemetry at 1 Hz: CPU of an ``edgeinfer run`` without streams over 20 s with
    ``telemetry.interval_s: 1``, less the same with telemetry off, in % of one core.

``--bursts N`` measures only the daemon's socket setting: N bursts of three QoS 0
messages, 50 ms apart, from paho with its default socket and with the daemon's
``no_delay`` (Nagle's algorithm off); each message's publish-to-receive by its place in
the burst, and how many took over 20 ms.

Each row gives, next to the ratio of the two p99s, a 90 % interval for it (a block
bootstrap over the 40 ms cycles, each of which holds one alert and one plain
message): the p99 of a few hundred samples is their few slowest, and two such figures
divided can land on either side of a target by chance.

``--rounds`` repeats (a) and (b) for both modes, alternating, and adds the figures of
all rounds pooled. With ``--compare``, only (a) with ``power_safe``: rounds alternate
between this checkout's daemon and the one of another checkout (``git worktree add
../old REV``), so that a change is measured against the code before it on the same
broker, with the machine's drift spread over both; each round's alert figures are also
given over the broker's of the same seconds, and the median of those ratios.

Starts its own mosquitto on a free port. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from edgeinfer.mqtt.client import no_delay  # noqa: E402
from tests.mosquitto import Broker  # noqa: E402 -- the tests' broker helper

LINE_PERIOD_S = 0.02
BLOCK_CYCLES = 25  # cycles of two lines: one second
PUBLISHER = """
import json, sys, time
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
c = paho.Client(CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5)
c.connect("127.0.0.1", int(sys.argv[1]))
c.loop_start()
time.sleep(0.5)
print("ready", flush=True)
for n, _ in enumerate(sys.stdin):  # one message per line the tool writes
    c.publish("bench/plain", json.dumps({"n": n, "sent": time.time()}), qos=1)
time.sleep(0.5)
c.loop_stop()
"""


class Publisher:
    """The broker's own round trip: a separate process that publishes one plain QoS 1
    message, carrying its send time, whenever the tool ticks it."""

    def __init__(self, port: int) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", PUBLISHER, str(port)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        assert self.proc.stdout is not None
        self.proc.stdout.readline()  # connected

    def tick(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(b"\n")
        self.proc.stdin.flush()

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(30)


class Receiver:
    """Subscribes to ``topics`` and keeps (topic, payload, receive time) triples."""

    def __init__(self, port: int, *topics: str) -> None:
        self.got: list[tuple[str, bytes | bytearray, float]] = []
        self.client = paho.Client(CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5)
        # the time of arrival, before anything else (the payload is decoded later)
        self.client.on_message = lambda _c, _u, m: self.got.append(
            (m.topic, m.payload, time.time())
        )
        self.client.connect("127.0.0.1", port)
        self.client.subscribe([(topic, 1) for topic in topics])
        self.client.loop_start()

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def percentiles(ms: list[float]) -> tuple[float, float]:
    p50, p99 = np.percentile(np.array(ms), (50, 99))
    return float(p50), float(p99)


def ratio_interval(
    alerts: list[float], plain: list[float], resamples: int = 2000
) -> tuple[float, float]:
    """A 90 % interval for alert p99 / broker p99, by a moving-block bootstrap over
    the cycles: ``alerts[i]`` and ``plain[i]`` are of the same 40 ms, and blocks of
    one second keep together what a noisy second did to both. The p99 of a few
    hundred samples is their few slowest; the interval says how far the ratio of two
    such figures can move by chance alone."""
    a, b = np.array(alerts), np.array(plain)
    block = min(BLOCK_CYCLES, len(a))
    blocks = -(-len(a) // block)
    rng = np.random.default_rng(0)
    starts = rng.integers(0, len(a) - block + 1, size=(resamples, blocks))
    idx = (starts[:, :, None] + np.arange(block)).reshape(resamples, -1)[:, : len(a)]
    ratios = np.percentile(a[idx], 99, axis=1) / np.percentile(b[idx], 99, axis=1)
    lo, hi = np.percentile(ratios, (5, 95))
    return float(lo), float(hi)


def write_config(
    folder: Path, state: Path, port: int, extra: str, power_safe: bool = True
) -> Path:
    path = folder / "device.yaml"
    path.write_text(
        f"""device: {{id: bench}}
state_dir: {state}
log_level: warning
{extra}
mqtt:
  host: 127.0.0.1
  port: {port}
  outbox: {{power_safe: {str(power_safe).lower()}}}
"""
    )
    return path


def daemon(path: Path, log: Path, code: Path | None = None) -> subprocess.Popen[bytes]:
    """``edgeinfer run`` of this checkout, or of the checkout at ``code``."""
    command = [str(Path(sys.executable).parent / "edgeinfer"), "run", "-c", str(path)]
    cwd = None
    if code is not None:  # python -m imports from the working directory first
        command[:2] = [sys.executable, "-m", "edgeinfer", "run"]
        cwd = code.resolve()
    with log.open("ab") as out:
        return subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, cwd=cwd)


class SerialLine:
    """The sensor's end of the serial line: a pseudo-terminal (a tty, as a USB
    serial adapter is) or a TCP server for ``socket://``."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        if kind == "pty":
            self._master, self._slave = os.openpty()
            self.url = os.ttyname(self._slave)
        else:
            self._server = socket.socket()
            self._server.bind(("127.0.0.1", 0))
            self._server.listen(1)
            self.url = f"socket://127.0.0.1:{self._server.getsockname()[1]}"

    def wait_open(self) -> None:
        """Until the daemon has opened its end (pty: give it the time to start)."""
        if self.kind == "pty":
            time.sleep(3.0)
        else:
            self._conn, _ = self._server.accept()

    def write(self, data: bytes) -> None:
        if self.kind == "pty":
            os.write(self._master, data)
        else:
            self._conn.sendall(data)

    def close(self) -> None:
        if self.kind == "pty":
            os.close(self._master)
            os.close(self._slave)
        else:
            if hasattr(self, "_conn"):
                self._conn.close()
            self._server.close()


def alert_latency(
    folder: Path,
    state: Path,
    port: int,
    count: int,
    *,
    power_safe: bool,
    serial: str,
    code: Path | None = None,
) -> tuple[list[float], list[float]]:
    """Alert latencies (ms) of one daemon run, and the broker's own round trips (ms)
    measured in the same seconds, one plain message between every two lines."""
    line = SerialLine(serial)
    path = write_config(
        folder,
        state,
        port,
        f"""streams:
  - kind: serial
    name: probe
    port: {line.url}
    format: kv
    channels: [{{name: v}}]
rules:
  - {{kind: threshold, name: high, channel: v, above: 100000}}
telemetry: {{interval_s: 3600}}""",
        power_safe,
    )
    rx = Receiver(port, "edgeinfer/bench/alerts", "bench/plain")
    publisher = Publisher(port)  # exits with this tool if what follows fails
    proc = daemon(path, folder / "daemon.log", code)
    sent: dict[int, float] = {}
    try:
        line.wait_open()
        time.sleep(2.0)  # connected to the broker, outbox empty
        for n in range(count):
            line.write(b"v=0\n")
            time.sleep(LINE_PERIOD_S / 2)
            publisher.tick()  # the broker's own trip, between two lines
            time.sleep(LINE_PERIOD_S / 2)
            sent[n] = time.time()
            line.write(f"v={1_000_000 + n}\n".encode())
            time.sleep(LINE_PERIOD_S)
        time.sleep(1.0)
    finally:
        publisher.close()
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
        rx.close()
        line.close()
    alerts: dict[int, float] = {}
    plain: dict[int, float] = {}
    for topic, raw, t in rx.got:
        payload = json.loads(raw)
        if topic == "bench/plain":
            plain[int(payload["n"])] = (t - float(str(payload["sent"]))) * 1e3
            continue
        values = payload["values"]
        assert isinstance(values, dict)
        n = int(values["value"]) - 1_000_000
        alerts[n] = (t - sent[n]) * 1e3
    if len(alerts) < count or len(plain) < count:
        print(f"missing: {count - len(alerts)} alerts, {count - len(plain)} plain")
    cycles = sorted(alerts.keys() & plain.keys())  # the pairs of the same 40 ms
    return [alerts[n] for n in cycles], [plain[n] for n in cycles]


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def idle_cpu(folder: Path, state: Path, port: int, interval: float) -> float:
    path = write_config(folder, state, port, f"telemetry: {{interval_s: {interval}}}")
    proc = daemon(path, folder / "daemon.log")
    try:
        time.sleep(3.0)  # imports and connect done
        before, t0 = cpu_seconds(proc.pid), time.monotonic()
        time.sleep(20.0)
        used = cpu_seconds(proc.pid) - before
        return used / (time.monotonic() - t0)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)


def compare(other: Path, rounds: int, count: int, serial: str) -> None:
    """Alert latency of this checkout and of ``other`` in alternating rounds."""
    if not (other / "edgeinfer" / "__init__.py").is_file():
        sys.exit(f"{other} is not a checkout of this project (no edgeinfer/ in it)")
    folder = Path(tempfile.mkdtemp(prefix="bench-mqtt-"))
    broker = Broker(folder / "broker")
    broker.start()
    runs: dict[str, tuple[list[float], list[float]]] = {
        "this checkout": ([], []),
        str(other): ([], []),
    }
    # each round's alert over broker, p50 and p99: the machine's drift cancels out
    ratios: dict[str, list[tuple[float, float]]] = {name: [] for name in runs}
    try:
        for r in range(rounds):
            for name, code in (("this checkout", None), (str(other), other)):
                alerts, plain = alert_latency(
                    folder,
                    folder / f"state-{r}-{code is None}",
                    broker.port,
                    count,
                    power_safe=True,
                    serial=serial,
                    code=code,
                )
                runs[name][0].extend(alerts)
                runs[name][1].extend(plain)
                (a50, a99), (b50, b99) = percentiles(alerts), percentiles(plain)
                ratios[name].append((a50 / b50, a99 / b99))
                print(
                    f"round {r + 1}, {name}: p50 {a50:.2f}, p99 {a99:.2f} ms; "
                    f"broker {b50:.2f} / {b99:.2f} ms; "
                    f"ratios {a50 / b50:.2f} / {a99 / b99:.2f}"
                )
    finally:
        broker.stop()
    print(f"\n{rounds} rounds of {count} alerts each\n")
    print(
        "| daemon | alert p50, ms | alert p99, ms | broker p50 / p99, same seconds "
        "| alert / broker, median of the rounds, p50 / p99 |"
    )
    print("|---|---|---|---|---|")
    for name, (alerts, plain) in runs.items():
        a50, a99 = percentiles(alerts)
        b50, b99 = percentiles(plain)
        r50, r99 = np.median(np.array(ratios[name]), axis=0)
        print(
            f"| {name} | {a50:.2f} | {a99:.2f} | {b50:.2f} / {b99:.2f} "
            f"| {r50:.2f} / {r99:.2f} |"
        )
    shutil.rmtree(folder, ignore_errors=True)


def burst_latency(port: int, count: int, nodelay: bool) -> list[list[float]]:
    """Publish-to-receive (ms) of the 1st, 2nd and 3rd message of ``count`` bursts of
    QoS 0 messages, from paho with or without the daemon's ``no_delay``."""
    rx = Receiver(port, "bench/burst")
    pub = paho.Client(CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5)
    if nodelay:
        pub.on_socket_open = no_delay
    pub.connect("127.0.0.1", port)
    pub.loop_start()
    time.sleep(0.5)
    try:
        for _ in range(count):
            for place in range(3):
                body = json.dumps({"place": place, "sent": time.time()})
                pub.publish("bench/burst", body, qos=0)
            time.sleep(0.05)
        time.sleep(0.5)
    finally:
        pub.disconnect()
        pub.loop_stop()
        rx.close()
    by_place: list[list[float]] = [[], [], []]
    for _topic, raw, t in rx.got:
        body = json.loads(raw)
        by_place[body["place"]].append((t - body["sent"]) * 1e3)
    return by_place


def bursts(count: int) -> None:
    """Alternating runs of ``burst_latency`` with paho's socket and the daemon's."""
    folder = Path(tempfile.mkdtemp(prefix="bench-mqtt-"))
    broker = Broker(folder / "broker")
    broker.start()
    try:
        runs = [
            (name, burst_latency(broker.port, count, nodelay))
            for _ in range(2)
            for name, nodelay in (("paho's default", False), ("no_delay", True))
        ]
    finally:
        broker.stop()
    print(f"{count} bursts of 3 QoS 0 messages, 50 ms apart, per run\n")
    print("| socket | 1st p50 / p99, ms | 2nd | 3rd | over 20 ms |")
    print("|---|---|---|---|---|")
    for name, places in runs:
        cells = " | ".join("{:.2f} / {:.2f}".format(*percentiles(ms)) for ms in places)
        slow = sum(ms > 20 for place in places for ms in place)
        print(f"| {name} | {cells} | {slow} of {sum(map(len, places))} |")
    shutil.rmtree(folder, ignore_errors=True)


def row(name: str, alerts: list[float], plain: list[float]) -> str:
    """A table row: the broker's and the alerts' p50 / p99, and the target."""
    b50, b99 = percentiles(plain)
    a50, a99 = percentiles(alerts)
    lo, hi = ratio_interval(alerts, plain)
    verdict = "met" if a99 <= 2 * b99 else "not met"
    return (
        f"| {name} | {len(alerts)} | {b50:.2f} / {b99:.2f} | {a50:.2f} / {a99:.2f} | "
        f"{a99 / b99:.2f}: {verdict} | {lo:.2f} to {hi:.2f} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=300, help="messages per test")
    parser.add_argument("--state-dir", type=Path, help="default: a temporary folder")
    parser.add_argument(
        "--serial", choices=("pty", "socket"), default="pty", help="the serial line"
    )
    parser.add_argument(
        "--compare", type=Path, help="another checkout to alternate rounds with"
    )
    parser.add_argument(
        "--rounds", type=int, help="runs of each mode (default 1; with --compare 4)"
    )
    parser.add_argument(
        "--bursts", type=int, help="only the socket setting: this many bursts"
    )
    args = parser.parse_args()
    if args.bursts:
        bursts(args.bursts)
        return
    if args.compare is not None:
        compare(args.compare, args.rounds or 4, args.count, args.serial)
        return
    folder = Path(tempfile.mkdtemp(prefix="bench-mqtt-"))
    state = args.state_dir or folder / "state"
    broker = Broker(folder / "broker")
    broker.start()
    modes = (("power_safe", True), ("not power_safe", False))
    runs: list[tuple[str, list[float], list[float]]] = []
    rounds = args.rounds or 1
    try:
        for r in range(rounds):
            for name, power_safe in modes:
                alerts, plain = alert_latency(
                    folder,
                    state,
                    broker.port,
                    args.count,
                    power_safe=power_safe,
                    serial=args.serial,
                )
                runs.append((f"round {r + 1}, {name}", alerts, plain))
        with_telemetry = idle_cpu(folder, state, broker.port, 1.0)
        without = idle_cpu(folder, state, broker.port, 3600.0)
    finally:
        broker.stop()
    state.mkdir(parents=True, exist_ok=True)
    df = shutil.which("df") or "/bin/df"
    fs = subprocess.run(
        [df, "--output=fstype", str(state)], capture_output=True, text=True, check=False
    ).stdout.split()[-1]
    print(
        f"state_dir on {fs}; serial line over {args.serial}; {rounds} round(s) of "
        f"{args.count} alerts per mode\n"
    )
    print(
        "| run | alerts | broker p50 / p99, ms | serial line to alert p50 / p99, ms "
        "| alert p99 / broker p99 (target: at most 2) | 90 % interval |"
    )
    print("|---|---|---|---|---|---|")
    for name, alerts, plain in runs:
        print(row(name, alerts, plain))
    if rounds > 1:
        for name, _ in modes:
            pooled = [run for run in runs if run[0].endswith(f", {name}")]
            alerts = [ms for run in pooled for ms in run[1]]
            plain = [ms for run in pooled for ms in run[2]]
            print(row(f"all rounds, {name}", alerts, plain))
    cost = 100.0 * (with_telemetry - without)
    verdict = "met" if cost < 2 else "not met"
    print(
        f"\ntelemetry at 1 Hz: {cost:.2f} % of one core (target under 2: {verdict}; "
        f"idle daemon {100 * without:.2f} %)"
    )
    shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
