"""Motion gating: skip inference on frames that did not change (result caching)."""

from __future__ import annotations

import cv2
import numpy as np

from edgeinfer.backends.base import NDArray

THUMB = (64, 64)


class MotionGate:
    """Compares a 64x64 grey thumbnail of each frame with the last frame let through.

    ``check(image)`` is True when the mean absolute difference (0..255) is below
    ``threshold``: the frame may reuse the last result. Buffers are allocated once.
    """

    def __init__(self, threshold: float) -> None:
        self.threshold = threshold
        self._small = np.empty((*THUMB[::-1], 3), np.uint8)
        self._grey = np.empty(THUMB[::-1], np.uint8)
        self._ref = np.empty(THUMB[::-1], np.uint8)
        self._diff = np.empty(THUMB[::-1], np.uint8)
        self._has_ref = False

    def check(self, image: NDArray) -> bool:
        """True if ``image`` is close enough to the reference to skip inference."""
        cv2.resize(image, THUMB, dst=self._small, interpolation=cv2.INTER_AREA)
        cv2.cvtColor(self._small, cv2.COLOR_BGR2GRAY, dst=self._grey)
        if self._has_ref:
            cv2.absdiff(self._grey, self._ref, dst=self._diff)
            if float(cv2.mean(self._diff)[0]) < self.threshold:
                return True
        self._grey, self._ref = self._ref, self._grey
        self._has_ref = True
        return False
