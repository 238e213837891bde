"""The error tree of edgeinfer.

Every error the runtime raises on purpose is an ``EdgeinferError``; its message is one
line that says what failed, which item, and what to do about it. The CLI prints that
line and exits non-zero; the daemon logs it, counts it and keeps running.

    EdgeinferError
    ├── ConfigError            a config file, override or command argument is invalid
    ├── BackendUnavailable     a runtime, delegate or device is not present here
    ├── ModelLoadError         a model file is missing, malformed or cannot run here
    ├── InputError             an input (image, labels file, tensor) is unusable
    ├── SourceError            a camera, video, serial port or file source failed
    ├── CommandError           a fleet command was malformed or refused
    ├── UpdateError            a model bundle was refused (signature, files, device)
    └── ServiceError           the control socket or the running daemon is unreachable
"""

from __future__ import annotations


class EdgeinferError(Exception):
    """Base of every deliberate edgeinfer error; ``str(err)`` is one actionable line."""


class ConfigError(EdgeinferError):
    """A config file, ``--set`` override or command-line argument is invalid."""


class BackendUnavailable(EdgeinferError):
    """A runtime, delegate or device cannot be used on this machine.

    ``backend`` and ``device`` name what was asked for, so a selector can report the
    reason it skipped it.
    """

    def __init__(self, message: str, *, backend: str = "", device: str = "") -> None:
        super().__init__(message)
        self.backend = backend
        self.device = device


class ModelLoadError(EdgeinferError):
    """A model file is missing, malformed, or uses ops the chosen backend cannot run."""


class InputError(EdgeinferError):
    """An input file or tensor (image, labels, array) cannot be used with the model."""


class SourceError(EdgeinferError):
    """A camera, video file, network stream or serial port failed."""


class CommandError(EdgeinferError):
    """A fleet command was malformed, unknown or refused."""

    def __init__(self, message: str, *, code: str = "bad_request") -> None:
        super().__init__(message)
        self.code = code


class UpdateError(EdgeinferError):
    """A model bundle or update was refused; ``reason`` is a short machine code
    (``bad_signature``, ``untrusted_key``, ``tampered``, ``unsafe_archive``,
    ``incompatible``, ``golden_mismatch``, ``over_budget``, ...)."""

    def __init__(self, message: str, *, reason: str = "rejected") -> None:
        super().__init__(message)
        self.reason = reason


class ServiceError(EdgeinferError):
    """The local control socket cannot be served, or no daemon answers on it."""
