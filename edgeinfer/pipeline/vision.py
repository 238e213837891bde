"""Workers that run one model for every video stream using it.

Each worker owns a fork of the model (its own interpreter or infer request, and its own
preprocessing buffers) and takes the latest frame of any stream from the hub, so N
streams share one accelerator and the accelerator, not Python, is the limit.

``swap`` changes the model while running: each worker picks up its handle on the new
model between two frames, so no frame is dropped or run half on each model.
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
        """Preprocess → infer → decode ``frame`` (thread-safe across streams and
        across frames of one stream, each worker with its own ``model`` fork)."""
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
        lat = {
            "preprocess": (t1 - t0) * 1e3,
            "infer": (t2 - t1) * 1e3,
            "postprocess": (t3 - t2) * 1e3,
        }
        with stats.lock:  # several workers may run frames of one stream
            stats.inferred += 1
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
        # Hot swap: the handles of generation N; each worker notes the one it runs.
        self._swap = threading.Condition()
        self._generation = 0
        self._running: list[int] = []

    @property
    def name(self) -> str:
        """The model's name in the config."""
        return self.model.spec.name

    def start(self) -> None:
        """Fork the model for each extra worker and start the threads."""
        self._handles = [self.model] + [
            self.model.fork() for _ in range(self.count - 1)
        ]
        self._running = [self._generation] * len(self._handles)
        for i in range(len(self._handles)):
            t = threading.Thread(
                target=self._run,
                args=(i,),
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

    def swap(self, model: Model, timeout: float = 10.0) -> Model:
        """Run ``model`` from the next frame on; return the model it replaced.

        Waits until every worker has switched (a worker in the middle of a frame
        finishes it on the old model first), then closes the old forks; the caller
        closes the returned model. Before ``start`` the model is simply replaced.
        """
        handles = [model] + [model.fork() for _ in range(self.count - 1)]
        with self._swap:
            old, self._handles, self.model = self._handles, handles, model
            self._generation += 1
            if not self._threads:
                return old[0] if old else model
            switched = self._swap.wait_for(
                lambda: all(g == self._generation for g in self._running), timeout
            )
        if not switched:
            log.warning("model %s: a worker is still on the old model", self.name)
            return old[0]
        for handle in old[1:]:
            handle.close()
        return old[0]

    def _current(self, index: int, model: Model) -> Model:
        """This worker's handle, switched to the newest generation between frames."""
        if self._running[index] == self._generation:
            return model
        with self._swap:
            self._running[index] = self._generation
            self._swap.notify_all()
            return self._handles[index]

    def _run(self, index: int) -> None:
        model = self._handles[index]
        while True:
            item = self.hub.take()
            model = self._current(index, model)
            if item is None:
                if self.hub.closed:
                    return
                continue
            frame, gated = item
            inference: Inference | None = None
            try:
                inference = self.runner.run(model, frame, gated)
            except Exception:  # a stage boundary: count, log, keep the worker alive
                self.stats[frame.stream].errors += 1
                log.exception(
                    "inference failed on %s frame %d", frame.stream, frame.seq
                )
            finally:
                self.hub.finish(frame, inference, self._deliver)

    def _deliver(self, inference: Inference) -> None:
        try:
            self.handle(inference)
        except Exception:  # rules or a sink failed: count it, keep the stream going
            frame = inference.frame
            self.stats[frame.stream].errors += 1
            log.exception(
                "handling the result of %s frame %d failed", frame.stream, frame.seq
            )
