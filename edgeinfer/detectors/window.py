"""A sliding window kept sorted: median, MAD and ranks of the last ``size`` samples.

    window = SortedWindow(288)
    window.push(21.5)
    window.median(), window.mad(), window.count_at_least(30.0)

Pushing costs one binary search and one ``list.insert``/``del`` (a C ``memmove`` of
at most ``size`` pointers); the median is O(1) and the MAD O(log n) without copying,
so a window of a few thousand samples costs a few microseconds per sample.
"""

from __future__ import annotations

import bisect
from collections import deque

MAD_TO_SIGMA = 1.4826
"""MAD times this is the standard deviation of normally distributed samples."""


class SortedWindow:
    """The last ``size`` values, in arrival order and in sorted order."""

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError(f"window size must be at least 1, not {size}")
        self.size = size
        self._order: deque[float] = deque()
        self._sorted: list[float] = []

    def __len__(self) -> int:
        return len(self._sorted)

    @property
    def full(self) -> bool:
        """True once ``size`` values have been pushed."""
        return len(self._sorted) >= self.size

    @property
    def values(self) -> list[float]:
        """The values in sorted order (do not modify)."""
        return self._sorted

    def push(self, value: float) -> None:
        """Add ``value``; the oldest value leaves once the window is full."""
        self._order.append(value)
        bisect.insort(self._sorted, value)
        if len(self._order) > self.size:
            old = self._order.popleft()
            del self._sorted[bisect.bisect_left(self._sorted, old)]

    def clear(self) -> None:
        """Forget every value."""
        self._order.clear()
        self._sorted.clear()

    def median(self) -> float:
        """The median (mean of the middle two for an even count); window not empty."""
        s, n = self._sorted, len(self._sorted)
        half = n // 2
        return s[half] if n % 2 else 0.5 * (s[half - 1] + s[half])

    def mad(self, center: float | None = None) -> float:
        """Median absolute deviation from ``center`` (default: the median).

        The absolute deviations are two sorted runs, walking outwards from
        ``center`` to the left and to the right; their ``n // 2``-th smallest
        (the upper median) is found by binary search over how many come from
        the left run, in O(log n) and without building either run.
        """
        s, n = self._sorted, len(self._sorted)
        if center is None:
            center = self.median()
        split = bisect.bisect_left(s, center)
        n_left, n_right = split, n - split
        k = n // 2  # 0-based rank of the wanted deviation among all n

        # Take `a` from the left run and k - a from the right as the k smallest;
        # find the least `a` such that the left run's a-th is not smaller than the
        # right run's (k - a - 1)-th, i.e. taking more from the left cannot help.
        lo, hi = max(0, k - n_right), min(k, n_left)
        while lo < hi:
            a = (lo + hi) // 2
            b = k - a
            if b > 0 and center - s[split - 1 - a] < s[split + b - 1] - center:
                lo = a + 1
            else:
                hi = a
        a, b = lo, k - lo
        left = center - s[split - 1 - a] if a < n_left else float("inf")
        right = s[split + b] - center if b < n_right else float("inf")
        return min(left, right)

    def count_at_least(self, value: float) -> int:
        """How many values in the window are ``>= value``."""
        return len(self._sorted) - bisect.bisect_left(self._sorted, value)
