"""The model store: bundle versions side by side, one active, switched atomically.

    <state_dir>/models/<model>/
        versions/<version>/     a verified bundle (manifest.json, manifest.sig, files)
        active.json             {"active": "1.1.0", "history": ["1.0.0", ...],
                                 "probation": {"version": "1.1.0", "running": true}}
        .staging-*/ .trash-*/   leftovers of an interrupted install or prune

Every step is crash-safe: a version appears only by renaming a complete, fsynced
staging directory; ``active.json`` is replaced by write-temp, fsync, rename, fsync
the directory; old versions are renamed to ``.trash-*`` before they are deleted.
Opening the store removes the leftovers, so after a kill -9 or a power loss at any
point the store shows either the old or the new state, never a mix.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgeinfer.errors import UpdateError
from edgeinfer.updates.archive import extract_tar
from edgeinfer.updates.bundle import Bundle, read_signed, verify_bundle
from edgeinfer.updates.manifest import MANIFEST, SIGNATURE

log = logging.getLogger(__name__)
ACTIVE = "active.json"


def fsync_dir(path: Path) -> None:
    """Make a rename or creation in directory ``path`` durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_tree(root: Path) -> None:
    """fsync every file and directory under ``root`` (before it is renamed in)."""
    for path in sorted(root.rglob("*"), reverse=True):
        if path.is_file():
            with path.open("rb") as f:
                os.fsync(f.fileno())
        elif path.is_dir():
            fsync_dir(path)
    fsync_dir(root)


def write_json_atomically(path: Path, body: dict[str, Any]) -> None:
    """Replace ``path`` with ``body``: temp file, fsync, rename, fsync the directory."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    with tmp.open("w", encoding="utf-8") as f:
        json.dump(body, f, indent=1)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)


@dataclass(frozen=True)
class Probation:
    """The active version is on probation; ``running`` while a daemon watches it
    (a daemon that stops cleanly clears it; one that crashes leaves it set)."""

    version: str
    running: bool = True


@dataclass(frozen=True)
class StoreState:
    """The active version and the versions before it, newest first, and the active
    version's probation if it has not passed yet."""

    active: str | None = None
    history: tuple[str, ...] = ()
    probation: Probation | None = None


class ModelStore:
    """The versions of one model (``name`` as in the config's ``models``)."""

    def __init__(
        self,
        state_dir: Path,
        name: str,
        trusted_keys: Iterable[str],
        *,
        keep: int = 3,
        max_bytes: int = 512 << 20,
    ) -> None:
        self.root = state_dir / "models" / name
        self.versions = self.root / "versions"
        self.name = name
        self.trusted = tuple(trusted_keys)
        self.keep = max(2, keep)
        self.max_bytes = max_bytes
        self.versions.mkdir(parents=True, exist_ok=True)
        self.set_aside: Path | None = None  # where a damaged active.json went
        self.recover()

    # -- state ----------------------------------------------------------------------
    def recover(self) -> None:
        """Remove what an interrupted install or prune left, and any dangling
        reference to a version that is not (completely) there. A damaged
        ``active.json`` (it is replaced atomically, so only the disk can damage it)
        goes aside as ``active.json.damaged-<epoch s>`` (``set_aside``): no version is
        active then, the config's own model serves, the versions stay installed."""
        for leftover in [*self.root.glob(".staging-*"), *self.root.glob(".trash-*")]:
            log.info("model store %s: removing leftover %s", self.name, leftover.name)
            shutil.rmtree(leftover, ignore_errors=True)
        for tmp in self.root.glob(".*.tmp"):
            tmp.unlink(missing_ok=True)
        try:
            state = self.state()
        except UpdateError as err:
            if err.reason != "damaged_state":
                raise
            path = self.root / ACTIVE
            self.set_aside = path.with_name(f"{ACTIVE}.damaged-{int(time.time())}")
            os.rename(path, self.set_aside)
            fsync_dir(self.root)
            log.error(  # noqa: TRY400 -- the reason is enough, not a traceback
                "%s; moved to %s, no version is active", err, self.set_aside.name
            )
            state = StoreState()
        kept = [v for v in state.history if self.has(v)]
        active = state.active if state.active and self.has(state.active) else None
        if active is None and state.active is not None:
            log.warning("model store %s: active %s is missing", self.name, state.active)
            active, kept = (kept[0], kept[1:]) if kept else (None, [])
        probation = state.probation if active == state.active else None
        if (active, tuple(kept), probation) != (
            state.active,
            state.history,
            state.probation,
        ):
            self._write(StoreState(active, tuple(kept), probation))

    def state(self) -> StoreState:
        """What ``active.json`` says (empty when there is none yet)."""
        try:
            body = json.loads((self.root / ACTIVE).read_text(encoding="utf-8"))
        except FileNotFoundError:
            return StoreState()
        except OSError as err:
            raise UpdateError(
                f"model store {self.root / ACTIVE} is unreadable: {err}"
            ) from None
        except ValueError as err:
            raise UpdateError(
                f"model store {self.root / ACTIVE} is damaged: {err}",
                reason="damaged_state",
            ) from None
        watch = body.get("probation")
        probation = (
            Probation(str(watch["version"]), bool(watch.get("running", True)))
            if isinstance(watch, dict) and watch.get("version") == body.get("active")
            else None
        )
        return StoreState(body.get("active"), tuple(body.get("history", [])), probation)

    def _write(self, state: StoreState) -> None:
        body: dict[str, Any] = {
            "active": state.active,
            "history": list(state.history),
            "updated": time.time(),
        }
        if state.probation is not None:
            body["probation"] = {
                "version": state.probation.version,
                "running": state.probation.running,
            }
        write_json_atomically(self.root / ACTIVE, body)

    def set_probation(self, running: bool | None) -> StoreState:
        """Mark the active version on probation (``running``: watched by a daemon
        now; False: its daemon stopped cleanly), or with None clear the mark (it
        passed). Written durably: a crash of the daemon leaves it as it was."""
        old = self.state()
        if old.active is None:
            return old
        probation = None if running is None else Probation(old.active, running)
        new = StoreState(old.active, old.history, probation)
        if new != old:
            self._write(new)
        return new

    def has(self, version: str) -> bool:
        """True when ``version`` is installed (complete)."""
        return (self.versions / version / SIGNATURE).is_file()

    def path(self, version: str) -> Path:
        """The directory of an installed ``version``."""
        return self.versions / version

    def bundle(self, version: str) -> Bundle:
        """The installed ``version``, verified again (signature and files)."""
        if not self.has(version):
            raise UpdateError(
                f"model {self.name} has no version {version!r} installed — see "
                "edgeinfer models list",
                reason="not_installed",
            )
        return verify_bundle(self.path(version), self.trusted)

    def active(self) -> Bundle | None:
        """The active bundle, or None when the config's own model file is used."""
        state = self.state()
        return self.bundle(state.active) if state.active else None

    def installed(self) -> list[dict[str, Any]]:
        """Every installed version with its name, task, install time and role."""
        state = self.state()
        rows = []
        for d in sorted(self.versions.iterdir(), key=lambda p: p.stat().st_mtime):
            if not (d / SIGNATURE).is_file():
                continue
            try:
                body = json.loads((d / MANIFEST).read_bytes())
            except (OSError, ValueError):
                body = {}
            role = "active" if d.name == state.active else ""
            if d.name in state.history:
                role = f"previous {state.history.index(d.name) + 1}"
            rows.append(
                {
                    "version": d.name,
                    "name": body.get("name", ""),
                    "task": body.get("task", ""),
                    "installed": d.stat().st_mtime,
                    "role": role,
                }
            )
        return rows

    # -- changes --------------------------------------------------------------------
    def install(self, source: Path) -> Bundle:
        """Copy or unpack the bundle at ``source`` (a directory or ``.tar``), verify
        the copy, and add it as a version; not activated. Installing the same
        version again with the same manifest is a no-op."""
        staging = self.root / f".staging-{uuid.uuid4().hex[:12]}"
        staging.mkdir()
        try:
            if source.is_dir():
                self._copy_dir(source, staging)
            else:
                extract_tar(source, staging, self.max_bytes)
            bundle = verify_bundle(staging, self.trusted)
            target = self.path(bundle.version)
            if self.has(bundle.version):
                if (target / MANIFEST).read_bytes() != bundle.raw:
                    raise UpdateError(
                        f"model {self.name} version {bundle.version} is installed "
                        "with different contents — give the new bundle a new version",
                        reason="version_conflict",
                    )
                return verify_bundle(target, self.trusted)
            if target.exists():  # an incomplete version from before: replace it
                self._trash(target)
            fsync_tree(staging)
            os.rename(staging, target)
            fsync_dir(self.versions)
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)
        log.info("model %s: installed version %s", self.name, bundle.version)
        return Bundle(target, bundle.manifest, bundle.raw, bundle.key_id)

    def _copy_dir(self, source: Path, staging: Path) -> None:
        """Copy the manifest, signature and listed files only (no links followed)."""
        manifest, _raw, _ = read_signed(source, self.trusted)
        names = [MANIFEST, SIGNATURE, *manifest.file_paths()]
        size = 0
        for name in names:
            src = source.joinpath(*name.split("/"))
            if src.is_symlink() or not src.is_file():
                continue  # reported by verification of the copy
            size += src.stat().st_size
            if size > self.max_bytes:
                raise UpdateError(
                    f"bundle {source} is over the limit of {self.max_bytes} bytes "
                    "(updates.max_bundle_mb)",
                    reason="too_large",
                )
            dst = staging.joinpath(*name.split("/"))
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dst, follow_symlinks=False)

    def activate(self, version: str, probation: bool = False) -> StoreState:
        """Make ``version`` the active one; the one before goes first in history.
        With ``probation`` it is marked on probation in the same write."""
        if not self.has(version):
            raise UpdateError(
                f"model {self.name} has no version {version!r} installed",
                reason="not_installed",
            )
        old = self.state()
        if old.active == version:
            return old
        prior = [old.active] if old.active else []
        history = [v for v in [*prior, *old.history] if v != version]
        new = StoreState(
            version,
            tuple(history[: self.keep - 1]),
            Probation(version) if probation else None,
        )
        self._write(new)
        log.info("model %s: active version %s (was %s)", self.name, version, old.active)
        self.prune()
        return new

    def rollback(self) -> StoreState:
        """Go back to the previous version; the current one leaves the history.
        With no previous version the config's own model file is used again."""
        old = self.state()
        if old.active is None:
            raise UpdateError(
                f"model {self.name} has no installed version active — nothing to roll "
                "back",
                reason="no_previous",
            )
        new = (
            StoreState(old.history[0], old.history[1:])
            if old.history
            else StoreState(None, ())
        )
        self._write(new)
        log.warning(
            "model %s: rolled back from %s to %s",
            self.name,
            old.active,
            new.active or "the configured model",
        )
        return new

    def remove(self, version: str) -> None:
        """Delete an installed version that is neither active nor in the history."""
        state = self.state()
        if version == state.active or version in state.history:
            raise UpdateError(f"version {version} is in use and cannot be removed")
        if self.path(version).exists():
            self._trash(self.path(version))

    def prune(self) -> None:
        """Delete the versions beyond the active one and ``keep - 1`` previous."""
        state = self.state()
        wanted = {v for v in [state.active, *state.history] if v}
        for d in self.versions.iterdir():
            if d.name not in wanted:
                self._trash(d)

    def _trash(self, path: Path) -> None:
        trash = self.root / f".trash-{uuid.uuid4().hex[:12]}"
        os.rename(path, trash)
        fsync_dir(path.parent)
        with contextlib.suppress(OSError):
            shutil.rmtree(trash)
