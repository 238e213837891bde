"""Getting a bundle onto the device from a ``model_update`` command.

The command carries the manifest and its signature, which are checked first: an
untrusted or malformed update is refused before a byte is fetched. The files then
come either over HTTP(S) (``url``: the bundle's directory or one ``.tar`` of it;
resumed downloads) or in
``model_chunk`` commands over MQTT for devices that reach only the broker. Files
collect under ``<state_dir>/incoming/<model>-<version>/`` (a retry resumes there);
once complete the bundle goes through the updater like any other.
"""

from __future__ import annotations

import base64
import binascii
import logging
import shutil
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgeinfer.errors import UpdateError
from edgeinfer.updates.manifest import MANIFEST, SIGNATURE, Manifest, parse_manifest
from edgeinfer.updates.shadow import ShadowPlan
from edgeinfer.updates.signing import verify_signature

if TYPE_CHECKING:
    from edgeinfer.updates.manager import ModelUpdater

log = logging.getLogger(__name__)


class Transfer:
    """A bundle arriving in chunks: its manifest and the bytes received per file."""

    def __init__(
        self, name: str, manifest: Manifest, folder: Path, plan: ShadowPlan | None
    ) -> None:
        self.name, self.manifest, self.folder = name, manifest, folder
        self.plan = plan
        self.sizes = {f.path: f.size for f in manifest.files}

    def have(self, path: str) -> int:
        """Bytes of ``path`` received so far."""
        target = self.folder.joinpath(*path.split("/"))
        return target.stat().st_size if target.exists() else 0

    def complete(self) -> bool:
        """True when every file has its full size."""
        return all(self.have(p) >= size for p, size in self.sizes.items())

    def missing(self) -> dict[str, int]:
        """Files still incomplete, with the bytes received of each."""
        return {p: self.have(p) for p, s in self.sizes.items() if self.have(p) < s}


class Delivery:
    """Stages bundles sent by command and hands complete ones to the updater."""

    def __init__(self, updater: ModelUpdater) -> None:
        self.updater = updater
        self.transfers: dict[str, Transfer] = {}
        self._lock = threading.Lock()
        self._busy: set[str] = set()

    @property
    def incoming(self) -> Path:
        """Where bundles collect before installation."""
        return self.updater.config.state_dir / "incoming"

    def accept(
        self, name: str, manifest_text: str, signature_text: str
    ) -> tuple[Manifest, Path]:
        """Check the signed manifest of an update for model ``name`` and prepare its
        incoming folder; raises ``UpdateError`` when it is refused."""
        if name not in self.updater.config.models:
            raise UpdateError(
                f"no model named {name!r} on this device — models: "
                f"{', '.join(self.updater.config.models)}",
                reason="incompatible",
            )
        raw = manifest_text.encode()
        verify_signature(
            raw, signature_text.encode(), self.updater.config.updates.trusted_keys
        )
        manifest = parse_manifest(raw)
        folder = self.incoming / f"{name}-{manifest.version}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / MANIFEST).write_bytes(raw)
        (folder / SIGNATURE).write_bytes(signature_text.encode())
        return manifest, folder

    def from_url(
        self,
        name: str,
        manifest: Manifest,
        folder: Path,
        url: str,
        plan: ShadowPlan | None = None,
    ) -> None:
        """Download the files from ``url`` and update, in a background thread."""
        self._run(name, manifest, folder, url, plan)

    def open_transfer(
        self,
        name: str,
        manifest: Manifest,
        folder: Path,
        plan: ShadowPlan | None = None,
    ) -> Transfer:
        """Wait for the files in ``model_chunk`` commands."""
        transfer = Transfer(name, manifest, folder, plan)
        with self._lock:
            self.transfers[name] = transfer
        self.updater.report(
            name,
            "fetching",
            version=manifest.version,
            via="mqtt",
            missing=transfer.missing(),
        )
        return transfer

    def chunk(self, name: str, path: str, offset: int, data: str) -> dict[str, Any]:
        """Write one chunk (base64 ``data`` at ``offset`` of bundle file ``path``)."""
        transfer = self.transfers.get(name)
        if transfer is None:
            raise UpdateError(
                f"no chunked update of model {name} in progress — send model_update "
                "with chunks: true first",
                reason="no_transfer",
            )
        if path not in transfer.sizes:
            raise UpdateError(
                f"{path} is not a file of bundle {transfer.manifest.version}",
                reason="bad_request",
            )
        try:
            payload = base64.b64decode(data, validate=True)
        except binascii.Error:
            raise UpdateError(
                "chunk data is not base64", reason="bad_request"
            ) from None
        have = transfer.have(path)
        if offset > have:
            raise UpdateError(
                f"chunk of {path} at offset {offset} leaves a gap: resend from {have}",
                reason="gap",
            )
        if offset + len(payload) > transfer.sizes[path]:
            raise UpdateError(
                f"chunk of {path} runs past its {transfer.sizes[path]} bytes",
                reason="tampered",
            )
        target = transfer.folder.joinpath(*path.split("/"))
        target.parent.mkdir(parents=True, exist_ok=True)
        if offset + len(payload) > have:  # a repeated chunk is acknowledged, no more
            with target.open("r+b" if target.exists() else "wb") as f:
                f.seek(offset)
                f.write(payload)
        done = transfer.complete()
        if done:
            with self._lock:
                self.transfers.pop(name, None)
            self._run(name, transfer.manifest, transfer.folder, None, transfer.plan)
        return {"path": path, "have": transfer.have(path), "complete": done}

    def _run(
        self,
        name: str,
        manifest: Manifest,
        folder: Path,
        url: str | None,
        plan: ShadowPlan | None,
    ) -> None:
        with self._lock:
            if name in self._busy:
                raise UpdateError(
                    f"an update of model {name} is already in progress",
                    reason="busy",
                )
            self._busy.add(name)
        threading.Thread(
            target=self._update,
            args=(name, manifest, folder, url, plan),
            name=f"update-{name}",
            daemon=True,
        ).start()

    def _update(
        self,
        name: str,
        manifest: Manifest,
        folder: Path,
        url: str | None,
        plan: ShadowPlan | None,
    ) -> None:
        version = manifest.version
        try:
            if url is not None:
                u = self.updater.config.updates

                def progress(got: int, total: int) -> None:
                    self.updater.report(
                        name, "fetching", version=version, bytes=got, total=total
                    )

                progress(0, sum(f.size for f in manifest.files))
                # urllib (and ssl) are loaded by the first download only.
                from edgeinfer.updates.fetch import fetch_bundle  # noqa: PLC0415

                fetch_bundle(
                    url,
                    manifest,
                    folder,
                    timeout=u.download_timeout_s,
                    max_bytes=u.max_bytes,
                    progress=progress,
                )
            self.updater.update(name, folder, plan)
            shutil.rmtree(folder, ignore_errors=True)
        except UpdateError as err:
            self.updater.report(
                name, "rejected", version=version, reason=str(err), code=err.reason
            )
            if err.reason != "fetch_failed":  # keep a partial download to resume
                shutil.rmtree(folder, ignore_errors=True)
        except Exception as err:  # a stage boundary: report, keep the daemon
            log.exception("update of model %s failed", name)
            self.updater.report(
                name,
                "rejected",
                version=version,
                reason=f"internal error: {err}",
                code="internal",
            )
        finally:
            with self._lock:
                self._busy.discard(name)
