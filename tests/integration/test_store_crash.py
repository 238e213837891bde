"""The model store after kill -9 at random points of install, activate, rollback and
prune: on reopening, every version present verifies, the active one is complete, and
no half-written leftovers remain."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import cv2
import pytest

from edgeinfer.app import Daemon
from edgeinfer.config import load_config
from edgeinfer.postprocess.results import Classification
from edgeinfer.updates.bundle import pack_bundle
from edgeinfer.updates.store import ModelStore
from tests.bundles import DEMO, ROOT, device_config, fleet_key, make_bundle

pytestmark = pytest.mark.integration

CHURN = textwrap.dedent(
    """
    import itertools, sys
    from pathlib import Path
    from edgeinfer.errors import UpdateError
    from edgeinfer.updates.store import ModelStore

    state, key, *sources = sys.argv[1:]
    store = ModelStore(Path(state), "demo", [key], keep=2)
    print("ready", flush=True)
    for i in itertools.count():
        src = Path(sources[i % len(sources)])
        bundle = store.install(src)
        store.activate(bundle.version)
        if i % 3 == 2:
            try:
                store.rollback()
            except UpdateError:
                pass
    """
)


def check_consistent(store: ModelStore) -> str | None:
    assert list(store.root.glob(".staging-*")) == []
    assert list(store.root.glob(".trash-*")) == []
    for d in store.versions.iterdir():
        store.bundle(d.name)  # complete: signature and every file verify
    state = store.state()
    for v in [state.active, *state.history]:
        if v is not None:
            assert store.has(v), v
    if state.active is not None:
        assert store.active() is not None
    return state.active


def test_kill_9_at_any_point_leaves_a_consistent_store(tmp_path: Path) -> None:
    key = fleet_key(tmp_path / "keys")
    sources = []
    for i, v in enumerate(("1.1.0", "1.2.0", "1.3.0", "1.4.0")):
        bundle = make_bundle(tmp_path / v, key.path, v)
        if i % 2:
            pack_bundle(bundle, tmp_path / f"{v}.tar")
            bundle = tmp_path / f"{v}.tar"
        sources.append(str(bundle))
    state = tmp_path / "state"
    rng = random.Random(6)  # noqa: S311 -- kill timing, not secrets
    seen: set[str | None] = set()
    for _ in range(8):
        proc = subprocess.Popen(
            [sys.executable, "-c", CHURN, str(state), key.public, *sources],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(rng.uniform(0.05, 0.4))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        proc.stdout.close()
        store = ModelStore(state, "demo", [key.public], keep=2)
        seen.add(check_consistent(store))
    assert len(seen) >= 2  # the kills landed at different points of the churn
    # A daemon starting on what the last kill left runs its active version.
    daemon = Daemon(load_config(device_config(tmp_path, key.public)))
    try:
        daemon.load()
        active = ModelStore(state, "demo", [key.public]).state().active
        assert daemon.models["demo"].spec.version == (active or "1.0.0")
        image = cv2.imread(str(DEMO / "samples" / "ok_washer.png"))
        result = daemon.models["demo"].predict(image)
        assert isinstance(result, Classification)
        assert result.top[0].label == "ok"
    finally:
        daemon.stop()
