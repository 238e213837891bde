"""Bundle downloads over HTTPS: a server whose certificate the device's CA bundle
vouches for serves the files; one it does not is refused without a byte written."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID

from edgeinfer.errors import UpdateError
from edgeinfer.updates.fetch import fetch_bundle
from edgeinfer.updates.manifest import parse_manifest
from tests.bundles import fleet_key, make_bundle
from tests.httpserver import FileServer
from tests.integration.test_mqtt_security import _certificate, _write

pytestmark = pytest.mark.integration


def test_bundle_files_come_over_https_only_from_a_trusted_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = _certificate("update CA", ca_key)
    ca = _write(tmp_path, "ca", ca_key, ca_cert)
    key = ec.generate_private_key(ec.SECP256R1())
    cert = _certificate(
        "localhost",
        key,
        (ca_key, ca_cert.subject),
        usage=ExtendedKeyUsageOID.SERVER_AUTH,
        dns="localhost",
    )
    server_cert = _write(tmp_path, "server", key, cert)
    rogue_key = ec.generate_private_key(ec.SECP256R1())
    rogue = _write(tmp_path, "rogue", rogue_key, _certificate("rogue", rogue_key))

    (tmp_path / "www").mkdir()
    bundle = make_bundle(
        tmp_path / "www" / "v2", fleet_key(tmp_path / "k").path, "2.0.0"
    )
    manifest = parse_manifest((bundle / "manifest.json").read_bytes())
    server = FileServer(tmp_path / "www")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(server_cert, tmp_path / "server.key")
    server.server.socket = context.wrap_socket(server.server.socket, server_side=True)
    server.start()
    url = f"https://localhost:{server.server.server_address[1]}/v2"
    try:
        # A device with a private CA points OpenSSL at it (systemd: Environment=).
        monkeypatch.setenv("SSL_CERT_FILE", str(ca))
        got = tmp_path / "got"
        fetch_bundle(url, manifest, got, timeout=10, max_bytes=1 << 30, retries=0)
        for entry in manifest.files:
            assert (got / entry.path).read_bytes() == (bundle / entry.path).read_bytes()

        monkeypatch.setenv("SSL_CERT_FILE", str(rogue))
        refused = tmp_path / "refused"
        with pytest.raises(UpdateError, match="CERTIFICATE_VERIFY_FAILED"):
            fetch_bundle(
                url, manifest, refused, timeout=10, max_bytes=1 << 30, retries=0
            )
        assert not any(p.is_file() and p.stat().st_size for p in refused.rglob("*"))
    finally:
        server.stop()
