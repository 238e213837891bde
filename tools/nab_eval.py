"""Score a sensor config on the Numenta Anomaly Benchmark files, through the CLI.

    python tools/nab_eval.py [--config device-configs/sensor-anomaly.yaml]
                             [--set KEY=VALUE ...] [--alerts .state/nab/ALERTS.json]
                             [--jobs 2]

Runs ``edgeinfer replay --config CONFIG --input FILE --json`` for every CSV under
``<assets>/sensors/nab/data`` (assets: ``$EDGEINFER_ASSETS``, else
``<repo>/../shared/assets``), one process per file, the same config (and the same
``--set`` overrides, to try a variant) for all. The
timestamps of the alerts, as written in each file, go to ALERTS.json; the
benchmark's scorer (``<assets>/../tools/nab_score.py``, standard profile unless
``--profile``) then scores them against ``<assets>/sensors/nab/windows.json``.
Prints one line per file and the total score; exits non-zero if a replay fails.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
ASSETS = Path(os.environ.get("EDGEINFER_ASSETS", ROOT.parent / "shared" / "assets"))


def replay_alerts(config: Path, data: Path, overrides: list[str]) -> list[str]:
    """The source timestamps of the alerts ``edgeinfer replay`` raises on ``data``."""
    sets = [arg for item in overrides for arg in ("--set", item)]
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "edgeinfer",
            "replay",
            "--config",
            str(config),
            "--input",
            str(data),
            "--json",
            *sets,
        ],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    if proc.returncode != 0:
        raise SystemExit(f"replay of {data} failed: {proc.stderr.strip()}")
    lines = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    return [line["timestamp"] for line in lines if line["kind"] == "alert"]


def file_score(result: dict[str, Any]) -> str:
    """A file's own normalised score (0 none detected, 100 perfect), if it has
    windows; a file without windows can only lose (its raw score is shown)."""
    span = result["perfect"] - result["null"]
    if not span:
        return f"raw {result['raw']:+.2f}"
    return f"{100 * (result['raw'] - result['null']) / span:5.1f}"


def main(argv: list[str] | None = None) -> int:
    """Replay every NAB file, write ALERTS.json, score it and print the scores."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--config", type=Path, default=ROOT / "device-configs" / "sensor-anomaly.yaml"
    )
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="config override passed to every replay",
    )
    parser.add_argument(
        "--alerts", type=Path, default=ROOT / ".state" / "nab" / "ALERTS.json"
    )
    parser.add_argument("--profile", default="standard")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args(argv)
    nab = ASSETS / "sensors" / "nab"
    data_root, windows = nab / "data", nab / "windows.json"
    scorer = ASSETS.parent / "tools" / "nab_score.py"
    for needed in (data_root, windows, scorer):
        if not needed.exists():
            raise SystemExit(f"{needed} not found — set EDGEINFER_ASSETS")
    files = sorted(data_root.rglob("*.csv"))
    config = args.config.resolve()
    with ThreadPoolExecutor(max(1, args.jobs)) as pool:
        found = pool.map(
            lambda path: replay_alerts(config, path, args.overrides), files
        )
        alerts = {
            path.relative_to(data_root).as_posix(): stamps
            for path, stamps in zip(files, found, strict=True)
        }
    args.alerts.parent.mkdir(parents=True, exist_ok=True)
    args.alerts.write_text(json.dumps(alerts, indent=1) + "\n", encoding="utf-8")
    proc = subprocess.run(
        [
            sys.executable,
            str(scorer),
            "--windows",
            str(windows),
            "--alerts",
            str(args.alerts),
            "--data-root",
            str(data_root),
            "--profile",
            args.profile,
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    report, _, total = proc.stdout.rpartition("}")
    results = json.loads(report + "}")["files"]
    print(f"{'file':58} windows detected false  score")
    for name, result in results.items():
        print(
            f"{name:58} {result['windows']:7} {result['detected']:8} "
            f"{result['false_alerts']:5}  {file_score(result)}"
        )
    print(total.strip(), f"(alerts in {args.alerts})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
