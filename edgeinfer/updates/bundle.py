"""Reading and verifying a bundle directory: signature, then every file.

The order matters: the manifest is trusted only after its signature checks, and a
file only after its size and SHA-256 match the trusted manifest.
"""

from __future__ import annotations

import hashlib
import json
import stat
import tarfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from edgeinfer.errors import UpdateError
from edgeinfer.updates.manifest import MANIFEST, SIGNATURE, Manifest, parse_manifest
from edgeinfer.updates.signing import load_private_key, sign, verify_signature

CHUNK = 1 << 20


@dataclass(frozen=True)
class Bundle:
    """A verified bundle: its directory, manifest, and the key that signed it."""

    root: Path
    manifest: Manifest
    raw: bytes
    key_id: str

    @property
    def version(self) -> str:
        """The manifest's version."""
        return self.manifest.version

    def path(self, name: str) -> Path:
        """The bundle file ``name`` (a path listed in the manifest)."""
        return self.root.joinpath(*name.split("/"))


def sha256_file(path: Path) -> str:
    """The hex SHA-256 of the file at ``path``."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def read_signed(root: Path, trusted: Iterable[str]) -> tuple[Manifest, bytes, str]:
    """The manifest of the bundle at ``root`` once its signature checks."""
    try:
        raw = (root / MANIFEST).read_bytes()
    except OSError:
        raise UpdateError(
            f"{root} has no {MANIFEST} — not a bundle", reason="bad_manifest"
        ) from None
    try:
        sig = (root / SIGNATURE).read_bytes()
    except OSError:
        raise UpdateError(
            f"{root} has no {SIGNATURE} — sign it with edgeinfer models sign",
            reason="bad_signature",
        ) from None
    signer = verify_signature(raw, sig, trusted)
    return parse_manifest(raw), raw, signer


def check_files(root: Path, manifest: Manifest) -> None:
    """Every listed file is a regular file (not a link) of the listed size and hash."""
    for entry in manifest.files:
        path = root.joinpath(*entry.path.split("/"))
        try:
            st = path.lstat()
        except OSError:
            raise UpdateError(
                f"bundle file {entry.path} is missing", reason="tampered"
            ) from None
        if not stat.S_ISREG(st.st_mode):
            raise UpdateError(
                f"bundle file {entry.path} is not a regular file (a link?)",
                reason="unsafe_archive",
            )
        if st.st_size != entry.size:
            raise UpdateError(
                f"bundle file {entry.path} has {st.st_size} bytes, the manifest says "
                f"{entry.size} — truncated or tampered",
                reason="tampered",
            )
        if sha256_file(path) != entry.sha256:
            raise UpdateError(
                f"bundle file {entry.path} does not match its SHA-256 in the manifest "
                "— tampered or corrupt",
                reason="tampered",
            )


def verify_bundle(root: Path, trusted: Iterable[str]) -> Bundle:
    """Verify the bundle directory ``root``: signature by a trusted key, then files."""
    manifest, raw, signer = read_signed(root, trusted)
    check_files(root, manifest)
    return Bundle(root, manifest, raw, signer)


def list_files(root: Path) -> list[dict[str, object]]:
    """``files`` entries for every regular file under ``root`` except the manifest
    and signature, sorted by path."""
    entries: list[dict[str, object]] = []
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if rel in (MANIFEST, SIGNATURE) or not path.is_file() or path.is_symlink():
            continue
        entries.append(
            {"path": rel, "sha256": sha256_file(path), "size": path.stat().st_size}
        )
    return entries


def sign_bundle(root: Path, key_path: Path) -> Manifest:
    """Refresh the manifest's ``files`` from the directory, then sign its bytes.

    Writes ``manifest.json`` (keeping every other key) and ``manifest.sig``.
    """
    key = load_private_key(key_path)
    try:
        data = json.loads((root / MANIFEST).read_bytes())
    except (OSError, ValueError) as err:
        raise UpdateError(f"cannot read {root / MANIFEST}: {err}") from None
    data["files"] = list_files(root)
    raw = (json.dumps(data, indent=2) + "\n").encode()
    manifest = parse_manifest(raw, str(root / MANIFEST))
    (root / MANIFEST).write_bytes(raw)
    (root / SIGNATURE).write_bytes(sign(raw, key))
    return manifest


def pack_bundle(root: Path, archive: Path) -> None:
    """Write the bundle directory ``root`` as a plain ``.tar`` (regular files only)."""
    with tarfile.open(archive, "w") as tar:
        for path in sorted(root.rglob("*")):
            if path.is_file() and not path.is_symlink():
                tar.add(path, arcname=path.relative_to(root).as_posix())
