"""Fetching a bundle over HTTP(S), resuming where a transfer broke off.

The URL names either the bundle's directory, whose files the (already
signature-checked) manifest lists and which are downloaded one by one to
``<dest>/<path>``, or a single archive of it (``.tar``, ``.tar.gz``, ``.tgz``), which
is downloaded beside ``dest`` and unpacked into it without trusting it. A partial
download from an earlier attempt is continued with a ``Range`` request; a server
that ignores it sends the whole thing again. Sizes are bounded by the manifest (and
the overall limit), so a server cannot fill the disk; the files' hashes are checked
against the manifest when the bundle is installed.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from edgeinfer.errors import UpdateError
from edgeinfer.updates.archive import extract_tar
from edgeinfer.updates.manifest import Manifest

log = logging.getLogger(__name__)
CHUNK = 64 * 1024
ARCHIVES = (".tar", ".tar.gz", ".tgz")
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
    elif have == size:
        return
    fetch_stream(url, dest, size, timeout=timeout, progress=progress)
    done = dest.stat().st_size
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

    if urlsplit(base_url).path.endswith(ARCHIVES):
        _fetch_archive(
            base_url, manifest, dest, timeout=timeout, retries=retries, progress=tick
        )
    else:
        for entry in manifest.files:
            target = dest.joinpath(*entry.path.split("/"))
            target.parent.mkdir(parents=True, exist_ok=True)
            url = base_url.rstrip("/") + "/" + quote(entry.path)
            once = partial(
                fetch_file, url, target, entry.size, timeout=timeout, progress=tick
            )
            _retrying(url, retries, once)
    if progress is not None:
        progress(total, total)


def _retrying(url: str, retries: int, attempt_once: Callable[[], None]) -> None:
    """Run one download attempt, resuming up to ``retries`` times when it breaks."""
    for attempt in range(retries + 1):
        try:
            attempt_once()
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
        else:
            return


def archive_limit(manifest: Manifest) -> int:
    """The most bytes a tar of ``manifest``'s files can take: the files, a header and
    padding for each, the manifest and signature, and the end blocks."""
    members = len(manifest.files) + 2
    return sum(f.size for f in manifest.files) + 2 * 512 * members + 64 * 1024


def _fetch_archive(
    url: str,
    manifest: Manifest,
    dest: Path,
    *,
    timeout: float,
    retries: int,
    progress: Progress,
) -> None:
    """Download the bundle archive at ``url`` next to ``dest``, then unpack the files
    the manifest lists into ``dest`` (the command's signed manifest is the one used)."""
    limit = archive_limit(manifest)
    archive = dest.with_name(f"{dest.name}.download")
    once = partial(
        fetch_stream, url, archive, limit, timeout=timeout, progress=progress
    )
    try:
        _retrying(url, retries, once)
    except UpdateError as err:
        if err.reason != "fetch_failed":  # keep only a partial download to resume
            archive.unlink(missing_ok=True)
        raise
    unpacked = dest.with_name(f"{dest.name}.unpacked")
    shutil.rmtree(unpacked, ignore_errors=True)
    unpacked.mkdir()
    try:
        try:
            extract_tar(archive, unpacked, limit)
        except UpdateError:
            archive.unlink(missing_ok=True)  # broken or hostile: fetch afresh next time
            raise
        for entry in manifest.files:
            source = unpacked.joinpath(*entry.path.split("/"))
            if not source.is_file():
                raise UpdateError(
                    f"{url} has no {entry.path}, which the manifest lists — the "
                    "archive is not this bundle",
                    reason="tampered",
                )
            target = dest.joinpath(*entry.path.split("/"))
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(source, target)
    finally:
        shutil.rmtree(unpacked, ignore_errors=True)
    archive.unlink(missing_ok=True)


def fetch_stream(
    url: str, dest: Path, limit: int, *, timeout: float, progress: Progress
) -> None:
    """Download ``url`` to ``dest`` to its end, continuing a partial ``dest``; at most
    ``limit`` bytes. Raises ``OSError`` when the connection breaks before the length
    the server announced (the caller retries)."""
    have = dest.stat().st_size if dest.exists() else 0
    try:
        response, start = _open(url, have, timeout)
    except urllib.error.HTTPError as err:
        if err.code != 416 or not have:  # 416: nothing left past what we have
            raise
        return
    with response as body, dest.open("r+b" if dest.exists() else "wb") as out:
        length = response.headers.get("Content-Length")
        end = start + int(length) if length is not None else None
        if (end or 0) > limit:
            raise UpdateError(
                f"download of {url} is {end} bytes, more than the {limit} its "
                "manifest allows",
                reason="tampered",
            )
        out.seek(start)
        out.truncate()
        done = start
        while chunk := body.read(CHUNK):
            done += len(chunk)
            if done > limit:
                raise UpdateError(
                    f"download of {url} runs past the {limit} bytes its manifest "
                    "allows",
                    reason="tampered",
                )
            out.write(chunk)
            progress(len(chunk), 0)
    if end is not None and done < end:
        raise OSError(f"connection closed after {done} of {end} bytes of {url}")
