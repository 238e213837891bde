"""TLS and passwords against a broker the test configures, with a CA and
certificates the test makes: the right ones connect, wrong ones give a clear error
and are retried."""

from __future__ import annotations

import datetime
import logging
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

from edgeinfer.app import Daemon
from edgeinfer.config import parse_config
from tests.mosquitto import Broker, TestClient

pytestmark = pytest.mark.integration

USER, PASSWORD = "edge", "s3cret-Pa55"
SERVER_NAME = "broker.test"


@dataclass(frozen=True)
class Pki:
    """Files of a CA and the certificates it signed."""

    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    other_ca: Path  # a CA that signed nothing here


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _write(folder: Path, stem: str, key: Any, cert: x509.Certificate) -> Path:
    (folder / f"{stem}.key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    path = folder / f"{stem}.pem"
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path


def _certificate(
    subject: str,
    key: Any,
    issuer: tuple[Any, x509.Name] | None = None,
    *,
    usage: ObjectIdentifier | None = None,
    dns: str | None = None,
) -> x509.Certificate:
    now = datetime.datetime.now(datetime.timezone.utc)
    signer, issuer_name = issuer or (key, _name(subject))
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=issuer is None, path_length=None), True)
    )
    if issuer is None:
        builder = builder.add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        ).add_extension(
            x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False
        )
    if usage is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), False)
    if dns is not None:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(dns)]), False
        )
    return builder.sign(signer, hashes.SHA256())


def make_pki(folder: Path) -> Pki:
    """A CA, a server certificate for SERVER_NAME, a client certificate, another CA."""
    folder.mkdir(parents=True, exist_ok=True)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = _certificate("test CA", ca_key)
    issuer = (ca_key, ca_cert.subject)
    server_key = ec.generate_private_key(ec.SECP256R1())
    client_key = ec.generate_private_key(ec.SECP256R1())
    other_key = ec.generate_private_key(ec.SECP256R1())
    return Pki(
        ca=_write(folder, "ca", ca_key, ca_cert),
        server_cert=_write(
            folder,
            "server",
            server_key,
            _certificate(
                SERVER_NAME,
                server_key,
                issuer,
                usage=ExtendedKeyUsageOID.SERVER_AUTH,
                dns=SERVER_NAME,
            ),
        ),
        server_key=folder / "server.key",
        client_cert=_write(
            folder,
            "client",
            client_key,
            _certificate(
                "line4", client_key, issuer, usage=ExtendedKeyUsageOID.CLIENT_AUTH
            ),
        ),
        client_key=folder / "client.key",
        other_ca=_write(
            folder, "other-ca", other_key, _certificate("rogue", other_key)
        ),
    )


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def secure_broker(
    tmp_path_factory: pytest.TempPathFactory, pki: Pki
) -> Iterator[Broker]:
    """TLS with client certificates required, and a password file."""
    folder = tmp_path_factory.mktemp("broker")
    passwords = folder / "passwd"
    subprocess.run(
        ["mosquitto_passwd", "-b", "-c", str(passwords), USER, PASSWORD], check=True
    )
    b = Broker(
        folder,
        anonymous=False,
        settings=f"password_file {passwords}",
        listener=f"""cafile {pki.ca}
certfile {pki.server_cert}
keyfile {pki.server_key}
require_certificate true
""",
    )
    b.start()
    yield b
    b.stop()


def start_daemon(tmp_path: Path, port: int, mqtt: str) -> Daemon:
    cfg = parse_config(
        f"""device: {{id: line4}}
state_dir: {tmp_path / "state"}
mqtt:
  host: 127.0.0.1
  port: {port}
  reconnect_min_s: 0.2
  reconnect_max_s: 0.5
  connect_timeout_s: 3
{mqtt}""",
        "test.yaml",
    )
    daemon = Daemon(cfg)
    daemon.start()
    return daemon


def wait_for_state(daemon: Daemon, what: str, failures: int = 0) -> dict[str, Any]:
    deadline = time.monotonic() + 10
    while True:
        status: dict[str, Any] = daemon.status()["mqtt"]
        if status["state"] == what and status["failures"] >= failures:
            return status
        if time.monotonic() > deadline:
            raise TimeoutError(f"mqtt state {status} is not {what} with {failures}")
        time.sleep(0.05)


def tls_lines(pki: Pki, *, ca: Path | None = None, client: bool = True) -> str:
    lines = f"  tls:\n    ca_file: {ca or pki.ca}\n    server_name: {SERVER_NAME}\n"
    if client:
        lines += f"    cert_file: {pki.client_cert}\n    key_file: {pki.client_key}\n"
    return lines


def test_tls_with_a_client_certificate_and_a_password_connects(
    tmp_path: Path, pki: Pki, secure_broker: Broker
) -> None:
    auth = f"  username: {USER}\n  password: {PASSWORD}\n"
    daemon = start_daemon(tmp_path, secure_broker.port, auth + tls_lines(pki))
    ctx = ssl.create_default_context(cafile=str(pki.ca))
    ctx.load_cert_chain(str(pki.client_cert), str(pki.client_key))
    ctx.check_hostname = False  # the console connects by address
    console = TestClient(
        secure_broker.port,
        ["edgeinfer/line4/status"],
        tls=ctx,
        username=USER,
        password=PASSWORD,
    )
    try:
        status = wait_for_state(daemon, "connected")
        assert status["error"] == ""
        online = console.wait_for(lambda m: m.topic == "edgeinfer/line4/status")
        assert online.json()["state"] == "online"
        assert daemon.fleet is not None
        client = daemon.fleet.connection._client
        assert client is not None
        sock = client.socket()
        assert isinstance(sock, ssl.SSLSocket)
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)  # under TLS too
    finally:
        console.close()
        daemon.stop()


@pytest.mark.parametrize("protocol", ["5", "3.1.1"])
def test_a_wrong_password_is_a_clear_error_and_is_retried(
    tmp_path: Path,
    pki: Pki,
    secure_broker: Broker,
    protocol: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="edgeinfer")
    auth = f'  username: {USER}\n  password: "wrong-{PASSWORD}"\n'
    daemon = start_daemon(
        tmp_path,
        secure_broker.port,
        auth + f'  protocol: "{protocol}"\n' + tls_lines(pki),
    )
    try:
        status = wait_for_state(daemon, "disconnected", failures=2)
    finally:
        daemon.stop()
    assert status["error"].startswith(
        f"the broker refused the session as user '{USER}'"
    )
    assert status["error"].endswith("check mqtt.username and mqtt.password")
    assert 0 < status["retry_in_s"] <= 0.5
    assert PASSWORD not in caplog.text


@pytest.mark.parametrize(
    ("tls", "words"),
    [
        (
            {"ca": "other"},
            "is not trusted (self-signed certificate in certificate chain) — set "
            "mqtt.tls.ca_file",
        ),
        (
            {"server_name": False},
            "is not for '127.0.0.1' — set mqtt.tls.server_name",
        ),
        (
            {"client": False},
            "closed the connection before accepting the session",
        ),
    ],
)
def test_a_wrong_certificate_is_a_clear_error_and_is_retried(
    tmp_path: Path, pki: Pki, secure_broker: Broker, tls: dict[str, Any], words: str
) -> None:
    lines = tls_lines(
        pki,
        ca=pki.other_ca if tls.get("ca") else None,
        client=tls.get("client", True),
    )
    if tls.get("server_name") is False:
        lines = lines.replace(f"    server_name: {SERVER_NAME}\n", "")
    auth = f"  username: {USER}\n  password: {PASSWORD}\n"
    daemon = start_daemon(tmp_path, secure_broker.port, auth + lines)
    try:
        status = wait_for_state(daemon, "disconnected", failures=2)
    finally:
        daemon.stop()
    assert words in status["error"]
