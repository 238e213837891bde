"""Unpacking a ``.tar`` bundle without trusting it.

Every member is checked before anything is written: only regular files and
directories, relative paths without ``..``, no links, devices or FIFOs, a bounded
member count and unpacked size. Files are written by us from the member's data, never
by ``TarFile.extract``, so no metadata (owner, mode, times) from the archive applies.
"""

from __future__ import annotations

import os
import shutil
import tarfile
from pathlib import Path, PurePosixPath

from edgeinfer.errors import UpdateError

MAX_MEMBERS = 10_000


def _unsafe(name: str, why: str) -> UpdateError:
    return UpdateError(
        f"unsafe archive: member {name!r} {why} — rebuild the bundle as a plain tar "
        "of regular files",
        reason="unsafe_archive",
    )


def check_member(member: tarfile.TarInfo) -> PurePosixPath:
    """The member's relative path, or ``UpdateError`` when it is unsafe."""
    path = PurePosixPath(member.name)
    if member.name.startswith("/") or path.is_absolute():
        raise _unsafe(member.name, "has an absolute path")
    if ".." in path.parts:
        raise _unsafe(member.name, "climbs out with '..'")
    if member.issym() or member.islnk():
        raise _unsafe(member.name, "is a link")
    if not (member.isreg() or member.isdir()):
        raise _unsafe(member.name, "is a device, FIFO or special file")
    return path


def extract_tar(archive: Path, dest: Path, max_bytes: int) -> None:
    """Unpack ``archive`` into the existing directory ``dest`` after checking every
    member; ``max_bytes`` bounds the unpacked size (the headers may lie, so the
    bytes actually written are counted too)."""
    try:
        tar = tarfile.open(archive, "r:*")  # noqa: SIM115 -- closed below
    except (OSError, tarfile.TarError) as err:
        raise UpdateError(
            f"{archive.name} is not a readable tar archive: {err}",
            reason="unsafe_archive",
        ) from None
    with tar:
        try:
            members = tar.getmembers()
        except (tarfile.TarError, EOFError) as err:
            raise UpdateError(
                f"{archive.name} is truncated or corrupt: {err}", reason="tampered"
            ) from None
        if len(members) > MAX_MEMBERS:
            raise _unsafe(archive.name, f"has more than {MAX_MEMBERS} members")
        total = 0
        for m in members:
            check_member(m)
            total += m.size if m.isreg() else 0
        if total > max_bytes:
            raise UpdateError(
                f"{archive.name} unpacks to {total} bytes, over the limit of "
                f"{max_bytes} (updates.max_bundle_mb)",
                reason="too_large",
            )
        written = 0
        for m in members:
            target = dest.joinpath(*check_member(m).parts)
            if m.isdir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            src = tar.extractfile(m)
            if src is None:
                raise _unsafe(m.name, "has no data")
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            with src, os.fdopen(fd, "wb") as out:
                shutil.copyfileobj(src, out)
                written += out.tell()
            if written > max_bytes:
                raise UpdateError(
                    f"{archive.name} unpacks to more than {max_bytes} bytes",
                    reason="too_large",
                )
