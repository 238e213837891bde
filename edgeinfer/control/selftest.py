"""The on-device self-test: quick checks that say what is wrong and where.

Every check runs even when an earlier one failed; each gives ``ok``, a one-line
``detail`` and how long it took. A model is checked on a fork (its own interpreter
or infer request), so the running workers are not disturbed.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np

from edgeinfer.metrics.system import disk

if TYPE_CHECKING:
    from edgeinfer.app import Daemon
    from edgeinfer.model import Model
    from edgeinfer.sources.base import Source

MIN_FREE_BYTES = 64 << 20
Check = Callable[[], tuple[bool, str]]


def run_selftest(daemon: Daemon) -> dict[str, Any]:
    """``{"ok": all passed, "checks": [{"name", "ok", "detail", "ms"}]}``."""
    checks: list[tuple[str, Check]] = [
        ("state_dir", lambda: _state_dir_writable(daemon)),
        ("disk", lambda: _disk_space(daemon)),
        ("alert_log", lambda: (True, f"{daemon.alert_log.count()} alerts stored")),
    ]
    checks += [
        (f"model:{name}", partial(_model_runs, model))
        for name, model in daemon.models.items()
    ]
    checks += [
        (f"stream:{name}", partial(_stream_health, source))
        for name, source in daemon.sources.items()
    ]
    if daemon.fleet is not None:
        checks.append(("mqtt", lambda: _broker(daemon)))
    results = [_timed(name, check) for name, check in checks]
    return {"ok": all(r["ok"] for r in results), "checks": results}


def _timed(name: str, check: Check) -> dict[str, Any]:
    t0 = time.perf_counter()
    try:
        ok, detail = check()
    except Exception as err:  # a failing check is a result, not a crash
        ok, detail = False, f"{type(err).__name__}: {err}"
    ms = round((time.perf_counter() - t0) * 1e3, 1)
    return {"name": name, "ok": ok, "detail": detail, "ms": ms}


def _state_dir_writable(daemon: Daemon) -> tuple[bool, str]:
    state_dir = daemon.config.state_dir
    probe = state_dir / f".selftest-{os.getpid()}"
    try:
        with probe.open("wb") as f:
            f.write(b"edgeinfer selftest\n")
            f.flush()
            os.fsync(f.fileno())
    finally:
        probe.unlink(missing_ok=True)
    return True, f"{state_dir} is writable"


def _disk_space(daemon: Daemon) -> tuple[bool, str]:
    usage = disk(daemon.config.state_dir)
    if usage is None:
        return False, f"cannot read disk usage of {daemon.config.state_dir}"
    free_mb = usage["free_bytes"] / (1 << 20)
    if usage["free_bytes"] < MIN_FREE_BYTES:
        return False, f"only {free_mb:.0f} MB free — free space for the outbox and logs"
    return True, f"{free_mb:.0f} MB free ({usage['used_percent']}% used)"


def _model_runs(model: Model) -> tuple[bool, str]:
    if model.spec.task == "raw" or len(model.backend.inputs) != 1:
        return True, f"{model.backend.placement}: takes tensors, not run"
    fork = model.fork()
    try:
        grey = np.full((240, 320, 3), 128, np.uint8)
        t0 = time.perf_counter()
        fork.predict(grey)
        ms = (time.perf_counter() - t0) * 1e3
    finally:
        fork.close()
    return True, f"{model.backend.placement}: one inference in {ms:.1f} ms"


def _stream_health(source: Source) -> tuple[bool, str]:
    health = source.health
    state = health.health.value
    detail = f"{state}: {health.reason}" if health.reason else state
    return state == "ok", detail


def _broker(daemon: Daemon) -> tuple[bool, str]:
    assert daemon.fleet is not None
    status = daemon.fleet.status()
    pending = status["outbox"]["pending"]
    if status["state"] != "connected":
        return False, f"{status['state']}: {status['error'] or 'not connected'}"
    return True, f"connected to {status['broker']}, {pending} messages unsent"
