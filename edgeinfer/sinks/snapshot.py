"""JPEG snapshots of a frame with what the model found drawn on it."""

from __future__ import annotations

import cv2

from edgeinfer.backends.base import NDArray
from edgeinfer.postprocess.results import Classification, Detections, Result

_GREEN = (60, 200, 60)


def encode_snapshot(image: NDArray, result: Result | None, quality: int = 85) -> bytes:
    """The frame as JPEG bytes, with detection boxes or the top class drawn."""
    canvas = image.copy()
    h, w = canvas.shape[:2]
    if isinstance(result, Detections):
        for d in result.items:
            p0 = (int(d.box.xmin * w), int(d.box.ymin * h))
            p1 = (int(d.box.xmax * w), int(d.box.ymax * h))
            cv2.rectangle(canvas, p0, p1, _GREEN, 2)
            cv2.putText(
                canvas,
                f"{d.label} {d.score:.2f}",
                (p0[0], max(12, p0[1] - 4)),
                cv2.FONT_HERSHEY_SIMPLEX,
                0.45,
                _GREEN,
                1,
                cv2.LINE_AA,
            )
    elif isinstance(result, Classification) and result.top:
        top = result.top[0]
        cv2.putText(
            canvas,
            f"{top.label} {top.score:.2f}",
            (6, 18),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.55,
            _GREEN,
            1,
            cv2.LINE_AA,
        )
    ok, buf = cv2.imencode(".jpg", canvas, [cv2.IMWRITE_JPEG_QUALITY, quality])
    return buf.tobytes() if ok else b""
