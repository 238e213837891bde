"""Fakes for the hardware edges, for tests of code built on edgeinfer.

    camera = FakeCamera("door", [Path("a.jpg"), Path("b.jpg")], frames.append, fps=20)
    camera.start(); camera.unplug(); camera.replug(); camera.stop()

    port = LoopbackPort()
    sensor = SerialSource("boiler", "loop://", readings.append, opener=port.open)
    sensor.start()
    port.play([b"t=21.5 h=40\\n", 0.1, b"t=21.6 h=41\\n"])

    backend = FakeBackend(inputs, outputs, values, delay_s=0.01, fail_every=5)

Each fake is a real object at the edge (a ``Source`` thread, a pyserial ``loop://``
port) so the code under test runs unchanged.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np
import serial

from edgeinfer.backends.base import NDArray, Placement, TensorSpec
from edgeinfer.preprocess.image import read_image
from edgeinfer.sources.base import Frame, Health
from edgeinfer.sources.threaded import ThreadedSource

ScriptStep = bytes | float
"""A byte script step: bytes to write, or a pause in seconds."""


class FakeCamera(ThreadedSource):
    """A camera replaying images (files or HxWx3 BGR arrays) at ``fps`` frames/s.

    ``unplug()`` stops the frames and makes the camera offline; ``replug()`` brings
    it back (counted in ``stats.reconnects``). Without ``loop`` it ends after the
    last image, offline with "end of images" and ``finished`` set.
    """

    def __init__(
        self,
        name: str,
        images: Sequence[Path | str | NDArray],
        sink: Callable[[Frame], None],
        *,
        fps: float = 10.0,
        loop: bool = True,
    ) -> None:
        super().__init__(name)
        self.images = [
            read_image(Path(i)) if isinstance(i, Path | str) else i for i in images
        ]
        if not self.images or fps <= 0:
            raise ValueError("FakeCamera needs at least one image and fps > 0")
        self.sink, self.period, self.loop = sink, 1.0 / fps, loop
        self._plugged = threading.Event()
        self._plugged.set()

    def unplug(self) -> None:
        """Stop delivering frames, as if the cable were pulled."""
        self._plugged.clear()

    def replug(self) -> None:
        """Deliver frames again."""
        self._plugged.set()

    def _run(self) -> None:
        due, index, seq = time.monotonic(), 0, 0
        while not self._stop.is_set():
            if not self._plugged.is_set():
                self._set_health(Health.OFFLINE, "unplugged")
                while not self._plugged.wait(0.05):
                    if self._stop.is_set():
                        return
                self.stats.reconnects += 1
                due = time.monotonic()
            if index == len(self.images):
                if not self.loop:
                    self._set_health(Health.OFFLINE, "end of images")
                    return
                index = 0
            if self._stop.wait(due - time.monotonic()):
                return
            self.stats.read += 1
            self._set_health(Health.OK)
            self.sink(Frame(self.name, seq, time.time(), self.images[index]))
            self.stats.delivered += 1
            due, index, seq = due + self.period, index + 1, seq + 1


def serial_script(
    port: serial.SerialBase | str, script: Iterable[ScriptStep], baud: int = 115200
) -> None:
    """Write a byte script into an open pyserial port, or a path/URL opened for it.

    Bytes are written as they are (split them to make partial lines); a float
    pauses that many seconds. A path is e.g. one end of a socat pty pair.
    """
    if isinstance(port, str):
        with serial.serial_for_url(port, baudrate=baud) as opened:
            serial_script(opened, script)
        return
    for step in script:
        if isinstance(step, bytes):
            port.write(step)
            port.flush()
        else:
            time.sleep(step)


class LoopbackPort:
    """A pyserial ``loop://`` port for ``SerialSource(..., opener=port.open)``.

    What ``play`` writes comes out of the source's reads. ``unplug()`` closes the
    port under the source and refuses to reopen until ``replug()``.
    """

    def __init__(self) -> None:
        self.port: serial.SerialBase | None = None
        self.opens = 0
        self._opened = threading.Event()
        self._plugged = True

    def open(self, url: str, baud: int, timeout: float) -> serial.SerialBase:
        """The ``PortOpener`` to give the source (``url`` is ignored)."""
        if not self._plugged:
            raise serial.SerialException(f"could not open port {url}: unplugged")
        self.port = serial.serial_for_url("loop://", baudrate=baud, timeout=timeout)
        self.opens += 1
        self._opened.set()
        return self.port

    def play(self, script: Iterable[ScriptStep], timeout: float = 5.0) -> None:
        """Write ``script`` once the source has opened the port (wait ≤ timeout s)."""
        if not self._opened.wait(timeout) or self.port is None:
            raise TimeoutError(f"the source did not open the port in {timeout} s")
        serial_script(self.port, script)

    def unplug(self) -> None:
        """Close the port under the source; reopening fails until ``replug()``."""
        self._plugged = False
        self._opened.clear()
        if self.port is not None:
            self.port.close()

    def replug(self) -> None:
        """Let the source reopen the port."""
        self._plugged = True


class FakeBackend:
    """A ``Backend`` with canned outputs, for devices edgeinfer cannot reach here.

    ``outputs`` is returned (copied) by every ``infer``; ``delay_s`` makes each call
    that slow; ``fail_every`` > 0 makes every n-th call raise ``RuntimeError``, as a
    flaky accelerator driver would. ``calls`` counts the calls.
    """

    preferred_workers = 1

    def __init__(
        self,
        inputs: Sequence[TensorSpec],
        outputs: Sequence[TensorSpec],
        values: Sequence[NDArray],
        *,
        delay_s: float = 0.0,
        fail_every: int = 0,
        device: str = "fake",
    ) -> None:
        self.placement = Placement("fake", device)
        self.inputs, self.outputs = tuple(inputs), tuple(outputs)
        self.values = [np.asarray(v) for v in values]
        self.delay_s, self.fail_every = delay_s, fail_every
        self.calls = 0
        self._lock = threading.Lock()

    def infer(self, inputs: list[NDArray]) -> list[NDArray]:
        """Check the inputs against the specs, wait, then return the canned outputs."""
        for spec, tensor in zip(self.inputs, inputs, strict=True):
            if tensor.shape != spec.shape or tensor.dtype != spec.dtype:
                raise ValueError(f"{spec.name}: got {tensor.dtype}{tensor.shape}")
        with self._lock:
            self.calls += 1
            n = self.calls
        if self.delay_s:
            time.sleep(self.delay_s)
        if self.fail_every and n % self.fail_every == 0:
            raise RuntimeError(f"fake accelerator failed on call {n}")
        return [v.copy() for v in self.values]

    def fork(self) -> FakeBackend:
        """The same fake (its state is shared and thread-safe)."""
        return self

    def close(self) -> None:
        """Nothing to release."""
