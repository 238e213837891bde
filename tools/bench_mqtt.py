"""Measure MQTT delivery against the broker's own speed, and what telemetry costs.

    python tools/bench_mqtt.py [--count 300] [--state-dir DIR] [--serial pty|socket]
    python tools/bench_mqtt.py --compare OTHER_CHECKOUT [--rounds 4] [--count 300]

(a) the broker alone: a separate publisher process sends QoS 1 messages carrying their
    send time to a topic this tool subscribes to; publish-to-receive p50/p99;
(b) the daemon: ``edgeinfer run`` reads a serial stream from a pseudo-terminal whose
    other end this tool holds (``--serial socket`` instead serves it over TCP to
    ``socket://``); the tool writes one line every 20 ms; every second line crosses a
    threshold and raises an alert; from writing the line to receiving the alert here,
    p50/p99. The alert passes the alert log (fsynced) and the outbox: once with
    ``mqtt.outbox.power_safe`` (fsynced too, the default), once without;
(c) telemetry at 1 Hz: CPU of an ``edgeinfer run`` without streams over 20 s with
    ``telemetry.interval_s: 1``, less the same with telemetry off, in % of one core.

With ``--compare``, only (b) with ``power_safe``: rounds alternate between this
checkout's daemon and the one of another checkout (``git worktree add ../old REV``), so
that a change is measured against the code before it on the same broker, with the
machine's drift spread over both.

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

from tests.mosquitto import Broker  # noqa: E402 -- the tests' broker helper

LINE_PERIOD_S = 0.02
PUBLISHER = """
import json, sys, time
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
port, count = int(sys.argv[1]), int(sys.argv[2])
c = paho.Client(CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5)
c.connect("127.0.0.1", port)
c.loop_start()
time.sleep(0.5)
for n in range(count):
    c.publish("bench/plain", json.dumps({"n": n, "sent": time.time()}), qos=1)
    time.sleep(PERIOD)
time.sleep(0.5)
c.loop_stop()
""".replace("PERIOD", str(LINE_PERIOD_S * 2))


class Receiver:
    """Subscribes to ``topic`` and keeps (payload, receive time) pairs."""

    def __init__(self, port: int, topic: str) -> None:
        self.got: list[tuple[dict[str, object], float]] = []
        self.client = paho.Client(CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5)
        self.client.on_message = lambda _c, _u, m: self.got.append(
            (json.loads(m.payload), time.time())
        )
        self.client.connect("127.0.0.1", port)
        self.client.subscribe(topic, 1)
        self.client.loop_start()

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def percentiles(ms: list[float]) -> tuple[float, float]:
    p50, p99 = np.percentile(np.array(ms), (50, 99))
    return float(p50), float(p99)


def broker_round_trip(port: int, count: int) -> list[float]:
    rx = Receiver(port, "bench/plain")
    time.sleep(0.3)
    subprocess.run([sys.executable, "-c", PUBLISHER, str(port), str(count)], check=True)
    rx.close()
    return [(t - float(str(p["sent"]))) * 1e3 for p, t in rx.got]


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
) -> list[float]:
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
    rx = Receiver(port, "edgeinfer/bench/alerts")
    proc = daemon(path, folder / "daemon.log", code)
    sent: dict[int, float] = {}
    try:
        line.wait_open()
        time.sleep(2.0)  # connected to the broker, outbox empty
        for n in range(count):
            line.write(b"v=0\n")
            time.sleep(LINE_PERIOD_S)
            sent[n] = time.time()
            line.write(f"v={1_000_000 + n}\n".encode())
            time.sleep(LINE_PERIOD_S)
        time.sleep(1.0)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
        rx.close()
        line.close()
    out = []
    for payload, t in rx.got:
        values = payload["values"]
        assert isinstance(values, dict)
        n = int(values["value"]) - 1_000_000
        out.append((t - sent[n]) * 1e3)
    return out


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
    plain: list[float] = []
    runs: dict[str, list[float]] = {"this checkout": [], str(other): []}
    try:
        for r in range(rounds):
            plain += broker_round_trip(broker.port, count)
            for name, code in (("this checkout", None), (str(other), other)):
                ms = alert_latency(
                    folder,
                    folder / f"state-{r}-{code is None}",
                    broker.port,
                    count,
                    power_safe=True,
                    serial=serial,
                    code=code,
                )
                runs[name] += ms
                a50, a99 = percentiles(ms)
                print(f"round {r + 1}, {name}: p50 {a50:.2f}, p99 {a99:.2f} ms")
    finally:
        broker.stop()
    print(f"\n{rounds} rounds of {count} alerts each\n")
    print("| daemon | alert p50, ms | alert p99, ms |")
    print("|---|---|---|")
    b50, b99 = percentiles(plain)
    print(f"| (broker publish-to-receive) | {b50:.2f} | {b99:.2f} |")
    for name, ms in runs.items():
        a50, a99 = percentiles(ms)
        print(f"| {name} | {a50:.2f} | {a99:.2f} |")
    shutil.rmtree(folder, ignore_errors=True)


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
    parser.add_argument("--rounds", type=int, default=4, help="with --compare")
    args = parser.parse_args()
    if args.compare is not None:
        compare(args.compare, args.rounds, args.count, args.serial)
        return
    folder = Path(tempfile.mkdtemp(prefix="bench-mqtt-"))
    state = args.state_dir or folder / "state"
    broker = Broker(folder / "broker")
    broker.start()
    try:
        plain = broker_round_trip(broker.port, args.count)
        alerts = alert_latency(
            folder, state, broker.port, args.count, power_safe=True, serial=args.serial
        )
        fast = alert_latency(
            folder, state, broker.port, args.count, power_safe=False, serial=args.serial
        )
        with_telemetry = idle_cpu(folder, state, broker.port, 1.0)
        without = idle_cpu(folder, state, broker.port, 3600.0)
    finally:
        broker.stop()
    state.mkdir(parents=True, exist_ok=True)
    df = shutil.which("df") or "/bin/df"
    fs = subprocess.run(
        [df, "--output=fstype", str(state)], capture_output=True, text=True, check=False
    ).stdout.split()[-1]
    b50, b99 = percentiles(plain)
    cost = 100.0 * (with_telemetry - without)
    print(
        f"state_dir on {fs}; serial line over {args.serial}; {len(plain)} plain "
        f"messages, {len(alerts)} alerts\n"
    )
    print("| measure | p50 | p99 | target |")
    print("|---|---|---|---|")
    print(f"| broker publish-to-receive, ms | {b50:.2f} | {b99:.2f} | - |")
    for name, ms in (("power_safe", alerts), ("not power_safe", fast)):
        a50, a99 = percentiles(ms)
        verdict = "met" if a99 <= 2 * b99 else "not met"
        print(
            f"| serial line to alert received (outbox {name}), ms | {a50:.2f} | "
            f"{a99:.2f} | p99 at most 2x {b99:.2f}: {verdict} |"
        )
    verdict = "met" if cost < 2 else "not met"
    print(
        f"| telemetry at 1 Hz, % of one core | {cost:.2f} | - | under 2: {verdict} "
        f"(idle daemon {100 * without:.2f} %) |"
    )
    shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
