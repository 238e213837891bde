"""Why a connection attempt failed, in one line that names the setting to check."""

from __future__ import annotations

import socket
import ssl

from edgeinfer.config.mqtt import MqttConfig


def explain_connect_error(  # noqa: PLR0911 -- one answer per kind of failure
    err: BaseException, cfg: MqttConfig
) -> str:
    """One line saying why connecting failed and which setting to look at."""
    where = f"{cfg.host}:{cfg.port}"
    if isinstance(err, ssl.SSLCertVerificationError):
        if err.verify_code in (62, 64):  # X509_V_ERR_HOSTNAME_MISMATCH, _IP_ADDRESS_
            name = cfg.tls.server_name or cfg.host
            return (
                f"TLS: the certificate of {where} is not for {name!r} — set "
                "mqtt.tls.server_name to a name in the certificate"
            )
        return (
            f"TLS: the certificate of {where} is not trusted ({err.verify_message}) "
            "— set mqtt.tls.ca_file to the CA that signed it"
        )
    if isinstance(err, ssl.SSLError):
        return f"TLS with {where} failed ({err.reason or err}) — check mqtt.tls"
    if isinstance(err, FileNotFoundError):
        return f"TLS file {err.filename} not found — check mqtt.tls paths"
    if isinstance(err, ConnectionRefusedError):
        return f"{where} refused the connection — is the broker running on that port?"
    if isinstance(err, socket.gaierror):
        return f"cannot resolve broker host {cfg.host!r} — check mqtt.host and DNS"
    if isinstance(err, TimeoutError):
        return (
            f"no answer from {where} within {cfg.connect_timeout_s:g} s — check the "
            "network, firewall and mqtt.port"
        )
    if isinstance(err, OSError):
        return f"cannot connect to {where}: {err.strerror or err}"
    return f"cannot connect to {where}: {type(err).__name__}: {err}"
