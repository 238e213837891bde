"""Workers that run one model for every video stream using it.

Each worker owns a fork of the model (its own interpreter or infer request, and its own
preprocessing buffers) and takes the latest frame of any stream from the hub, so N
streams share one accelerator and the accelerator, not Python, is the limit.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from edgeinfer.model import Model
from edgeinfer.pipeline.events import Inference
from edgeinfer.pipeline.slots import FrameHub
from edgeinfer.pipeline.stats import StreamStats
from edgeinfer.postprocess.results import Result
from edgeinfer.sources.base import Frame

log = logging.getLogger(__name__)


class FrameRunner:
    """Runs one frame through a model (or reuses the stream's last result when the
    frame was gated), timing each stage into the stream's statistics."""

    def __init__(self, stats: dict[str, StreamStats]) -> None:
        self.stats = stats
        self._last: dict[str, Result] = {}

    def run(self, model: Model, frame: Frame, gated: bool) -> Inference:
        """Preprocess → infer → decode ``frame`` (one frame per stream at a time)."""
        stats = self.stats[frame.stream]
        last = self._last.get(frame.stream)
        spec = model.spec
        if gated and last is not None:
            stats.gated += 1
            return Inference(frame, last, True, spec.name, spec.version, {})
        clock = time.perf_counter
        t0 = clock()
        tensor, letterbox = model.preprocessor(frame.image)
        t1 = clock()
        outputs = model.backend.infer([tensor])
        t2 = clock()
        result = model.decode(outputs, letterbox)
        t3 = clock()
        self._last[frame.stream] = result
        stats.inferred += 1
        lat = {
            "preprocess": (t1 - t0) * 1e3,
            "infer": (t2 - t1) * 1e3,
            "postprocess": (t3 - t2) * 1e3,
        }
        for k, v in lat.items():
            stats.latency[k].add(v)
        return Inference(frame, result, False, spec.name, spec.version, lat)


class ModelWorkers:
    """``workers`` threads running ``model`` on frames from ``hub``."""

    def __init__(
        self,
        model: Model,
        hub: FrameHub,
        handle: Callable[[Inference], None],
        stats: dict[str, StreamStats],
        workers: int = 1,
    ) -> None:
        self.model, self.hub, self.handle, self.stats = model, hub, handle, stats
        self.count = max(1, workers)
        self.runner = FrameRunner(stats)
        self._threads: list[threading.Thread] = []
        self._handles: list[Model] = []

    def start(self) -> None:
        """Fork the model for each extra worker and start the threads."""
        self._handles = [self.model] + [
            self.model.fork() for _ in range(self.count - 1)
        ]
        for i, handle in enumerate(self._handles):
            t = threading.Thread(
                target=self._run,
                args=(handle,),
                name=f"infer-{self.model.spec.name}-{i}",
                daemon=True,
            )
            t.start()
            self._threads.append(t)

    def join(self, timeout: float | None = None) -> None:
        """Wait for the threads (after the hub was closed)."""
        for t in self._threads:
            t.join(timeout)
        for handle in self._handles[1:]:
            handle.close()

    def _run(self, model: Model) -> None:
        while True:
            item = self.hub.take()
            if item is None:
                if self.hub.closed:
                    return
                continue
            frame, gated = item
            try:
                self.handle(self.runner.run(model, frame, gated))
            except Exception:  # a stage boundary: count, log, keep the worker alive
                self.stats[frame.stream].errors += 1
                log.exception(
                    "inference failed on %s frame %d", frame.stream, frame.seq
                )
            finally:
                self.hub.release(frame.stream)
