"""Vision rules on real detections: the SSD detector from the assets on the pedestrian
clip, with a zone, a count, an absence and drift rule built from a config."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgeinfer.config import load_config
from edgeinfer.loading import model_spec
from edgeinfer.model import Model
from edgeinfer.pipeline.events import Inference
from edgeinfer.postprocess.results import Detections
from edgeinfer.rules.alert import Alert
from edgeinfer.rules.engine import build_rules
from edgeinfer.sources.camera import iter_video

pytestmark = pytest.mark.integration

FRAMES = 60


def test_zone_count_and_absence_rules_on_the_pedestrian_clip(
    tmp_path: Path, assets: Path, models: Path
) -> None:
    video = assets / "video" / "pedestrians_720p.avi"
    config_file = tmp_path / "rules.yaml"
    config_file.write_text(
        f"device: {{id: t}}\nstate_dir: {tmp_path}\n"
        "models:\n  ssd:\n"
        f"    path: {models / 'ssd_mobilenet_v1_coco_quant_postprocess.tflite'}\n"
        f"    labels: {models / 'coco_labels_ssd.txt'}\n"
        "    score_threshold: 0.4\n"
        f"streams:\n  - {{kind: camera, name: hall, source: {video}, model: ssd}}\n"
        "rules:\n"
        # about ten people walk through the hall: a crowd above 5, for 3 frames
        "  - {kind: count, name: crowd, label: person, above: 5, frames: 3}\n"
        # a zone the size of a postage stamp in a corner nobody walks into
        "  - {kind: label, name: corner, label: person,"
        " zone: [[0, 0], [0.03, 0], [0.03, 0.03], [0, 0.03]]}\n"
        # people in the left half of the frame
        "  - {kind: label, name: left, label: person, frames: 3,"
        " zone: [[0, 0], [0.5, 0], [0.5, 1], [0, 1]]}\n"
        # no dog comes by in the clip's first second
        "  - {kind: absent, name: no-dog, label: dog, seconds: 1}\n"
    )
    config = load_config(config_file)
    model = Model.load(model_spec(config, "ssd"))
    rules = build_rules(list(config.rules), {"hall": set(model.labels.values())}, [])
    alerts: list[Alert] = []
    people = []
    try:
        for frame in iter_video(video, "hall"):
            if frame.seq >= FRAMES:
                break
            result = model.predict(frame.image)
            assert isinstance(result, Detections)
            people.append(sum(d.label == "person" for d in result.items))
            alerts += rules["hall"].on_inference(Inference(frame, result, False, "ssd"))
    finally:
        model.close()
    assert sum(people) / len(people) > 5  # the premise: a crowd
    fired = {a.rule: a for a in alerts}
    assert sorted(fired) == ["crowd", "left", "no-dog"]
    assert [a.rule for a in alerts].count("crowd") == 1  # raised once, stays raised
    assert fired["crowd"].values["count"] > 5
    assert fired["crowd"].values["seq"] == 2  # the third frame of the crowd
    assert fired["no-dog"].values["absent_s"] >= 1
    assert fired["left"].snapshot is not None
