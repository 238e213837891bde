"""Vision rules on hand-made results: zones, counts, absence, anomaly scores, and the
config checks that go with them."""

from __future__ import annotations

import numpy as np
import pytest

from edgeinfer.config import load_config
from edgeinfer.errors import ConfigError
from edgeinfer.pipeline.events import Inference
from edgeinfer.postprocess.results import (
    BBox,
    Class,
    Classification,
    Detection,
    Detections,
    RawOutputs,
    Result,
)
from edgeinfer.rules.engine import build_rules
from edgeinfer.rules.vision import (
    AbsentRule,
    CountRule,
    LabelRule,
    ScoreRule,
    VisionRule,
    point_in_zone,
)
from edgeinfer.sources.base import Frame
from tests.unit.conftest import ConfigWriter

IMAGE = np.zeros((48, 64, 3), np.uint8)
LEFT_HALF = [(0.0, 0.0), (0.5, 0.0), (0.5, 1.0), (0.0, 1.0)]


def people(*centres: tuple[float, float], score: float = 0.9) -> Detections:
    return Detections(
        tuple(
            Detection(0, "person", score, BBox(x - 0.05, y - 0.1, x + 0.05, y + 0.1))
            for x, y in centres
        )
    )


def feed(rule: VisionRule, results: list[Result], dt: float = 1.0) -> list[int]:
    """Frame numbers on which ``rule`` raised."""
    fired = []
    for i, result in enumerate(results):
        inference = Inference(
            Frame("cam", i, 100.0 + i * dt, IMAGE), result, False, "m"
        )
        if rule.on_inference(inference) is not None:
            fired.append(i)
    return fired


def test_point_in_zone_for_a_concave_polygon() -> None:
    ell = [(0, 0), (1, 0), (1, 0.5), (0.5, 0.5), (0.5, 1), (0, 1)]
    assert point_in_zone(0.25, 0.75, ell)
    assert point_in_zone(0.75, 0.25, ell)
    assert not point_in_zone(0.75, 0.75, ell)


def test_label_rule_counts_only_detections_inside_its_zone() -> None:
    rule = LabelRule("intrusion", "person", zone=LEFT_HALF, frames=2, snapshot=False)
    outside, inside = people((0.8, 0.5)), people((0.2, 0.5))
    assert feed(rule, [outside, outside, inside, inside, inside, outside]) == [3]


def test_count_rule_above_and_below() -> None:
    crowd = CountRule("crowd", "person", above=2, frames=1, snapshot=False)
    few, many = people((0.1, 0.5)), people((0.1, 0.5), (0.3, 0.5), (0.6, 0.5))
    assert feed(crowd, [few, many, many, few, many]) == [1, 4]
    unmanned = CountRule("unmanned", "person", below=1, zone=LEFT_HALF, snapshot=False)
    assert feed(unmanned, [few, people((0.9, 0.5)), few]) == [1]


def test_absent_rule_fires_once_after_the_time_and_rearms() -> None:
    rule = AbsentRule("no-operator", "person", seconds=3, snapshot=False)
    here, gone = people((0.5, 0.5)), Detections(())
    results = [here, gone, gone, gone, gone, gone, here, gone, gone, gone, gone]
    # seen at t=0, absent 3 s at frame 3; seen again at 6, absent 3 s at frame 9
    assert feed(rule, results) == [3, 9]


def test_absent_rule_counts_from_the_first_frame() -> None:
    rule = AbsentRule("never-came", "person", seconds=2, snapshot=False)
    assert feed(rule, [Detections(())] * 4) == [2]


def test_score_rule_on_a_raw_output_and_on_a_class() -> None:
    def raw(v: float) -> RawOutputs:
        return RawOutputs((("anomaly", (1, 1), (v,)),))

    rule = ScoreRule("anomaly", min_score=0.7, frames=2, snapshot=False)
    assert feed(rule, [raw(0.1), raw(0.8), raw(0.9), raw(0.95), raw(0.2)]) == [2]
    by_class = ScoreRule("defect", min_score=0.6, label="defect", snapshot=False)
    top = Classification((Class(2, "defect", 0.65), Class(1, "ok", 0.35)))
    assert feed(by_class, [top]) == [0]


def test_alert_carries_snapshot_and_values() -> None:
    rule = CountRule("crowd", "person", above=0)
    inference = Inference(Frame("cam", 7, 5.0, IMAGE), people((0.5, 0.5)), False, "m")
    alert = rule.on_inference(inference)
    assert alert is not None
    assert alert.values == {
        "label": "person",
        "count": 1,
        "above": 0,
        "frames": 1,
        "seq": 7,
    }
    assert alert.snapshot is not None
    assert alert.snapshot[:2] == b"\xff\xd8"


def test_rules_from_config_check_labels_and_zones(
    write_config: ConfigWriter,
) -> None:
    base = "device: {id: t}\nstreams: []\nrules:\n"
    cfg = load_config(
        write_config(
            base + "  - {kind: count, name: crowd, label: person, above: 3,"
            " zone: [[0, 0], [0.5, 0], [0.5, 1]]}\n"
            "  - {kind: absent, name: gone, label: person, seconds: 30}\n"
            "  - {kind: score, name: anomaly, min_score: 0.8}\n"
        )
    )
    rules = build_rules(list(cfg.rules), {"cam": {"person", "car"}}, [])["cam"]
    assert [type(r).__name__ for r in rules.vision] == [
        "CountRule",
        "AbsentRule",
        "ScoreRule",
    ]
    bad_label = load_config(
        write_config(base + "  - {kind: absent, name: g, label: dog, seconds: 5}\n")
    )
    with pytest.raises(ConfigError, match="label 'dog' is not a label of stream cam"):
        build_rules(list(bad_label.rules), {"cam": {"person"}}, [])
    with pytest.raises(ConfigError, match=r"zone points must lie in 0\.\.1"):
        load_config(
            write_config(
                base + "  - {kind: label, name: z, label: person,"
                " zone: [[0, 0], [2, 0], [1, 1]]}\n"
            )
        )
    with pytest.raises(ConfigError, match="no bound given"):
        load_config(write_config(base + "  - {kind: count, name: c, label: p}\n"))
