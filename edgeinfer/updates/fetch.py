"""Fetching a bundle's files over HTTP(S), resuming where a transfer broke off.

Each file the (already signature-checked) manifest lists is downloaded to
``<dest>/<path>``. A partial file from an earlier attempt is continued with a
``Range`` request; a server that ignores it sends the whole file again. Sizes are
bounded by the manifest (and the overall limit), so a server cannot fill the disk.
"""

from __future__ import annotations

import logging
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from edgeinfer.errors import UpdateError
from edgeinfer.updates.manifest import Manifest

log = logging.getLogger(__name__)
CHUNK = 64 * 1024
Progress = Callable[[int, int], None]


def _open(url: str, offset: int, timeout: float) -> tuple[Any, int]:
    """The response for ``url`` from byte ``offset``, and where its body starts."""
    request = urllib.request.Request(url)  # noqa: S310 -- the scheme is checked first
    if offset:
        request.add_header("Range", f"bytes={offset}-")
    response = urllib.request.urlopen(request, timeout=timeout)  # noqa: S310
    start = offset if response.status == 206 else 0
    return response, start


def fetch_file(
    url: str, dest: Path, size: int, *, timeout: float, progress: Progress
) -> None:
    """Download ``url`` to ``dest`` until it has ``size`` bytes, continuing a partial
    ``dest``; raises ``OSError`` when the connection breaks (the caller retries)."""
    have = dest.stat().st_size if dest.exists() else 0
    if have > size:
        dest.unlink()
        have = 0
    if have == size:
        return
    response, start = _open(url, have, timeout)
    with response as body, dest.open("r+b" if dest.exists() else "wb") as out:
        out.seek(start)
        out.truncate()
        done = start
        while chunk := body.read(min(CHUNK, size - done + 1)):
            done += len(chunk)
            if done > size:
                raise UpdateError(
                    f"download of {url} is longer than the manifest's {size} bytes",
                    reason="tampered",
                )
            out.write(chunk)
            progress(len(chunk), 0)
    if done < size:
        raise OSError(f"connection closed after {done} of {size} bytes of {url}")


def fetch_bundle(
    base_url: str,
    manifest: Manifest,
    dest: Path,
    *,
    timeout: float,
    max_bytes: int,
    retries: int = 3,
    progress: Callable[[int, int], None] | None = None,
) -> None:
    """Download every file of ``manifest`` from the directory at ``base_url``."""
    if urlsplit(base_url).scheme not in ("http", "https"):
        raise UpdateError(
            f"bundle url {base_url!r} must be http:// or https://", reason="bad_request"
        )
    total = sum(f.size for f in manifest.files)
    if total > max_bytes:
        raise UpdateError(
            f"bundle {manifest.name} {manifest.version} has {total} bytes, over the "
            f"limit of {max_bytes} (updates.max_bundle_mb)",
            reason="too_large",
        )
    got = 0
    last = 0.0

    def tick(n: int, _: int) -> None:
        nonlocal got, last
        got += n
        if progress is not None and time.monotonic() - last > 0.5:
            last = time.monotonic()
            progress(got, total)

    for entry in manifest.files:
        target = dest.joinpath(*entry.path.split("/"))
        target.parent.mkdir(parents=True, exist_ok=True)
        url = base_url.rstrip("/") + "/" + quote(entry.path)
        for attempt in range(retries + 1):
            try:
                fetch_file(url, target, entry.size, timeout=timeout, progress=tick)
                break
            except urllib.error.HTTPError as err:
                raise UpdateError(
                    f"download of {url} failed: HTTP {err.code} {err.reason}",
                    reason="fetch_failed",
                ) from None
            except OSError as err:
                if attempt == retries:
                    raise UpdateError(
                        f"download of {url} failed after {retries + 1} attempts: {err}",
                        reason="fetch_failed",
                    ) from None
                log.warning("download of %s broke off (%s); resuming", url, err)
                time.sleep(0.2 * (attempt + 1))
    if progress is not None:
        progress(total, total)
