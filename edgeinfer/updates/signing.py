"""Ed25519 keys and signatures over a manifest's exact bytes.

``manifest.sig`` is a small JSON object naming the key, so a device with several
trusted keys (during a rotation) can say which one signed and which it trusts::

    {"alg": "ed25519", "key_id": "3f2a9c01d4e5b677", "sig": "<base64, 64 bytes>"}

A public key in the config is the base64 of its 32 raw bytes; its id is the first 16
hex digits of the SHA-256 of those bytes.

``cryptography`` (OpenSSL, several MB of resident memory) is imported only when a key
is made, loaded or used, not by a daemon that never sees an update.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from edgeinfer.errors import UpdateError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import (
        Ed25519PrivateKey,
        Ed25519PublicKey,
    )


def key_id(public_raw: bytes) -> str:
    """The short id of a raw 32-byte public key."""
    return hashlib.sha256(public_raw).hexdigest()[:16]


def public_text(key: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    """The base64 public key as it goes into ``updates.trusted_keys``."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    pub = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    raw = pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode()


def generate_key(path: Path) -> str:
    """Write a new private key to ``path`` (PEM, mode 0600); return its public key."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    return public_text(key)


def load_private_key(path: Path) -> Ed25519PrivateKey:
    """The Ed25519 private key in the PEM file ``path``."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as err:
        raise UpdateError(f"cannot read signing key {path}: {err}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise UpdateError(f"{path} is not an Ed25519 key — make one with models keygen")
    return key


def public_raw(text: str) -> bytes:
    """The 32 raw bytes of a base64 public key (``ValueError`` when malformed)."""
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except binascii.Error as err:
        raise ValueError(f"not base64: {err}") from None
    if len(raw) != 32:
        raise ValueError(f"an Ed25519 public key has 32 bytes, not {len(raw)}")
    return raw


def decode_public(text: str) -> Ed25519PublicKey:
    """A public key from its base64 text (raises ``ValueError`` when malformed)."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    return Ed25519PublicKey.from_public_bytes(public_raw(text))


def sign(manifest: bytes, key: Ed25519PrivateKey) -> bytes:
    """The ``manifest.sig`` bytes for ``manifest``."""
    pub = base64.b64decode(public_text(key))
    body = {
        "alg": "ed25519",
        "key_id": key_id(pub),
        "sig": base64.b64encode(key.sign(manifest)).decode(),
    }
    return json.dumps(body, indent=1).encode() + b"\n"


def verify_signature(manifest: bytes, signature: bytes, trusted: Iterable[str]) -> str:
    """Check ``signature`` over ``manifest`` against the ``trusted`` keys; return the
    id of the key that signed. Raises ``UpdateError`` (untrusted_key, bad_signature)."""
    try:
        body = json.loads(signature)
        sig = base64.b64decode(body["sig"], validate=True)
        signer = str(body.get("key_id", ""))
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise UpdateError(
            "manifest.sig is malformed — sign the bundle again with models sign",
            reason="bad_signature",
        ) from None
    from cryptography.exceptions import InvalidSignature

    keys = {key_id(public_raw(text)): decode_public(text) for text in trusted}
    if not keys:
        raise UpdateError(
            "no trusted keys configured — add the fleet's public key to "
            "updates.trusted_keys",
            reason="untrusted_key",
        )
    if signer not in keys:
        raise UpdateError(
            f"bundle signed by key {signer or '?'}, which this device does not trust "
            f"(trusted: {', '.join(keys)})",
            reason="untrusted_key",
        )
    try:
        keys[signer].verify(sig, manifest)
    except InvalidSignature:
        raise UpdateError(
            f"the signature of key {signer} does not match manifest.json — the "
            "manifest was changed after signing",
            reason="bad_signature",
        ) from None
    return signer
