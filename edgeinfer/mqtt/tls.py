"""TLS to the broker: the client context built from ``mqtt.tls``."""

from __future__ import annotations

import socket
import ssl
from typing import Any

from edgeinfer.config.mqtt import TlsConfig


class ClientTlsContext(ssl.SSLContext):
    """The client side of TLS to the broker, with two additions paho lacks.

    ``expected_name``: the name the broker certificate must carry when it differs
    from the host connected to (a broker reached by address or through a tunnel).
    ``last_socket``: the socket of the latest handshake, so that a failed handshake
    inside paho can be closed instead of leaking.
    """

    expected_name: str | None = None
    last_socket: ssl.SSLSocket | None = None

    def wrap_socket(
        self, sock: socket.socket, *args: Any, **kwargs: Any
    ) -> ssl.SSLSocket:
        if self.expected_name:
            kwargs["server_hostname"] = self.expected_name
        wrapped = super().wrap_socket(sock, *args, **kwargs)
        self.last_socket = wrapped
        return wrapped

    def close_failed(self) -> None:
        """Close the socket of a handshake that failed."""
        if self.last_socket is not None:
            self.last_socket.close()
            self.last_socket = None


def tls_context(tls: TlsConfig) -> ClientTlsContext:
    """The client TLS context: CA (or the system's), client certificate, name check.

    Raises ``FileNotFoundError`` or ``ssl.SSLError`` for unusable files.
    """
    ctx = ClientTlsContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.expected_name = tls.server_name
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if tls.ca_file is not None:
        ctx.load_verify_locations(cafile=str(tls.ca_file))
    else:
        ctx.load_default_certs()
    if tls.cert_file is not None:
        ctx.load_cert_chain(
            str(tls.cert_file), str(tls.key_file) if tls.key_file else None
        )
    if tls.insecure:
        ctx.check_hostname = False
    return ctx
