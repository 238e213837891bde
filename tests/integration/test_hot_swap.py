"""Model updates on a running daemon: the workers change model between two frames
with no frame lost, a regressing model is rolled back by its probation, and a manual
rollback returns to the previous model, all while the conveyor video plays."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edgeinfer.app import Daemon
from edgeinfer.config import load_config
from edgeinfer.pipeline.events import Inference
from edgeinfer.rules.alert import Alert
from edgeinfer.rules.drift import DriftMonitor, DriftRule
from edgeinfer.updates.shadow import ShadowPlan
from tests.bundles import Key, device_config, fleet_key, make_bundle

pytestmark = pytest.mark.integration


class Recorder:
    """A sink keeping the model version of every result, in order, and the states
    the updater reports."""

    def __init__(self) -> None:
        self.versions: list[str] = []
        self.states: list[dict[str, Any]] = []
        self.lock = threading.Lock()

    def on_result(self, inference: Inference) -> None:
        with self.lock:
            self.versions.append(inference.model_version)

    def on_alert(self, alert: Alert) -> None:
        pass

    def count(self, version: str) -> int:
        with self.lock:
            return self.versions.count(version)


def wait_for(check: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


@pytest.fixture
def key(tmp_path: Path) -> Key:
    return fleet_key(tmp_path / "keys")


def start_daemon(folder: Path, key: Key, probation_s: float) -> tuple[Daemon, Recorder]:
    conf = device_config(
        folder, key.public, realtime=False, loop=True, probation_s=probation_s
    )
    recorder = Recorder()
    daemon = Daemon(load_config(conf), [recorder])
    daemon.updates.listeners.append(recorder.states.append)
    daemon.load()
    daemon.start()
    return daemon, recorder


@pytest.fixture
def running(tmp_path: Path, key: Key) -> Iterator[tuple[Daemon, Recorder]]:
    daemon, recorder = start_daemon(tmp_path / "dev", key, probation_s=1.0)
    yield daemon, recorder
    daemon.stop()


def test_a_hot_swap_changes_model_between_frames_without_losing_one(
    tmp_path: Path, key: Key, running: tuple[Daemon, Recorder]
) -> None:
    daemon, recorder = running
    wait_for(lambda: recorder.count("1.0.0") >= 30)
    state = daemon.updates.update("demo", make_bundle(tmp_path / "b", key.path))
    assert state["state"] == "active", state
    assert state["previous"] == "1.0.0"
    wait_for(lambda: recorder.count("1.1.0") >= 30)
    wait_for(lambda: daemon.updates.states["demo"].get("probation") == "passed")
    daemon.stop()
    stats = daemon.stats["line1"]
    assert stats.errors == 0
    assert stats.dropped == 0
    assert stats.frames_in == stats.inferred == len(recorder.versions)
    # One switch: every result before it from the old model, after it the new.
    switch = recorder.versions.index("1.1.0")
    assert set(recorder.versions[:switch]) == {"1.0.0"}
    assert set(recorder.versions[switch:]) == {"1.1.0"}
    assert [s["state"] for s in recorder.states] == [
        "verifying",
        "validating",
        "active",
        "active",
    ]
    assert daemon.updates.store("demo").state().active == "1.1.0"


def test_a_refused_bundle_leaves_the_old_model_serving(
    tmp_path: Path, key: Key, running: tuple[Daemon, Recorder]
) -> None:
    daemon, recorder = running
    stranger = fleet_key(tmp_path / "stranger")
    state = daemon.updates.update("demo", make_bundle(tmp_path / "b", stranger.path))
    assert state["state"] == "rejected"
    assert state["code"] == "untrusted_key"
    before = recorder.count("1.0.0")
    wait_for(lambda: recorder.count("1.0.0") > before + 20)
    assert daemon.models["demo"].spec.version == "1.0.0"
    assert daemon.updates.store("demo").installed() == []


def test_a_model_that_fails_on_live_frames_is_rolled_back_by_its_probation(
    tmp_path: Path, key: Key
) -> None:
    # Packaged as a raw-tensor model, it passes its golden tensors but cannot take
    # camera frames: every live frame fails.
    def raw(m: dict[str, Any], d: Path) -> None:
        np.save(d / "zeros.npy", np.zeros((1, 64, 64, 3), np.int8))
        m["task"] = "raw"
        m["input"]["layout"] = "tensor"
        m["golden"] = [{"input": "zeros.npy", "expected_scores": [0.0, 0.0, 0.0]}]
        m["golden_tolerance"] = 1.0

    daemon, recorder = start_daemon(tmp_path / "dev", key, probation_s=30)
    try:
        wait_for(lambda: recorder.count("1.0.0") >= 30)
        bundle = make_bundle(tmp_path / "b", key.path, "2.0.0", edit=raw)
        assert daemon.updates.update("demo", bundle)["state"] == "active"
        wait_for(lambda: recorder.states[-1]["state"] == "rolled_back")
        final = recorder.states[-1]
        assert final["from_version"] == "2.0.0"
        assert final["version"] == "1.0.0"
        assert final["reason"].startswith("probation: error rate 100.0%")
        assert final["health"]["errors"] >= 10
        before = recorder.count("1.0.0")
        wait_for(lambda: recorder.count("1.0.0") > before + 20)
        assert daemon.models["demo"].spec.version == "1.0.0"
        assert daemon.updates.store("demo").state().active is None
    finally:
        daemon.stop()


def test_a_manual_rollback_returns_to_the_previous_version(
    tmp_path: Path, key: Key, running: tuple[Daemon, Recorder]
) -> None:
    daemon, recorder = running
    for v in ("1.1.0", "1.2.0"):
        bundle = make_bundle(tmp_path / v, key.path, v)
        assert daemon.updates.update("demo", bundle)["state"] == "active"
    wait_for(lambda: recorder.count("1.2.0") >= 10)
    state = daemon.updates.rollback("demo", "operator asked")
    assert state["state"] == "rolled_back"
    assert (state["from_version"], state["version"]) == ("1.2.0", "1.1.0")
    before = recorder.count("1.1.0")
    wait_for(lambda: recorder.count("1.1.0") > before + 10)
    assert daemon.models["demo"].spec.version == "1.1.0"


def test_the_daemon_starts_on_the_active_bundle(tmp_path: Path, key: Key) -> None:
    daemon, recorder = start_daemon(tmp_path / "dev", key, probation_s=0.5)
    try:
        bundle = make_bundle(tmp_path / "b", key.path, "1.3.0")
        assert daemon.updates.update("demo", bundle)["state"] == "active"
    finally:
        daemon.stop()
    again, recorder = start_daemon(tmp_path / "dev", key, probation_s=0.5)
    try:
        wait_for(lambda: recorder.count("1.3.0") >= 5)
        assert again.models["demo"].spec.path.parent.name == "1.3.0"
    finally:
        again.stop()


def test_a_shadow_candidate_that_agrees_is_promoted_at_the_threshold(
    tmp_path: Path, key: Key, running: tuple[Daemon, Recorder]
) -> None:
    daemon, recorder = running
    wait_for(lambda: recorder.count("1.0.0") >= 10)
    plan = ShadowPlan(sample=1.0, min_samples=20, promote_at=0.9)
    bundle = make_bundle(tmp_path / "b", key.path, "1.1.0")
    state = daemon.updates.update("demo", bundle, plan)
    assert state["state"] == "shadow"
    assert recorder.count("1.1.0") == 0  # the shadow's results are not served
    wait_for(lambda: recorder.count("1.1.0") >= 10)
    promoted = next(
        s for s in recorder.states if s["state"] == "active" and "shadow" in s
    )
    assert promoted["shadow"]["samples"] >= 20
    assert promoted["shadow"]["agreement"] >= 0.9
    assert daemon.models["demo"].spec.version == "1.1.0"


def test_a_disagreeing_shadow_candidate_is_reported_and_never_served(
    tmp_path: Path, key: Key, running: tuple[Daemon, Recorder]
) -> None:
    # The labels file in the wrong order: every good part would read as a defect.
    def shuffled(_m: dict[str, Any], d: Path) -> None:
        (d / "labels.txt").write_text("ok\ndefect\nempty\n")

    daemon, recorder = running
    plan = ShadowPlan(sample=1.0, min_samples=20, promote_at=0.9)
    bundle = make_bundle(tmp_path / "b", key.path, "1.1.0", edit=shuffled)
    assert daemon.updates.update("demo", bundle, plan)["state"] == "shadow"

    def compared() -> bool:
        shadow = recorder.states[-1].get("shadow", {})
        return bool(shadow.get("compared", 0) >= 30)

    wait_for(compared)
    report = recorder.states[-1]
    assert report["state"] == "shadow"
    assert report["shadow"]["agreement"] < 0.5
    state = daemon.updates.cancel_shadow("demo", "operator")
    assert state is not None
    assert (state["state"], state["code"]) == ("rejected", "shadow_cancelled")
    assert recorder.count("1.1.0") == 0
    assert daemon.models["demo"].spec.version == "1.0.0"


def test_a_bundle_failing_validation_is_rejected_removed_and_never_served(
    tmp_path: Path, key: Key, running: tuple[Daemon, Recorder]
) -> None:
    def wrong(m: dict[str, Any], _d: Path) -> None:
        m["golden"][1]["expected_scores"] = [1.0, 0.0, 0.0]

    daemon, recorder = running
    bundle = make_bundle(tmp_path / "b", key.path, "1.1.0", edit=wrong)
    state = daemon.updates.update("demo", bundle)
    assert (state["state"], state["code"]) == ("rejected", "golden_mismatch")
    assert "ok_washer.png: output differs by" in state["reason"]
    assert daemon.updates.store("demo").installed() == []
    before = recorder.count("1.0.0")
    wait_for(lambda: recorder.count("1.0.0") > before + 10)
    assert recorder.count("1.1.0") == 0


def active_json(folder: Path) -> dict[str, Any]:
    return json.loads(
        (folder / "state" / "models" / "demo" / "active.json").read_text()
    )


def install_and_stop(folder: Path, key: Key, bundles: Path, *versions: str) -> None:
    """Versions installed and activated in turn by a daemon that then stops."""
    daemon, _ = start_daemon(folder, key, probation_s=60.0)
    try:
        for version in versions:
            bundle = make_bundle(bundles / version, key.path, version)
            assert daemon.updates.update("demo", bundle)["state"] == "active"
    finally:
        daemon.stop()


def assert_next_start_serves_1_1_0(folder: Path, key: Key, why: str) -> None:
    """The next start rolls 1.2.0 back before loading it, says ``why``, and serves
    1.1.0 only."""
    again, recorder = start_daemon(folder, key, probation_s=60.0)
    try:
        assert again.models["demo"].spec.version == "1.1.0"  # never loaded 1.2.0
        rolled = next(s for s in recorder.states if s["state"] == "rolled_back")
        assert (rolled["from_version"], rolled["version"]) == ("1.2.0", "1.1.0")
        assert why in rolled["reason"]
        wait_for(lambda: recorder.count("1.1.0") >= 5)
        assert recorder.count("1.2.0") == 0
    finally:
        again.stop()
    assert active_json(folder)["active"] == "1.1.0"


def test_a_clean_stop_pauses_probation_and_the_next_start_resumes_it(
    tmp_path: Path, key: Key
) -> None:
    folder = tmp_path / "dev"
    daemon, _ = start_daemon(folder, key, probation_s=2.0)
    try:
        bundle = make_bundle(tmp_path / "b", key.path, "1.5.0")
        assert daemon.updates.update("demo", bundle)["probation"] == "watching"
        assert active_json(folder)["probation"] == {"version": "1.5.0", "running": True}
    finally:
        daemon.stop()
    assert active_json(folder)["probation"] == {"version": "1.5.0", "running": False}

    again, recorder = start_daemon(folder, key, probation_s=2.0)
    try:
        assert again.models["demo"].spec.version == "1.5.0"
        resumed = recorder.states[-1]
        assert resumed["reason"] == "probation resumed after a restart"
        wait_for(lambda: again.updates.states["demo"].get("probation") == "passed")
        assert "probation" not in active_json(folder)
    finally:
        again.stop()
    assert active_json(folder)["active"] == "1.5.0"


def test_a_daemon_that_died_during_probation_is_rolled_back_at_the_next_start(
    tmp_path: Path, key: Key
) -> None:
    folder = tmp_path / "dev"
    daemon, _ = start_daemon(folder, key, probation_s=60.0)
    store_file = folder / "state" / "models" / "demo" / "active.json"
    try:
        for version in ("1.1.0", "1.2.0"):
            bundle = make_bundle(tmp_path / version, key.path, version)
            assert daemon.updates.update("demo", bundle)["state"] == "active"
        # What a crash (kill -9, power loss) leaves: the store as it was mid-run.
        left_by_a_crash = store_file.read_bytes()
    finally:
        daemon.stop()
    store_file.write_bytes(left_by_a_crash)
    assert active_json(folder)["probation"] == {"version": "1.2.0", "running": True}
    assert_next_start_serves_1_1_0(folder, key, "ended without stopping")


def test_an_active_version_whose_files_rotted_is_rolled_back_at_the_next_start(
    tmp_path: Path, key: Key
) -> None:
    """A file of the active version no longer matches its signed manifest (bit rot
    on an SD card): the next start does not refuse to run, it serves the previous
    version and says why."""
    folder = tmp_path / "dev"
    install_and_stop(folder, key, tmp_path, "1.1.0", "1.2.0")
    model = folder / "state" / "models" / "demo" / "versions" / "1.2.0"
    with (model / "conveyor_int8.tflite").open("r+b") as f:
        f.seek(1000)
        byte = f.read(1)
        f.seek(1000)
        f.write(bytes([byte[0] ^ 0x10]))  # one bit flipped
    assert_next_start_serves_1_1_0(folder, key, "failed its check at start")


def test_a_damaged_record_of_the_active_version_is_set_aside_at_start(
    tmp_path: Path, key: Key
) -> None:
    folder = tmp_path / "dev"
    install_and_stop(folder, key, tmp_path, "1.1.0")
    store = folder / "state" / "models" / "demo"
    (store / "active.json").write_bytes(b'{"active": "1.1')  # torn

    again, recorder = start_daemon(folder, key, probation_s=60.0)
    try:
        configured = again.models["demo"].spec.version
        assert configured != "1.1.0"
        rolled = next(s for s in recorder.states if s["state"] == "rolled_back")
        assert rolled["version"] == configured
        assert "damaged" in rolled["reason"]
        wait_for(lambda: recorder.count(configured) >= 5)
    finally:
        again.stop()
    (aside,) = store.glob("active.json.damaged-*")
    assert aside.read_bytes() == b'{"active": "1.1'
    assert (store / "versions" / "1.1.0").is_dir()  # still installed, to activate


def test_drift_rules_take_the_reference_of_the_bundle_they_run(
    tmp_path: Path, key: Key
) -> None:
    """A drift rule without a reference of its own learns it from the first values
    of the configured model; once a bundle with a ``drift_reference`` is swapped
    in, it compares with the bundle's sample at once, and so after a restart."""
    folder = tmp_path / "dev"
    conf = device_config(folder, key.public, realtime=False, loop=True)
    conf.write_text(
        conf.read_text().replace(
            "rules:\n",
            "rules:\n  - {name: scores, kind: drift, statistic: score, window: 50}\n",
        )
    )
    sample = [round(0.5 + 0.5 * i / 99, 4) for i in range(100)]

    def with_reference(manifest: dict[str, Any], _dest: Path) -> None:
        manifest["drift_reference"] = {"score": sample}

    def drift_rule(daemon: Daemon) -> DriftRule:
        rule = next(r for r in daemon.rules["line1"].vision if r.name == "scores")
        assert isinstance(rule, DriftRule)
        return rule

    expected = DriftMonitor(window=50, reference=sample).reference_shares
    daemon = Daemon(load_config(conf))
    daemon.load()
    daemon.start()
    try:
        assert drift_rule(daemon).monitor.reference_shares == []  # learning
        bundle = make_bundle(tmp_path / "b", key.path, "1.6.0", edit=with_reference)
        assert daemon.updates.update("demo", bundle)["state"] == "active"
        assert drift_rule(daemon).monitor.reference_shares == expected
    finally:
        daemon.stop()
    again = Daemon(load_config(conf))
    again.load()
    try:
        assert again.models["demo"].spec.version == "1.6.0"
        assert drift_rule(again).monitor.reference_shares == expected
    finally:
        again.stop()
