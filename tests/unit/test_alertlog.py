"""The alert log: bounded in bytes (snapshots go before alerts), and durable through
kill -9 of the process writing it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from edgeinfer.app import Daemon
from edgeinfer.config import parse_config
from edgeinfer.rules.alert import Alert
from edgeinfer.sinks.alertlog import _CHECK_EVERY, AlertLog
from edgeinfer.walsync import CHECKPOINT_EVERY

SNAPSHOT = os.urandom(40_000)  # incompressible, like a JPEG


def alert(i: int, snapshot: bool = True) -> Alert:
    return Alert(
        "cam",
        "r",
        "warning",
        1000.0 + i,
        {"i": i},
        snapshot=SNAPSHOT if snapshot else None,
    )


def test_snapshots_of_the_oldest_alerts_go_first_when_over_the_bound(
    tmp_path: Path,
) -> None:
    path = tmp_path / "alerts.db"
    log = AlertLog(path, max_bytes=1 << 20)
    alerts = [alert(i) for i in range(100)]  # 4 MB of snapshots
    for a in alerts:
        log.append(a)
    assert log.used_bytes() <= 1 << 20
    assert log.count() == 100  # every alert kept; only old snapshots dropped
    assert log.snapshot(alerts[-1].id) == SNAPSHOT
    assert log.snapshot(alerts[0].id) is None
    assert log.pruned_snapshots > 70
    assert log.pruned_alerts == 0
    log.close()
    assert path.stat().st_size <= 1.3 * (1 << 20)  # pages are reused in place


def test_oldest_alerts_go_when_alerts_alone_exceed_the_bound(tmp_path: Path) -> None:
    log = AlertLog(tmp_path / "alerts.db", max_bytes=64 << 10)
    appends = 47 * _CHECK_EVERY  # the size is checked every _CHECK_EVERY appends
    for i in range(appends):
        log.append(alert(i, snapshot=False))
    assert log.used_bytes() <= 64 << 10  # the last append was checked
    assert 0 < log.count() < appends
    assert log.pruned_alerts == appends - log.count()
    newest = [body["values"]["i"] for _, body in log.tail(3)]
    assert newest == [appends - 3, appends - 2, appends - 1]
    log.close()


_WRITER = """
import sys
from edgeinfer.rules.alert import Alert
from edgeinfer.sinks.alertlog import _CHECK_EVERY, AlertLog
log = AlertLog(__import__("pathlib").Path(sys.argv[1]))
i = 0
while True:
    a = Alert("cam", "r", "warning", float(i), {"i": i}, snapshot=b"x" * 5000)
    log.append(a)
    print(a.id, flush=True)  # acknowledged: it must survive what follows
    i += 1
"""


def test_every_acknowledged_alert_survives_kill_9(tmp_path: Path) -> None:
    path = tmp_path / "alerts.db"
    proc = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(path)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    acknowledged = [proc.stdout.readline().strip() for _ in range(200)]
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    acknowledged += [line.strip() for line in proc.stdout if len(line.strip()) == 32]
    proc.stdout.close()
    log = AlertLog(path)
    ids = {body["id"] for _, body in log.tail(100_000)}
    assert set(acknowledged) <= ids
    assert log.count() >= len(acknowledged)
    log.close()


def test_an_unflushed_alert_is_visible_to_readers_and_the_wal_stays_bounded(
    tmp_path: Path,
) -> None:
    """``append(sync=False)`` commits (another process, like ``edgeinfer alerts``,
    reads it at once); checkpoints taken on ``sync`` keep the WAL from growing."""
    path = tmp_path / "alerts.db"
    log = AlertLog(path)
    first = alert(0, snapshot=False)
    log.append(first, sync=False)
    reader = AlertLog(path)
    try:
        assert [body["id"] for _, body in reader.tail()] == [first.id]
    finally:
        reader.close()
    log.sync()
    sizes = []
    for i in range(1, 3 * CHECKPOINT_EVERY):
        log.append(alert(i, snapshot=False), sync=False)
        log.sync()
        sizes.append(Path(f"{path}-wal").stat().st_size)
    assert log.count() == 3 * CHECKPOINT_EVERY
    # Each checkpoint lets SQLite write the WAL from its start again: after the
    # first round the file grows only as commits touch a few more pages, where
    # without checkpoints it would have tripled.
    first_round = max(sizes[:CHECKPOINT_EVERY])
    assert max(sizes) < 1.5 * first_round
    log.close()


def test_a_damaged_log_is_set_aside_and_a_new_one_starts(tmp_path: Path) -> None:
    """A file SQLite cannot open (torn by a power loss) must not keep the daemon
    from starting: it is kept aside, as it was, and alerts go to a new log."""
    path = tmp_path / "alerts.db"
    damaged = b"SQLite format 3\0" + os.urandom(5000)
    path.write_bytes(damaged)
    log = AlertLog(path)
    assert log.set_aside is not None
    assert log.set_aside.name.startswith("alerts.db.damaged-")
    assert log.set_aside.read_bytes() == damaged
    log.append(alert(1, snapshot=False))
    assert log.count() == 1
    log.close()
    assert AlertLog(path).set_aside is None  # the new log opens as any other


def test_the_daemon_starts_on_a_damaged_log_and_says_so(tmp_path: Path) -> None:
    (tmp_path / "alerts.db").write_bytes(bytes(8192))  # zeroed by a power loss
    config = parse_config(f"device: {{id: d1}}\nstate_dir: {tmp_path}\n", "t.yaml")
    daemon = Daemon(config)
    daemon.start()
    try:
        set_aside = daemon.status()["alert_log"]["set_aside"]
        daemon.alert_log.append(alert(1, snapshot=False))
        assert daemon.alert_log.count() == 1
    finally:
        daemon.stop()
    assert set_aside is not None
    assert Path(set_aside).read_bytes() == bytes(8192)
