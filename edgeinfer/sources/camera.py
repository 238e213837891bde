"""Video sources: cameras, network streams and files, decoded with OpenCV.

A source spec is a device index (``"0"``), ``/dev/videoN`` (V4L2), a URL that FFmpeg
reads (``rtsp://``, ``http://`` MJPEG, ...) or a video file. Network streams open
with open and read timeouts so a dead server cannot hang the thread; a stream that
does not open or stops sending is reopened with backoff.

    for frame in iter_video(Path("clip.avi")):   # every frame, for replay
        ...
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import cv2

from edgeinfer.config.streams import camera_source_kind
from edgeinfer.errors import SourceError
from edgeinfer.sources.base import Backoff, Frame, Health
from edgeinfer.sources.threaded import ThreadedSource

log = logging.getLogger(__name__)

FPS_CAP_TOLERANCE_S = 0.002
"""A frame this early (s) still meets the fps cap: timestamps jitter."""


def open_capture(
    source: str, timeout_s: float = 5.0, decode_threads: int = 0
) -> cv2.VideoCapture:
    """A ``VideoCapture`` for ``source`` (check ``isOpened()``); timeouts in s.

    ``decode_threads`` sets FFmpeg's decoder threads for URLs and files (0: its
    default, one per core). FFmpeg decodes frames in parallel by holding back one
    frame per extra thread, so one thread hands each frame on at once, with the
    least memory and CPU; more decode a large stream faster where decoding is the
    limit.
    """
    kind = camera_source_kind(source)
    if kind == "index":
        return cv2.VideoCapture(int(source))
    if kind == "device":
        return cv2.VideoCapture(source, cv2.CAP_V4L2)
    params = [cv2.CAP_PROP_N_THREADS, decode_threads] if decode_threads else []
    if kind == "url":
        ms = int(timeout_s * 1000)
        params += [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, ms]
        params += [cv2.CAP_PROP_READ_TIMEOUT_MSEC, ms]
        return cv2.VideoCapture(source, cv2.CAP_FFMPEG, params)
    if params:
        capture = cv2.VideoCapture(source, cv2.CAP_ANY, params)
        if capture.isOpened():
            return capture
        capture.release()  # a backend that takes no thread count: open it plainly
    return cv2.VideoCapture(source)


def iter_video(
    path: Path | str, stream: str | None = None, start: float = 0.0
) -> Iterator[Frame]:
    """Every frame of a video file, in order, read synchronously.

    ``stream`` names the frames (default: the file's stem); a frame's timestamp is
    ``start`` plus its position in the file (s), so the first one is at ``start``.
    Raises SourceError at once if the file cannot be opened, and when iterated if
    it holds no decodable frame.
    """
    path = Path(path)
    if not path.is_file():
        raise SourceError(f"video {path} does not exist — check the path")
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        capture.release()
        raise SourceError(
            f"cannot open video {path} — give a file FFmpeg decodes (AVI, MP4, MKV)"
        )
    return _frames(capture, path, stream or path.stem, start)


def _frames(
    capture: cv2.VideoCapture, path: Path, stream: str, start: float
) -> Iterator[Frame]:
    try:
        seq, clock = 0, FileClock(capture)
        while True:
            ok, image = capture.read()
            if not ok or image is None:
                break
            yield Frame(stream, seq, start + clock.position(capture), image)
            seq += 1
        if seq == 0:
            raise SourceError(
                f"no decodable frame in {path} — check the file plays (ffprobe)"
            )
    finally:
        capture.release()


class CameraSource(ThreadedSource):
    """Frames from a camera, network stream or file, delivered to ``sink``.

    Timestamps are ``time.time()`` at grab for live sources; for files, when the
    source started plus the position in the file (s). ``seq`` counts frames read.
    ``fps_cap`` (frames/s) skips frames that come faster, counting them; for files
    ``loop`` rewinds at the end and ``realtime`` paces reads at the file's rate.
    A file that ends without ``loop`` leaves the source offline ("end of file") with
    ``finished`` set. ``open_timeout_s`` bounds opening and each read of a URL.
    ``decode_threads`` is FFmpeg's thread count for files and URLs (see
    ``open_capture``); None: one where frames come at the source's pace, FFmpeg's
    default for a file read as fast as it decodes.
    """

    _log = log

    def __init__(
        self,
        name: str,
        source: str,
        sink: Callable[[Frame], None],
        *,
        fps_cap: float | None = None,
        loop: bool = False,
        realtime: bool = True,
        open_timeout_s: float = 5.0,
        decode_threads: int | None = None,
        backoff: Backoff | None = None,
    ) -> None:
        super().__init__(name, backoff)
        self.source, self.sink = source, sink
        self.kind = camera_source_kind(source)
        self.fps_cap, self.loop, self.realtime = fps_cap, loop, realtime
        self.open_timeout_s = open_timeout_s
        if decode_threads is None:
            decode_threads = 0 if self.kind == "file" and not realtime else 1
        self.decode_threads = decode_threads
        self._seq = 0
        self._next_due = 0.0

    def _run(self) -> None:
        opened_before = False
        while not self._stop.is_set():
            capture = self._open()
            if capture is None:
                self._retry("cannot open", Health.OFFLINE)
                continue
            if opened_before:
                self.stats.reconnects += 1
            opened_before = True
            try:
                ended = self._read(capture)
            finally:
                capture.release()
            if ended:
                self._set_health(Health.OFFLINE, "end of file")
                return
            if not self._stop.is_set():
                self._retry("no frames from", Health.DEGRADED)

    def _open(self) -> cv2.VideoCapture | None:
        if self.kind == "file" and not Path(self.source).is_file():
            return None
        capture = open_capture(self.source, self.open_timeout_s, self.decode_threads)
        if capture.isOpened():
            return capture
        capture.release()
        return None

    def _retry(self, what: str, health: Health) -> None:
        delay = self.backoff.next()
        missing = self.kind in ("file", "device") and not Path(self.source).exists()
        detail = f" (no such {self.kind})" if missing else ""
        self._set_health(
            health,
            f"{what} {self.source}{detail} "
            f"(attempt {self.backoff.attempts}, retry in {delay:.1f} s)",
        )
        self._stop.wait(delay)

    def _read(self, capture: cv2.VideoCapture) -> bool:
        """Deliver frames until stopped or the stream fails; True at a file's end."""
        is_file = self.kind == "file"
        started, clock = time.time(), time.monotonic()
        file_clock, rewound = FileClock(capture), False
        while not self._stop.is_set():
            # A file in real time: decode each frame when it is due, as a camera's
            # frame arrives, not while the frame before is still being worked on.
            if is_file and self.realtime:
                due = clock + file_clock.upcoming()
                if self._stop.wait(due - time.monotonic()):
                    return False
            if not capture.grab():
                if is_file and self.loop and not rewound:
                    rewound = capture.set(cv2.CAP_PROP_POS_FRAMES, 0)
                    file_clock.rewind()
                    continue
                return is_file and not self.loop
            rewound = False
            self.stats.read += 1
            seq, self._seq = self._seq, self._seq + 1
            stamp = time.time()
            if is_file:
                position = file_clock.position(capture)
                stamp = started + position
                wait = clock + position - time.monotonic()
                if self.realtime and self._stop.wait(wait):
                    return False
            if self._over_cap(stamp):
                self.stats.fps_skipped += 1
                continue
            self._deliver(capture, seq, stamp)
        return False

    def _deliver(self, capture: cv2.VideoCapture, seq: int, stamp: float) -> None:
        ok, image = capture.retrieve()
        if not ok or image is None:
            self.stats.decode_errors += 1
            self._set_health(Health.DEGRADED, f"frame {seq} did not decode")
            return
        self._set_health(Health.OK)
        self.backoff.reset()
        self.sink(Frame(self.name, seq, stamp, image))
        self.stats.delivered += 1

    def _over_cap(self, stamp: float) -> bool:
        """True if a frame at ``stamp`` comes too soon for ``fps_cap``."""
        if not self.fps_cap:
            return False
        if stamp < self._next_due - FPS_CAP_TOLERANCE_S:
            return True
        interval = 1.0 / self.fps_cap
        # Schedule from the due time, not the frame, so jitter does not lower the
        # rate; the first frame and one after a gap start the schedule again.
        if stamp >= self._next_due + interval:
            self._next_due = stamp
        self._next_due += interval
        return False


class FileClock:
    """Positions (s) of a file's frames from the first one, always increasing.

    OpenCV gives each frame's position in ``CAP_PROP_POS_MSEC`` but 0 for a file's
    last frame; a position that does not advance is put one frame step after the
    previous one. After ``rewind()`` positions go on from the end of the last pass.
    """

    def __init__(self, capture: cv2.VideoCapture) -> None:
        fps = capture.get(cv2.CAP_PROP_FPS)
        self.period = 1.0 / fps if 0 < fps < 1000 else 0.04
        self.first: float | None = None
        self.offset = self.step = 0.0
        self.last: float | None = None

    def position(self, capture: cv2.VideoCapture) -> float:
        """The position of the frame just grabbed, in seconds."""
        raw = capture.get(cv2.CAP_PROP_POS_MSEC) / 1000
        self.first = raw if self.first is None else self.first
        position = self.offset + raw - self.first
        if self.last is not None:
            if position <= self.last:
                position = self.last + (self.step or self.period)
            self.step = position - self.last
        self.last = position
        return position

    def upcoming(self) -> float:
        """Where the next frame should be, one step after the last (s)."""
        if self.last is None:
            return self.offset
        return self.last + (self.step or self.period)

    def rewind(self) -> None:
        """The file starts again: the next frame comes one step after the last."""
        self.offset = (self.last or 0.0) + (self.step or self.period)
        self.first = None
