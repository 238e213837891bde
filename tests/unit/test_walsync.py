"""Flushing off the data path: a slow or failing disk (an SD card's fsync can take tens
of milliseconds) holds up neither the alert log nor the outbox, flushes asked for during
one are done together by the next, and closing waits for what was asked.

The disk here is fast, so these tests slow ``os.fsync`` down, or make it fail, for
their duration; everything else is the real SQLite on a real file."""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path

import pytest

from edgeinfer import walsync
from edgeinfer.mqtt.messages import Message
from edgeinfer.mqtt.outbox import Outbox
from edgeinfer.rules.alert import Alert
from edgeinfer.sinks.alertlog import AlertLog
from edgeinfer.walsync import CHECKPOINT_EVERY

SLOW_S = 0.3
REAL_FSYNC = os.fsync


class SlowDisk:
    """``os.fsync`` that takes ``SLOW_S`` (or raises for the first ``fail`` calls),
    recording when each call started and which file it flushed."""

    def __init__(self, fail: int = 0) -> None:
        self.fail = fail
        self.calls: list[tuple[float, str]] = []
        self.done = threading.Event()

    def __call__(self, fd: int) -> None:
        self.calls.append((time.monotonic(), os.readlink(f"/proc/self/fd/{fd}")))
        if self.fail:
            self.fail -= 1
            raise OSError(5, "Input/output error")
        time.sleep(SLOW_S)
        REAL_FSYNC(fd)
        self.done.set()


@pytest.fixture
def slow_disk(monkeypatch: pytest.MonkeyPatch) -> SlowDisk:
    disk = SlowDisk()
    monkeypatch.setattr(walsync.os, "fsync", disk)
    return disk


def alert(i: int) -> Alert:
    return Alert("s", "r", "warning", 1000.0 + i, {"i": i})


def wait_for(predicate: object, timeout: float = 5.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.01)
    return False


def test_alerts_are_stored_at_once_while_a_slow_flush_runs(
    tmp_path: Path, slow_disk: SlowDisk
) -> None:
    path = tmp_path / "alerts.db"
    log = AlertLog(path)
    start = time.monotonic()
    for i in range(10):  # as Daemon.emit does, one alert after the other
        log.append(alert(i), sync=False)
        last_asked = time.monotonic()
        log.sync(wait=False)
    assert time.monotonic() - start < SLOW_S  # not one flush waited for
    # Another process (``edgeinfer alerts``) reads them at once.
    reader = AlertLog(path)
    assert reader.count() == 10
    reader.close()
    log.close()  # waits for the flushes asked for
    # Ten flushes asked for: the first may start before the others are asked for,
    # and those wait and go as one; the last flush starts after the last alert.
    assert 1 <= len(slow_disk.calls) <= 2, slow_disk.calls
    assert all(name.endswith("alerts.db-wal") for _, name in slow_disk.calls)
    assert slow_disk.calls[-1][0] >= last_asked
    assert time.monotonic() - slow_disk.calls[-1][0] >= SLOW_S * 0.9
    assert log.flush_failures == 0


def test_close_finishes_the_flush_asked_for(
    tmp_path: Path, slow_disk: SlowDisk
) -> None:
    log = AlertLog(tmp_path / "alerts.db")
    log.append(alert(0), sync=False)
    log.sync(wait=False)
    log.close()
    assert slow_disk.done.is_set()
    reopened = AlertLog(tmp_path / "alerts.db")
    assert reopened.count() == 1
    reopened.close()


def test_the_outbox_publishes_without_waiting_for_its_flush(
    tmp_path: Path, slow_disk: SlowDisk
) -> None:
    box = Outbox(tmp_path / "outbox.db")
    start = time.monotonic()
    for i in range(5):
        box.put(Message("t/alerts", b"{}", kind="alert", id=f"m{i}"), sync=False)
        box.sync(wait=False)
    assert time.monotonic() - start < SLOW_S
    assert [m.id for m in box.pending(10)] == [f"m{i}" for i in range(5)]
    box.close()
    assert 1 <= len(slow_disk.calls) <= 2
    assert all(name.endswith("outbox.db-wal") for _, name in slow_disk.calls)


def test_a_failed_flush_is_counted_logged_and_tried_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    disk = SlowDisk(fail=1)
    monkeypatch.setattr(walsync.os, "fsync", disk)
    log = AlertLog(tmp_path / "alerts.db")
    with caplog.at_level(logging.ERROR, logger="edgeinfer.walsync"):
        log.append(alert(0), sync=False)
        log.sync(wait=False)
        assert wait_for(lambda: log.flush_failures == 1)
        log.append(alert(1), sync=False)
        log.sync(wait=False)
        log.close()
    assert len(disk.calls) == 2
    assert disk.done.is_set()  # the second flush went through
    assert "Input/output error" in caplog.text


def test_background_flushes_keep_checkpointing(tmp_path: Path) -> None:
    """Checkpoints run on a connection of their own: the WAL stays bounded when every
    flush is a background one, as it is in the daemon."""
    path = tmp_path / "alerts.db"
    log = AlertLog(path)
    sizes = []
    for i in range(3 * CHECKPOINT_EVERY):
        log.append(alert(i), sync=False)
        log.sync(wait=False)
        if i % CHECKPOINT_EVERY == CHECKPOINT_EVERY - 1:
            log.sync()  # wait for the thread, then look at the file
            sizes.append(Path(f"{path}-wal").stat().st_size)
    assert log.count() == 3 * CHECKPOINT_EVERY
    assert max(sizes) < 1.5 * sizes[0]
    log.close()
    assert not Path(f"{path}-wal").exists()  # the last close checkpointed it all


def test_each_commit_writes_little_to_the_wal(tmp_path: Path) -> None:
    """Small pages: a commit writes each page it changed in full, so an outbox
    message, stored and then deleted on its ack, and an alert in the log each write a
    few KB to the WAL (with 4 KB pages: 29 KB and 13 KB), less wear on an SD card."""
    box = Outbox(tmp_path / "outbox.db")
    log = AlertLog(tmp_path / "alerts.db")
    count = 100
    for i in range(count):
        body = f'{{"id": "m{i}", "value": {i}}}'.encode()
        stored = box.put(Message("dev/alerts", body, "alert", id=f"m{i}"), sync=False)
        box.ack([stored.seq])
        log.append(alert(i), sync=False)
    assert Path(f"{box.path}-wal").stat().st_size / count < 8_000
    assert Path(f"{log.path}-wal").stat().st_size / count < 5_000
    box.close()
    log.close()
