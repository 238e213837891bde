"""One doctor check's outcome: pass, warn, fail or skip, with a fix."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Literal

Outcome = Literal["pass", "warn", "fail", "skip"]


@dataclass(frozen=True)
class CheckResult:
    """``name`` says what was checked (``camera:line1``), ``detail`` what was
    found, ``fix`` what to do when it is not a pass; ``ms`` how long it took."""

    name: str
    outcome: Outcome
    detail: str
    fix: str = ""
    ms: float = 0.0

    @property
    def ok(self) -> bool:
        """Pass, warn and skip are fine; only a fail is not."""
        return self.outcome != "fail"

    def to_json(self) -> dict[str, Any]:
        """Plain values for ``--json``."""
        return {**asdict(self), "ok": self.ok}


def passed(name: str, detail: str) -> CheckResult:
    """A check that passed."""
    return CheckResult(name, "pass", detail)


def failed(name: str, detail: str, fix: str) -> CheckResult:
    """A check that failed, with what to do."""
    return CheckResult(name, "fail", detail, fix)


def warned(name: str, detail: str, fix: str = "") -> CheckResult:
    """Worth knowing, not broken."""
    return CheckResult(name, "warn", detail, fix)


def skipped(name: str, detail: str) -> CheckResult:
    """Not checked, and why."""
    return CheckResult(name, "skip", detail)


def timed(name: str, check: Callable[[], CheckResult]) -> CheckResult:
    """Run ``check``; an unexpected exception is a failed check, not a crash."""
    t0 = time.perf_counter()
    try:
        result = check()
    except Exception as err:  # a failing check is a result, not a crash
        result = failed(
            name,
            f"{type(err).__name__}: {err}",
            "run edgeinfer doctor --debug and report the traceback",
        )
    ms = round((time.perf_counter() - t0) * 1e3, 1)
    return CheckResult(result.name, result.outcome, result.detail, result.fix, ms)
