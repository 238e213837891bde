"""The debounce at the heart of every rule: N consecutive hits raise once, the
condition must clear before it can raise again, and a cooldown spaces alerts."""

from __future__ import annotations


class Trigger:
    """Edge-triggered debounce over a stream of booleans with timestamps (seconds)."""

    def __init__(self, consecutive: int = 1, cooldown_s: float = 0.0) -> None:
        self.consecutive = max(1, consecutive)
        self.cooldown_s = cooldown_s
        self._run = 0
        self._raised = False
        self._last_fire = float("-inf")

    def update(self, hit: bool, timestamp: float) -> bool:
        """Feed one observation; True exactly when an alert should be raised now."""
        if not hit:
            self._run = 0
            self._raised = False
            return False
        self._run += 1
        if self._raised or self._run < self.consecutive:
            return False
        if timestamp - self._last_fire < self.cooldown_s:
            return False
        self._raised = True
        self._last_fire = timestamp
        return True
