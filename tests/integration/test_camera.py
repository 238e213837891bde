"""Video sources on real data: the asset clip, a local MJPEG server, closed ports.

The MJPEG server is a small ``http.server`` on 127.0.0.1 serving JPEG frames of the
clip as ``multipart/x-mixed-replace``; the tests kill and restart it to check that
the camera reports the loss, keeps retrying and resumes on the same port.
"""

from __future__ import annotations

import itertools
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import cv2
import numpy as np
import pytest

from edgeinfer.config.streams import CameraStreamConfig
from edgeinfer.errors import SourceError
from edgeinfer.sources import Backoff, CameraSource, Frame, Health, camera, iter_video
from edgeinfer.sources.camera import open_capture
from edgeinfer.testing import FakeCamera

pytestmark = pytest.mark.integration

CLIP_FRAMES = 341


@pytest.fixture(scope="module")
def clip(assets: Path) -> Path:
    """The real 1280x720 overhead clip."""
    return assets / "video" / "pedestrians_720p.avi"


def wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


class FrameLog:
    """A fast sink keeping (seq, timestamp, shape) of each frame, not the image."""

    def __init__(self) -> None:
        self.frames: list[tuple[int, float, tuple[int, ...]]] = []

    def __call__(self, frame: Frame) -> None:
        self.frames.append((frame.seq, frame.timestamp, frame.image.shape))

    def __len__(self) -> int:
        return len(self.frames)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- files ---------------------------------------------------------------------------
def test_iter_video_yields_every_frame_of_the_clip_in_order(clip: Path) -> None:
    frames = [(f.stream, f.seq, f.timestamp, f.image.shape) for f in iter_video(clip)]
    assert len(frames) == CLIP_FRAMES
    assert {shape for *_, shape in frames} == {(720, 1280, 3)}
    assert [seq for _, seq, _, _ in frames] == list(range(CLIP_FRAMES))
    stamps = [stamp for _, _, stamp, _ in frames]
    assert stamps[0] == 0.0
    assert all(b > a for a, b in itertools.pairwise(stamps))
    assert frames[0][0] == "pedestrians_720p"


def test_iter_video_raises_one_line_source_errors(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=r"does not exist — check the path"):
        iter_video(tmp_path / "missing.avi")
    text = tmp_path / "notes.avi"
    text.write_text("not a video\n" * 10)
    with pytest.raises(SourceError) as caught:
        list(iter_video(text))
    assert "\n" not in str(caught.value)
    assert str(text) in str(caught.value)


def test_file_source_delivers_every_frame_then_ends_offline(clip: Path) -> None:
    sink = FrameLog()
    source = CameraSource("clip", str(clip), sink, realtime=False)
    source.start()
    assert source.finished.wait(30)
    source.stop()
    assert len(sink) == CLIP_FRAMES
    assert [seq for seq, _, _ in sink.frames] == list(range(CLIP_FRAMES))
    stamps = [stamp for _, stamp, _ in sink.frames]
    assert all(b > a for a, b in itertools.pairwise(stamps))
    assert source.health.health is Health.OFFLINE
    assert source.health.reason == "end of file"
    assert source.stats.read == source.stats.delivered == CLIP_FRAMES


def test_fps_cap_skips_frames_that_come_too_fast_and_counts_them(clip: Path) -> None:
    sink = FrameLog()
    source = CameraSource("clip", str(clip), sink, realtime=False, fps_cap=5.0)
    source.start()
    assert source.finished.wait(30)
    # The clip spans 13.6 s of file time, so about 69 frames fit 5 frames/s.
    assert 60 <= len(sink) <= 75
    assert source.stats.delivered + source.stats.fps_skipped == CLIP_FRAMES
    stamps = [stamp for _, stamp, _ in sink.frames]
    assert min(b - a for a, b in itertools.pairwise(stamps)) > 0.19


def test_looping_file_rewinds_with_increasing_timestamps(clip: Path) -> None:
    sink = FrameLog()
    source = CameraSource("clip", str(clip), sink, realtime=False, loop=True)
    source.start()
    assert wait_for(lambda: len(sink) > CLIP_FRAMES + 20, timeout=30)
    assert source.health.health is Health.OK
    source.stop()
    stamps = [stamp for _, stamp, _ in sink.frames]
    assert all(b > a for a, b in itertools.pairwise(stamps))


def decoder_threads() -> list[str]:
    """Names of FFmpeg's frame-decoding threads in this process."""
    tasks = Path("/proc/self/task").iterdir()
    names = [(t / "comm").read_text().strip() for t in tasks]
    return [n for n in names if n.startswith("av:")]


def test_paced_streams_decode_on_one_thread_with_the_same_frames(clip: Path) -> None:
    one, two = open_capture(str(clip), decode_threads=1), open_capture(str(clip), 0, 2)
    try:
        assert one.get(cv2.CAP_PROP_N_THREADS) == 1
        assert two.get(cv2.CAP_PROP_N_THREADS) == 2
        for _ in range(20):  # threads change when a frame comes out, not what it is
            ok_one, a = one.read()
            ok_two, b = two.read()
            assert ok_one
            assert ok_two
            assert np.array_equal(a, b)
        assert len(decoder_threads()) == 2  # the two-thread capture's
    finally:
        one.release()
        two.release()

    assert CameraStreamConfig(name="c", source=str(clip)).decode_threads is None
    sink = FrameLog()
    fast = CameraSource("clip", str(clip), sink, realtime=False)
    assert fast.decode_threads == 0  # FFmpeg's own choice: decoding ahead
    paced = CameraSource("clip", str(clip), sink, realtime=True)
    assert paced.decode_threads == 1
    paced.start()
    try:
        assert wait_for(lambda: len(sink) >= 5)
        assert decoder_threads() == []
    finally:
        paced.stop()


def test_realtime_file_is_paced_at_the_file_rate(clip: Path) -> None:
    sink = FrameLog()
    source = CameraSource("clip", str(clip), sink, realtime=True)
    source.start()
    time.sleep(1.0)
    source.stop()
    # 25 frames/s of file time (40 ms apart): about 25 frames in one second.
    assert 15 <= len(sink) <= 35


class GrabTimes:
    """A real capture that notes the wall-clock time of each ``grab`` (the decode)."""

    def __init__(self, capture: cv2.VideoCapture, times: list[float]) -> None:
        self._capture, self._times = capture, times

    def grab(self) -> bool:
        self._times.append(time.time())
        return bool(self._capture.grab())

    def __getattr__(self, name: str) -> object:
        return getattr(self._capture, name)


def test_a_realtime_file_decodes_each_frame_when_it_is_due(
    clip: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Decoding the next frame right after handing one on would take the cores from
    # the worker busy with it; a camera's frame, too, is decoded when it arrives.
    grabs: list[float] = []
    real_open = camera.open_capture
    monkeypatch.setattr(
        camera, "open_capture", lambda *a: GrabTimes(real_open(*a), grabs)
    )
    sink = FrameLog()
    source = CameraSource("clip", str(clip), sink, realtime=True)
    source.start()
    assert wait_for(lambda: len(sink) >= 12)
    source.stop()
    stamps = [stamp for _, stamp, _ in sink.frames]
    # Frame n is due at its timestamp (the start plus its place in the file, 40 ms
    # apart) and decoded then, not a frame's time early. The second frame's time is
    # guessed from the header's frame rate (50 frames/s; the frames are 40 ms apart),
    # the later ones from the step between the last two.
    early = [due - grabbed for grabbed, due in zip(grabs, stamps, strict=False)]
    assert len(early) >= 12
    assert max(early[2:]) < 0.01


# -- a network stream ----------------------------------------------------------------
class MjpegServer:
    """An HTTP MJPEG server on 127.0.0.1 that can be killed and restarted."""

    def __init__(self, jpegs: list[bytes], fps: float = 25.0) -> None:
        self.jpegs, self.period = jpegs, 1.0 / fps
        self.port = 0
        self._server: ThreadingHTTPServer | None = None
        self._halt = threading.Event()

    def start(self) -> None:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header(
                    "Content-Type", "multipart/x-mixed-replace; boundary=frame"
                )
                self.end_headers()
                index = 0
                while not server._halt.is_set():
                    jpeg = server.jpegs[index % len(server.jpegs)]
                    head = b"--frame\r\nContent-Type: image/jpeg\r\n"
                    head += b"Content-Length: %d\r\n\r\n" % len(jpeg)
                    try:
                        self.wfile.write(head + jpeg + b"\r\n")
                    except OSError:
                        return
                    index += 1
                    time.sleep(server.period)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._halt.clear()
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def kill(self) -> None:
        """Drop every connection and close the listening socket."""
        self._halt.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/stream.mjpg"


@pytest.fixture
def mjpeg(clip: Path) -> Iterator[MjpegServer]:
    """A running MJPEG server streaming small JPEGs of the clip's first frames."""
    jpegs = []
    for frame in iter_video(clip):
        small = cv2.resize(frame.image, (320, 180))
        jpegs.append(cv2.imencode(".jpg", small)[1].tobytes())
        if len(jpegs) == 10:
            break
    server = MjpegServer(jpegs)
    server.start()
    yield server
    server.kill()


def test_mjpeg_stream_survives_its_server_being_killed_and_restarted(
    mjpeg: MjpegServer, caplog: pytest.LogCaptureFixture
) -> None:
    sink = FrameLog()
    backoff = Backoff(initial=0.1, cap=0.5)
    source = CameraSource("door", mjpeg.url, sink, open_timeout_s=1.0, backoff=backoff)
    source.start()
    try:
        assert wait_for(lambda: len(sink) >= 10)
        assert source.health.health is Health.OK
        assert sink.frames[0][2] == (180, 320, 3)

        mjpeg.kill()
        assert wait_for(lambda: source.health.health is not Health.OK)
        lost = source.health  # degraded while reconnecting, then offline
        assert lost.health in (Health.DEGRADED, Health.OFFLINE)
        assert mjpeg.url in lost.reason
        assert wait_for(lambda: "cannot open" in source.health.reason)
        assert source.health.reason.startswith(f"cannot open {mjpeg.url} (attempt ")
        assert wait_for(lambda: source.health.health is Health.OFFLINE)
        count = len(sink)
        time.sleep(0.8)  # it keeps retrying; nothing escapes its thread
        assert len(sink) == count
        assert not source.finished.is_set()

        mjpeg.start()  # same port
        assert wait_for(lambda: len(sink) >= count + 10)
        assert wait_for(lambda: source.health.health is Health.OK)
        assert source.stats.reconnects >= 1
    finally:
        source.stop()
    assert any(
        "door" in r.getMessage() and r.levelname == "WARNING" for r in caplog.records
    )
    seqs = [seq for seq, _, _ in sink.frames]
    assert seqs == sorted(seqs)


@pytest.mark.parametrize("kind", ["rtsp", "file"])
def test_source_that_never_opens_is_offline_and_retries_with_growing_delays(
    kind: str, tmp_path: Path
) -> None:
    spec = (
        f"rtsp://127.0.0.1:{closed_port()}/x"
        if kind == "rtsp"
        else str(tmp_path / "missing.avi")
    )
    source = CameraSource(
        "cam", spec, FrameLog(), open_timeout_s=1.0, backoff=Backoff(0.1, 1.0, 0.0)
    )
    reasons: list[str] = []
    source.start()
    deadline = time.monotonic() + 1.2
    while time.monotonic() < deadline:
        reason = source.health.reason
        if not reasons or reasons[-1] != reason:
            reasons.append(reason)
        time.sleep(0.01)
    started = time.monotonic()
    source.stop()
    assert time.monotonic() - started < 1.0
    assert source.health.health is Health.OFFLINE
    assert source.health.reason.startswith(f"cannot open {spec}")
    delays = [
        float(m[1]) for r in reasons if (m := re.search(r"retry in ([\d.]+) s", r))
    ]
    assert delays[:3] == [0.1, 0.2, 0.4]
    if kind == "file":
        assert "(no such file)" in source.health.reason


# -- the shipped fake ----------------------------------------------------------------
def test_fake_camera_replays_images_and_simulates_unplug(images: Path) -> None:
    sink = FrameLog()
    array = np.zeros((48, 64, 3), np.uint8)
    camera = FakeCamera("fake", [images / "cat.bmp", array], sink, fps=50)
    camera.start()
    try:
        assert wait_for(lambda: len(sink) >= 4)
        assert camera.health.health is Health.OK
        assert sink.frames[1][2] == (48, 64, 3)
        camera.unplug()
        assert wait_for(lambda: camera.health.health is Health.OFFLINE)
        assert camera.health.reason == "unplugged"
        count = len(sink)
        time.sleep(0.1)
        assert len(sink) == count
        camera.replug()
        assert wait_for(lambda: len(sink) > count + 2)
        assert camera.health.health is Health.OK
        assert camera.stats.reconnects == 1
    finally:
        camera.stop()
    assert camera.finished.is_set()


def test_a_failing_sink_is_logged_counted_and_the_source_restarts(
    caplog: pytest.LogCaptureFixture,
) -> None:
    delivered: list[int] = []

    def sink(frame: Frame) -> None:
        if not delivered:
            delivered.append(-1)
            raise RuntimeError("pipeline bug")
        delivered.append(frame.seq)

    camera = FakeCamera("fake", [np.zeros((8, 8, 3), np.uint8)], sink, fps=100)
    camera.start()
    try:
        assert wait_for(lambda: camera.stats.errors == 1)
        assert "RuntimeError: pipeline bug" in camera.health.reason
        assert wait_for(lambda: len(delivered) > 3)
        assert camera.health.health is Health.OK
    finally:
        camera.stop()
    assert any(
        r.levelname == "ERROR" and r.getMessage() == "source fake failed"
        for r in caplog.records
    )
