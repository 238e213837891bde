"""Benchmark a backend: warm-up, then timed inferences with N requests in flight.

One stream runs synchronous inferences back to back. Several streams keep N requests
in flight: OpenVINO through its asynchronous infer requests, other backends through one
instance per worker thread (their invoke releases the GIL).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from edgeinfer.backends import load_backend
from edgeinfer.backends.base import Backend, BackendOptions, NDArray, TensorSpec
from edgeinfer.backends.select import Selection


@dataclass(frozen=True)
class BenchResult:
    """Latency percentiles (ms) and throughput (inferences/s) of one benchmark."""

    backend: str
    device: str
    streams: int
    count: int
    seconds: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    mean_ms: float

    @property
    def throughput_fps(self) -> float:
        """Completed inferences per second over the timed window."""
        return self.count / self.seconds if self.seconds > 0 else 0.0

    def to_json(self) -> dict[str, Any]:
        """The ``edgeinfer bench --json`` contract."""
        return {
            "backend": self.backend,
            "device": self.device,
            "streams": self.streams,
            "count": self.count,
            "latency_ms": {
                "p50": round(self.p50_ms, 3),
                "p95": round(self.p95_ms, 3),
                "p99": round(self.p99_ms, 3),
                "mean": round(self.mean_ms, 3),
            },
            "throughput_fps": round(self.throughput_fps, 2),
        }


def random_inputs(specs: tuple[TensorSpec, ...], seed: int = 0) -> list[NDArray]:
    """One random tensor per input spec, in the tensor's dtype and range."""
    rng = np.random.default_rng(seed)
    tensors = []
    for spec in specs:
        shape = tuple(max(1, d) for d in spec.shape)
        if np.issubdtype(spec.dtype, np.integer):
            info = np.iinfo(spec.dtype)
            lo, hi = max(info.min, -128), min(info.max, 255)
            tensors.append(
                rng.integers(lo, hi, size=shape, endpoint=True).astype(spec.dtype)
            )
        else:
            tensors.append(rng.uniform(-1, 1, size=shape).astype(spec.dtype))
    return tensors


def _result(
    backend: Backend, streams: int, lat_ns: list[int], seconds: float
) -> BenchResult:
    ms = np.asarray(lat_ns, dtype=np.float64) / 1e6
    p50, p95, p99 = (
        (float(np.percentile(ms, q)) for q in (50, 95, 99)) if ms.size else (0, 0, 0)
    )
    return BenchResult(
        backend.placement.backend,
        backend.placement.device,
        streams,
        int(ms.size),
        seconds,
        p50,
        p95,
        p99,
        float(ms.mean()) if ms.size else 0.0,
    )


def bench_sync(
    backend: Backend, inputs: list[NDArray], duration_s: float, warmup: int = 5
) -> BenchResult:
    """Back-to-back synchronous inferences for ``duration_s`` after ``warmup`` runs."""
    for _ in range(warmup):
        backend.infer(inputs)
    lat: list[int] = []
    clock = time.perf_counter_ns
    start = clock()
    deadline = start + int(duration_s * 1e9)
    now = start
    while now < deadline:
        t0 = now
        backend.infer(inputs)
        now = clock()
        lat.append(now - t0)
    return _result(backend, 1, lat, (now - start) / 1e9)


def bench_async(
    backend: Any,
    inputs: list[NDArray],
    streams: int,
    duration_s: float,
    warmup: int = 5,
) -> BenchResult:
    """``streams`` requests in flight on a backend with ``submit`` (OpenVINO)."""
    backend.start_async(streams)
    lat: list[int] = []
    lock = threading.Lock()
    clock = time.perf_counter_ns

    def done(outputs: Any, started: int) -> None:
        end = clock()
        if isinstance(outputs, BaseException):
            return
        with lock:
            lat.append(end - started)

    for _ in range(max(warmup, streams)):
        backend.submit(inputs, done, clock())
    backend.wait()
    lat.clear()
    start = clock()
    deadline = start + int(duration_s * 1e9)
    while clock() < deadline:
        backend.submit(inputs, done, clock())
    backend.wait()
    return _result(backend, streams, lat, (clock() - start) / 1e9)


def bench_workers(
    make_backend: Callable[[], Backend],
    inputs: list[NDArray],
    streams: int,
    duration_s: float,
    warmup: int = 5,
) -> BenchResult:
    """One backend instance per worker thread, all running for ``duration_s``."""
    backends = [make_backend() for _ in range(streams)]
    lat: list[list[int]] = [[] for _ in backends]
    clock = time.perf_counter_ns
    window = [0, 0]  # start and deadline, set once every worker has warmed up

    def open_window() -> None:
        window[0] = clock()
        window[1] = window[0] + int(duration_s * 1e9)

    barrier = threading.Barrier(streams, action=open_window)

    def work(i: int) -> None:
        be = backends[i]
        for _ in range(warmup):
            be.infer(inputs)
        barrier.wait()
        mine, deadline = lat[i], window[1]
        now = clock()
        while now < deadline:
            t0 = now
            be.infer(inputs)
            now = clock()
            mine.append(now - t0)

    threads = [
        threading.Thread(target=work, args=(i,), daemon=True) for i in range(streams)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    start = window[0]
    seconds = (clock() - start) / 1e9
    try:
        return _result(backends[0], streams, [x for part in lat for x in part], seconds)
    finally:
        for be in backends[1:]:
            be.close()


def run_bench(
    selection: Selection, streams: int, duration_s: float, warmup: int, threads: int
) -> BenchResult:
    """Benchmark the selected backend with ``streams`` requests in flight.

    ``streams`` 0 means the runtime's optimal number (OpenVINO) or one per core.
    The selected backend is closed when done.
    """
    first = selection.backend
    inputs = random_inputs(first.inputs)
    try:
        if hasattr(first, "submit"):
            n = streams or int(getattr(first, "optimal_requests", 1))
            if n > 1:
                return bench_async(first, inputs, n, duration_s, warmup)
            return bench_sync(first, inputs, duration_s, warmup)
        n = streams or (os.cpu_count() or 1)
        if n == 1:
            return bench_sync(first, inputs, duration_s, warmup)
    finally:
        first.close()
    options = BackendOptions(threads=threads or max(1, (os.cpu_count() or 1) // n))
    return bench_workers(
        lambda: load_backend(first.placement, selection.model_path, options),
        inputs,
        n,
        duration_s,
        warmup,
    )
