"""Model workers with a fake accelerator: latest frame wins, failures are counted and
the stream goes on, several workers keep each stream's results in order."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np

from edgeinfer.backends.base import Placement, TensorSpec
from edgeinfer.backends.select import Candidate, Selection
from edgeinfer.model import Model, ModelSpec
from edgeinfer.pipeline.events import Inference
from edgeinfer.pipeline.slots import FrameHub
from edgeinfer.pipeline.stats import StreamStats
from edgeinfer.pipeline.vision import ModelWorkers
from edgeinfer.postprocess.results import Classification
from edgeinfer.sources.base import Frame
from edgeinfer.testing import FakeBackend

IN = TensorSpec("image", (1, 8, 8, 3), np.dtype(np.uint8))
OUT = TensorSpec("scores", (1, 3), np.dtype(np.float32))


def fake_model(**kw: float) -> tuple[Model, FakeBackend]:
    backend = FakeBackend([IN], [OUT], [np.array([[0.1, 0.7, 0.2]], np.float32)], **kw)  # type: ignore[arg-type]
    spec = ModelSpec(
        path=Path("fake.tflite"),
        candidates=(Candidate(Placement("fake", "x")),),
        name="fake",
    )
    return Model(spec, Selection(backend, spec.path, ())), backend  # type: ignore[arg-type]


def run_stream(
    model: Model,
    frames: int,
    fps: float,
    workers: int = 1,
    streams: tuple[str, ...] = ("cam",),
) -> tuple[list[Inference], dict[str, StreamStats]]:
    hub = FrameHub()
    stats = {s: StreamStats() for s in streams}
    for s in streams:
        hub.add_stream(s, stats[s])
    out: list[Inference] = []
    lock = threading.Lock()

    def handle(inf: Inference) -> None:
        with lock:
            out.append(inf)

    pool = ModelWorkers(model, hub, handle, stats, workers)
    pool.start()
    image = np.zeros((16, 16, 3), np.uint8)
    for seq in range(frames):
        for s in streams:
            stats[s].frames_in += 1
            hub.put(Frame(s, seq, float(seq), image))
        time.sleep(1 / fps)
    deadline = time.monotonic() + 5
    while hub.pending() and time.monotonic() < deadline:
        time.sleep(0.01)
    hub.close()
    pool.join(5)
    return out, stats


def test_a_slow_model_drops_stale_frames_and_never_builds_a_backlog() -> None:
    model, backend = fake_model(delay_s=0.03)
    out, stats = run_stream(model, frames=60, fps=200)
    s = stats["cam"]
    assert s.inferred == len(out) == backend.calls
    assert s.dropped > 30
    assert s.inferred + s.dropped == 60
    assert out[-1].frame.seq == 59  # the newest frame is the one that ran last
    assert isinstance(out[0].result, Classification)


def test_failing_inference_is_counted_and_the_stream_goes_on() -> None:
    model, _ = fake_model(fail_every=3)
    out, stats = run_stream(model, frames=30, fps=100)
    s = stats["cam"]
    assert s.errors >= 5
    assert s.inferred == len(out) > 10
    assert s.inferred + s.errors + s.dropped == 30


def test_two_workers_keep_each_streams_results_in_order() -> None:
    model, _ = fake_model(delay_s=0.005)
    out, stats = run_stream(
        model, frames=40, fps=150, workers=2, streams=("a", "b", "c")
    )
    for name in ("a", "b", "c"):
        seqs = [i.frame.seq for i in out if i.frame.stream == name]
        assert seqs == sorted(seqs)
        assert stats[name].inferred == len(seqs) > 0
