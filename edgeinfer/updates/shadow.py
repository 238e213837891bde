"""Shadow testing: a validated candidate runs beside the active model on a sample of
live frames, without affecting results, rules or alerts.

The live path only offers frames (a bounded queue: when the shadow falls behind,
frames are skipped, never waited for). A thread of its own runs the candidate and
compares its answer with the active model's for the same frame:
classification agrees on the top class, detection on the set of labels found, pose
and raw outputs are not compared (agreement is then reported as None).
"""

from __future__ import annotations

import contextlib
import logging
import queue
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from edgeinfer.model import Model
from edgeinfer.pipeline.events import Inference
from edgeinfer.pipeline.stats import LatencyWindow
from edgeinfer.postprocess.results import Classification, Detections, Result

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ShadowPlan:
    """How a candidate is shadowed: the share of frames it sees, and when it is
    promoted (``promote_at`` agreement after ``min_samples``; None: by command)."""

    sample: float = 0.25
    min_samples: int = 50
    promote_at: float | None = None


def agree(active: Result, candidate: Result) -> bool | None:
    """Whether two results of one frame say the same (None: not comparable)."""
    if isinstance(active, Classification) and isinstance(candidate, Classification):
        a = active.top[0].label if active.top else None
        c = candidate.top[0].label if candidate.top else None
        return a == c
    if isinstance(active, Detections) and isinstance(candidate, Detections):
        return {d.label for d in active.items} == {d.label for d in candidate.items}
    return None


class Shadow:
    """Runs ``candidate`` (a model named ``name``) on a sample of live frames."""

    def __init__(
        self,
        name: str,
        candidate: Model,
        plan: ShadowPlan,
        report: Callable[[Shadow], None],
        promote: Callable[[Shadow], object],
    ) -> None:
        self.name, self.candidate, self.plan = name, candidate, plan
        self.samples = 0
        self.agreed = 0
        self.compared = 0
        self.failed = 0
        self.latency = LatencyWindow(256)
        self.active_latency = LatencyWindow(256)
        self._report, self._promote = report, promote
        self._queue: queue.Queue[Inference | None] = queue.Queue(maxsize=4)
        self._rng = random.Random(0)  # noqa: S311 -- sampling, not secrets
        self._stopped = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name=f"shadow-{name}", daemon=True
        )

    @property
    def version(self) -> str:
        """The candidate's version."""
        return self.candidate.spec.version

    @property
    def agreement(self) -> float | None:
        """Share of compared frames on which both models agreed."""
        return self.agreed / self.compared if self.compared else None

    def start(self) -> None:
        """Start the shadow thread."""
        self._thread.start()

    def offer(self, inference: Inference) -> None:
        """A live result of the active model; sampled frames go to the candidate."""
        if inference.model != self.name or inference.gated or self._stopped.is_set():
            return
        if self._rng.random() >= self.plan.sample:
            return
        with contextlib.suppress(queue.Full):  # behind: skip, the live path never waits
            self._queue.put_nowait(inference)

    def stop(self) -> Model:
        """Stop the thread; return the candidate (to promote or close)."""
        self._stopped.set()
        with contextlib.suppress(queue.Full):
            self._queue.put_nowait(None)
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(5.0)
        return self.candidate

    def to_json(self) -> dict[str, Any]:
        """Progress for model/state."""
        agreement = self.agreement
        return {
            "samples": self.samples,
            "compared": self.compared,
            "failed": self.failed,
            "agreement": None if agreement is None else round(agreement, 4),
            "infer_p50_ms": self.latency.percentiles()["p50"],
            "active_infer_p50_ms": self.active_latency.percentiles()["p50"],
            "promote_at": self.plan.promote_at,
        }

    def _run(self) -> None:
        last = 0.0
        while not self._stopped.is_set():
            item = self._queue.get()
            if item is None:
                return
            try:
                tensor, letterbox = self.candidate.preprocessor(item.frame.image)
                t0 = time.perf_counter()
                outputs = self.candidate.backend.infer([tensor])
                self.latency.add((time.perf_counter() - t0) * 1e3)
                result = self.candidate.decode(outputs, letterbox)
            except Exception:  # a stage boundary: the candidate failed on a frame
                self.failed += 1
                log.debug("shadow %s failed on a frame", self.version, exc_info=True)
                result = None
            self.samples += 1
            self.active_latency.add(item.latency_ms.get("infer", 0.0))
            same = agree(item.result, result) if result is not None else False
            if same is not None:
                self.compared += 1
                self.agreed += int(same)
            if time.monotonic() - last > 1.0:
                last = time.monotonic()
                self._report(self)
            promote_at = self.plan.promote_at
            agreement = self.agreement
            if (
                promote_at is not None
                and agreement is not None
                and self.samples >= self.plan.min_samples
                and agreement >= promote_at
            ):
                self._stopped.set()
                self._promote(self)
                return
