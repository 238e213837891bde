"""The pipeline's small parts: debounce, latest-frame slots, motion gate, alert log."""

from __future__ import annotations

import json
import re
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from edgeinfer.mqtt.messages import json_message
from edgeinfer.pipeline.gate import MotionGate
from edgeinfer.pipeline.slots import FrameHub
from edgeinfer.pipeline.stats import LatencyWindow, StreamStats
from edgeinfer.rules.alert import Alert
from edgeinfer.rules.sensor import ThresholdRule
from edgeinfer.rules.trigger import Trigger
from edgeinfer.sinks.alertlog import AlertLog
from edgeinfer.sources.base import Backoff, Frame, Reading
from edgeinfer.sources.ordered import OrderedSink


def frame(stream: str, seq: int, value: int = 0) -> Frame:
    return Frame(stream, seq, float(seq), np.full((32, 32, 3), value, np.uint8))


def test_trigger_needs_consecutive_hits_and_rearms_after_a_miss() -> None:
    trig = Trigger(consecutive=3)
    fired = [
        trig.update(hit, t)
        for t, hit in enumerate([1, 1, 0, 1, 1, 1, 1, 1, 0, 1, 1, 1])
    ]
    assert [i for i, f in enumerate(fired) if f] == [5, 11]


def test_trigger_cooldown_spaces_alerts() -> None:
    trig = Trigger(consecutive=1, cooldown_s=10)
    times = [0, 1, 2, 5, 6, 12, 13]
    hits = [True, False, True, False, True, False, True]
    fired = [t for t, h in zip(times, hits, strict=True) if trig.update(h, t)]
    assert fired == [0, 13]


def test_hub_keeps_only_the_latest_frame_and_counts_drops() -> None:
    hub, stats = FrameHub(), StreamStats()
    hub.add_stream("cam", stats)
    for seq in range(5):
        hub.put(frame("cam", seq))
    item = hub.take(timeout=0.1)
    assert item is not None
    assert item[0].seq == 4
    assert stats.dropped == 4


def test_hub_gives_a_stream_to_one_worker_at_a_time_round_robin() -> None:
    hub = FrameHub()
    for name in ("a", "b"):
        hub.add_stream(name, StreamStats())
    hub.put(frame("a", 1))
    hub.put(frame("b", 1))
    first = hub.take(timeout=0.1)
    second = hub.take(timeout=0.1)
    assert first is not None
    assert second is not None
    assert {first[0].stream, second[0].stream} == {"a", "b"}
    hub.put(frame("a", 2))
    assert hub.take(timeout=0.05) is None  # a is still held by a worker
    hub.release("a")
    again = hub.take(timeout=0.1)
    assert again is not None
    assert (again[0].stream, again[0].seq) == ("a", 2)


def test_a_deep_stream_is_in_several_workers_and_delivered_in_order() -> None:
    hub = FrameHub()
    hub.add_stream("cam", StreamStats(), depth=2)
    taken = []
    for seq in (1, 2, 3):
        hub.put(frame("cam", seq))
        item = hub.take(timeout=0.05)
        if item is not None:
            taken.append(item[0])
    assert [f.seq for f in taken] == [1, 2]  # the third waits: two are in flight
    delivered: list[int] = []
    hub.finish(taken[1], 2, delivered.append)  # the later frame finishes first
    assert delivered == []  # held back until frame 1 is delivered
    hub.finish(taken[0], 1, delivered.append)
    assert delivered == [1, 2]
    third = hub.take(timeout=0.1)
    assert third is not None
    assert third[0].seq == 3
    hub.finish(third[0], None, delivered.append)  # a failed frame is skipped
    assert delivered == [1, 2]
    assert hub.pending() == 0


def test_workers_on_one_stream_keep_its_frames_in_order() -> None:
    hub = FrameHub()
    hub.add_stream("cam", StreamStats(), depth=3)
    delivered: list[int] = []
    done = threading.Event()

    def worker() -> None:
        while not done.is_set():
            item = hub.take(timeout=0.05)
            if item is None:
                continue
            time.sleep(0.001 * (item[0].seq % 3))  # finish out of order
            hub.finish(item[0], item[0].seq, delivered.append)

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for t in threads:
        t.start()
    for seq in range(200):
        hub.put(frame("cam", seq), wait=True)
    deadline = time.monotonic() + 5
    while hub.pending() and time.monotonic() < deadline:
        time.sleep(0.01)
    done.set()
    for t in threads:
        t.join(1)
    assert delivered == list(range(200))  # lossless with wait, and in order


def test_waiting_sources_and_workers_are_woken_without_polling() -> None:
    # Four sources wait for their slots, four workers for frames, with timeouts far
    # longer than the run: a wake-up lost between them would stall it for seconds.
    hub = FrameHub()
    streams = [f"s{i}" for i in range(4)]
    for name in streams:
        hub.add_stream(name, StreamStats(), depth=2)
    delivered: dict[str, list[int]] = {name: [] for name in streams}

    def worker() -> None:
        while (item := hub.take(timeout=30)) is not None:
            f = item[0]
            hub.finish(f, f.seq, delivered[f.stream].append)

    def source(name: str) -> None:
        for seq in range(300):
            hub.put(frame(name, seq), wait=True)

    workers = [threading.Thread(target=worker) for _ in range(4)]
    sources = [threading.Thread(target=source, args=(n,)) for n in streams]
    start = time.monotonic()
    for t in workers + sources:
        t.start()
    for t in sources:
        t.join(30)
    while hub.pending() and time.monotonic() - start < 30:
        time.sleep(0.001)
    elapsed = time.monotonic() - start
    hub.close()
    for t in workers:
        t.join(5)
    assert all(d == list(range(300)) for d in delivered.values())
    assert elapsed < 3.0  # 1200 hand-overs; one lost wake-up alone costs 0.2 s


def test_gated_frame_replacing_an_ungated_one_still_runs() -> None:
    hub = FrameHub()
    hub.add_stream("cam", StreamStats())
    hub.put(frame("cam", 1), gated=False)
    hub.put(frame("cam", 2), gated=True)
    item = hub.take(timeout=0.1)
    assert item is not None
    assert item[1] is False


def test_hub_close_wakes_waiting_workers() -> None:
    hub = FrameHub()
    hub.add_stream("cam", StreamStats())
    results: list[object] = []
    t = threading.Thread(target=lambda: results.append(hub.take(timeout=5)))
    t.start()
    hub.close()
    t.join(1)
    assert results == [None]


def test_motion_gate_passes_changes_and_gates_still_frames() -> None:
    gate = MotionGate(threshold=2.0)
    still = np.full((120, 160, 3), 100, np.uint8)
    assert gate.check(still) is False  # first frame sets the reference
    assert gate.check(still + 1) is True
    moved = still.copy()
    moved[20:80, 40:120] = 250
    assert gate.check(moved) is False
    assert gate.check(moved) is True


def test_latency_window_percentiles() -> None:
    win = LatencyWindow(size=100)
    for v in range(1, 201):
        win.add(float(v))
    p = win.percentiles()
    assert p["p50"] == pytest.approx(150.5)
    assert p["p99"] > p["p95"] > p["p50"]


@pytest.mark.parametrize("n", [1, 2, 7, 100, 1024])
def test_latency_percentiles_match_numpy(n: int) -> None:
    values = np.random.default_rng(n).lognormal(1.0, 0.8, n)
    win = LatencyWindow(size=1024)
    for v in values:
        win.add(float(v))
    expected = np.percentile(values, (50, 95, 99))
    got = win.percentiles()
    assert [got["p50"], got["p95"], got["p99"]] == pytest.approx(
        [round(float(e), 3) for e in expected], abs=1e-3
    )


def test_backoff_grows_to_its_cap() -> None:
    b = Backoff(initial=0.5, cap=4.0, jitter=0.0)
    assert [b.next() for _ in range(5)] == [0.5, 1.0, 2.0, 4.0, 4.0]
    b.reset()
    assert b.next() == 0.5


def test_threshold_rule_ignores_nan_and_reports_the_file_time() -> None:
    rule = ThresholdRule("hot", "t", above=30.0, samples=2)
    vals = [25.0, 31.0, float("nan"), 32.0, 33.0, 34.0]
    alerts = [
        a
        for i, v in enumerate(vals)
        if (a := rule.on_reading(Reading("s", i, 1000.0 + i, {"t": v}, f"row{i}")))
    ]
    assert len(alerts) == 1
    assert alerts[0].source_time == "row4"
    assert alerts[0].values == {"channel": "t", "value": 33.0, "above": 30.0}
    assert alerts[0].to_json()["timestamp"] == "row4"


def test_alert_log_keeps_alerts_in_order_with_snapshots(tmp_path: Path) -> None:
    log = AlertLog(tmp_path / "alerts.db")
    ids = []
    for i in range(5):
        alert = Alert(
            "cam",
            "r",
            "warning",
            1000.0 + i,
            {"i": i},
            snapshot=b"jpeg" if i == 2 else None,
        )
        log.append(alert)
        ids.append(alert.id)
    log.append(
        Alert("cam", "r", "warning", 0, {}, id=ids[0])
    )  # a duplicate id is ignored
    assert log.count() == 5
    rows = log.tail(3)
    assert [body["values"]["i"] for _, body in rows] == [2, 3, 4]
    assert log.snapshot(ids[2]) == b"jpeg"
    after = rows[0][0]
    assert [b["values"]["i"] for _, b in log.tail(10, after=after)] == [3, 4]
    log.close()
    reopened = AlertLog(tmp_path / "alerts.db")
    assert reopened.count() == 5
    reopened.close()


def test_an_ordered_sink_makes_a_full_queue_wait_for_room() -> None:
    got: list[int] = []
    out: OrderedSink[int] = OrderedSink(got.append, 3)
    for n in range(3):
        out.put(n)
    assert len(out) == 3
    assert not out.wait_for_room(0.05)  # full
    waited = threading.Event()

    def wait_then_put() -> None:
        while not out.wait_for_room(0.05):
            pass
        waited.set()

    threading.Thread(target=wait_then_put, daemon=True).start()
    assert not waited.wait(0.2)
    out.deliver()  # the waiting thread goes on
    assert waited.wait(2)
    assert got == [0, 1, 2]
    assert len(out) == 0


def test_a_put_into_a_full_ordered_sink_delivers_first() -> None:
    got: list[int] = []
    out: OrderedSink[int] = OrderedSink(got.append, 2)
    for n in range(5):  # one read that framed more lines than there is room for
        out.put(n)
        assert len(out) <= 2
    assert got == [0, 1, 2, 3]
    out.deliver()
    assert got == [0, 1, 2, 3, 4]


def test_an_ordered_sink_delivers_one_at_a_time_in_order_from_two_threads() -> None:
    got: list[int] = []
    busy = threading.Lock()
    overlaps = 0
    lock = threading.Lock()  # what a source's read lock does: puts in order
    counter = iter(range(20_000))

    def sink(n: int) -> None:
        nonlocal overlaps
        if not busy.acquire(blocking=False):
            overlaps += 1
            return
        try:
            got.append(n)
            if n % 500 == 0:
                time.sleep(0.002)  # now and then slower than the producers
        finally:
            busy.release()

    out: OrderedSink[int] = OrderedSink(sink, 64)

    def produce() -> None:
        while True:
            while not out.wait_for_room(0.05):
                pass
            with lock:
                n = next(counter, None)
                if n is None:
                    return
                out.put(n)
            out.deliver()

    threads = [threading.Thread(target=produce) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert overlaps == 0
    assert got == list(range(20_000))
    assert len(out) == 0


def test_an_ordered_sink_passes_the_sinks_error_on_and_goes_on_after_it() -> None:
    got: list[int] = []

    def sink(n: int) -> None:
        if n == 1:
            raise RuntimeError("rule failed")
        got.append(n)

    out: OrderedSink[int] = OrderedSink(sink, 8)
    for n in range(3):
        out.put(n)
    with pytest.raises(RuntimeError, match="rule failed"):
        out.deliver()
    out.deliver()  # not left locked
    assert got == [0, 2]


def test_an_ordered_sink_holds_at_least_one_item() -> None:
    with pytest.raises(ValueError, match="at least 1 item, not 0"):
        OrderedSink(print, 0)


@pytest.mark.parametrize(
    "alert",
    [
        Alert("s", "over", "warning", 1700000000.25, {"v": 1.5}),
        Alert("s", "over", "info", 1700000000.123, {"v": 2}, "1700000000123"),
        Alert("cam", "person", "critical", 1700000001.0, {"score": 0.9}, "", "m", "3"),
    ],
)
def test_an_alert_read_back_from_its_json_encodes_to_the_same_bytes(
    alert: Alert,
) -> None:
    back = Alert.from_json(json.loads(alert.encoded))
    assert back.encoded == alert.encoded
    assert back.id == alert.id
    assert back.timestamp == pytest.approx(alert.timestamp, abs=0.001)


def test_alerts_and_messages_get_distinct_ids_of_32_hex_digits() -> None:
    ids = [Alert("s", "r", "info", 0.0, {}).id for _ in range(500)]
    ids += [json_message("t", "telemetry", {}).id for _ in range(500)]
    assert len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids)
