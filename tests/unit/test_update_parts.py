"""Parts of the update flow: the probation verdict, manifest checks, signatures."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from edgeinfer.config.updates import ProbationConfig
from edgeinfer.errors import UpdateError
from edgeinfer.updates.health import Health, judge
from edgeinfer.updates.manifest import parse_manifest
from edgeinfer.updates.signing import (
    generate_key,
    load_private_key,
    sign,
    verify_signature,
)

LIMITS = ProbationConfig(min_frames=20)


def health(frames: int, errors: int = 0, alerts: int = 0, ms: float = 2.0) -> Health:
    h = Health(frames=frames, errors=errors, alerts=alerts)
    for _ in range(frames):
        h.latency.add(ms)
    return h


def test_no_verdict_before_enough_frames() -> None:
    assert judge(health(5, errors=5), health(100), LIMITS) is None


def test_an_unchanged_model_passes() -> None:
    assert (
        judge(health(100, errors=1, alerts=3), health(500, alerts=10), LIMITS) is None
    )


def test_more_failed_frames_is_a_regression() -> None:
    reason = judge(health(80, errors=20), health(500, errors=5), LIMITS)
    assert reason == "error rate 20.0% against 1.0% before (20 failed of 100 frames)"


def test_many_more_alerts_per_frame_is_a_regression() -> None:
    reason = judge(health(100, alerts=40), health(500, alerts=10), LIMITS)
    assert reason is not None
    assert reason.startswith("alert rate 0.400 per frame against 0.020 before")


def test_slower_inference_is_a_regression_only_against_a_known_baseline() -> None:
    reason = judge(health(100, ms=9.0), health(500, ms=2.0), LIMITS)
    assert reason == "median inference 9.00 ms against 2.00 ms before"
    assert judge(health(100, ms=9.0), health(3, ms=2.0), LIMITS) is None


def test_without_a_baseline_the_new_model_is_held_to_a_clean_record() -> None:
    assert judge(health(100, errors=10), None, LIMITS) is not None
    assert judge(health(100, errors=2), None, LIMITS) is None


def manifest_bytes(**changes: object) -> bytes:
    body: dict[str, object] = {
        "name": "m",
        "version": "1.0.0",
        "task": "classification",
        "model": "m.tflite",
        "files": [{"path": "m.tflite", "sha256": "0" * 64, "size": 1}],
    }
    body.update(changes)
    return json.dumps(body).encode()


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"version": "../1"}, "version: Value error, must be letters, digits"),
        (
            {"files": [{"path": "../m.tflite", "sha256": "0" * 64, "size": 1}]},
            "is not a relative path inside the bundle",
        ),
        ({"labels": "labels.txt"}, "uses files it does not list under files: labels"),
        ({"task": "segmentation"}, "task: Input should be"),
    ],
)
def test_a_malformed_manifest_is_refused_with_the_key(
    changes: dict[str, object], words: str
) -> None:
    with pytest.raises(UpdateError, match=re.escape(words)) as e:
        parse_manifest(manifest_bytes(**changes))
    assert e.value.reason == "bad_manifest"


def test_a_malformed_signature_file_is_refused() -> None:
    with pytest.raises(UpdateError, match=r"manifest\.sig is malformed") as e:
        verify_signature(manifest_bytes(), b"not json", [])
    assert e.value.reason == "bad_signature"


def test_a_signature_checks_against_the_exact_bytes(tmp_path: Path) -> None:
    public = generate_key(tmp_path / "k.pem")
    raw = manifest_bytes()
    sig = sign(raw, load_private_key(tmp_path / "k.pem"))
    assert verify_signature(raw, sig, [public]) == json.loads(sig)["key_id"]
    with pytest.raises(UpdateError, match="changed after signing"):
        verify_signature(raw + b" ", sig, [public])
