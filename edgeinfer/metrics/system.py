"""What the operating system tells about this process and the device, where it can.

Linux exposes memory in ``/proc`` and temperatures in ``/sys/class/thermal``; where a
file is missing (containers, other systems) the reading is left out, not guessed.
"""

from __future__ import annotations

import os
import resource
import shutil
import threading
import time
from pathlib import Path
from typing import Any

THERMAL = Path("/sys/class/thermal")
_MIN_CPU_WINDOW_S = 1.0


class ProcessMeter:
    """CPU use of this process (percent of one core) and its memory."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last = (time.monotonic(), _cpu_seconds())
        self._percent = 0.0

    def cpu_percent(self) -> float:
        """CPU time used per wall time since the previous reading (at least 1 s
        apart, so two readers do not shrink each other's window)."""
        with self._lock:
            now, cpu = time.monotonic(), _cpu_seconds()
            wall = now - self._last[0]
            if wall >= _MIN_CPU_WINDOW_S:
                self._percent = 100.0 * (cpu - self._last[1]) / wall
                self._last = (now, cpu)
            return round(self._percent, 2)

    def sample(self) -> dict[str, Any]:
        """``cpu_percent``, ``rss_bytes``, ``threads``."""
        return {
            "cpu_percent": self.cpu_percent(),
            "rss_bytes": rss_bytes(),
            "threads": threading.active_count(),
        }


def _cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system


def rss_bytes() -> int:
    """Resident memory of this process (bytes); the peak where /proc is missing."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def temperatures(root: Path = THERMAL) -> dict[str, float]:
    """Thermal zone temperatures (°C) by zone type, e.g. ``x86_pkg_temp``."""
    out: dict[str, float] = {}
    for zone in sorted(root.glob("thermal_zone*")):
        try:
            kind = (zone / "type").read_text().strip() or zone.name
            value = int((zone / "temp").read_text().strip()) / 1000.0
        except (OSError, ValueError):
            continue
        name, n = kind, 1
        while name in out:  # several zones of one type: cpu-thermal, cpu-thermal-2
            n += 1
            name = f"{kind}-{n}"
        out[name] = round(value, 1)
    return out


def disk(path: Path) -> dict[str, Any] | None:
    """Free and total bytes of the file system holding ``path`` (or its parent)."""
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    try:
        usage = shutil.disk_usage(probe)
    except OSError:
        return None
    return {
        "path": str(path),
        "total_bytes": usage.total,
        "free_bytes": usage.free,
        "used_percent": round(100.0 * (usage.total - usage.free) / usage.total, 1)
        if usage.total
        else 0.0,
    }


def load_average() -> float | None:
    """The one-minute load average, if the system has one."""
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return None
