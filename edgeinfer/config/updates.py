"""The ``updates`` section: who may sign models, and how updates are checked."""

from __future__ import annotations

from pydantic import Field, field_validator

from edgeinfer.config._base import ConfigModel, invalid


class ProbationConfig(ConfigModel):
    """How a newly activated model is watched against the one it replaced."""

    duration_s: float = Field(
        default=300.0, ge=0, description="How long the new model is on probation."
    )
    min_frames: int = Field(
        default=20, ge=1, description="Frames inferred before any judgement."
    )
    max_error_rate_increase: float = Field(
        default=0.05,
        ge=0,
        description="Rollback when the failed share of frames rises by more.",
    )
    max_latency_factor: float = Field(
        default=2.0, gt=1, description="Rollback when median infer time grows more."
    )
    max_alert_rate_increase: float = Field(
        default=0.2,
        ge=0,
        description="Rollback when alerts per inferred frame rise by more.",
    )


class UpdatesConfig(ConfigModel):
    """Signed model updates: trusted keys, store size, limits, probation."""

    trusted_keys: list[str] = Field(
        default_factory=list,
        description="Ed25519 public keys (base64 of 32 bytes) whose signatures this "
        "device accepts; list the old and the new key while rotating.",
    )
    keep: int = Field(
        default=3, ge=2, description="Versions kept per model (active + previous)."
    )
    max_bundle_mb: float = Field(
        default=512.0, gt=0, description="Largest bundle downloaded or unpacked."
    )
    download_timeout_s: float = Field(
        default=30.0, gt=0, description="Socket timeout of a bundle download."
    )
    validate_runs: int = Field(
        default=10, ge=1, description="Timed runs for the latency budget check."
    )
    probation: ProbationConfig = Field(
        default_factory=ProbationConfig, description="Watch after activation."
    )

    @field_validator("trusted_keys")
    @classmethod
    def _check_keys(cls, value: list[str]) -> list[str]:
        from edgeinfer.updates.signing import public_raw  # noqa: PLC0415

        for text in value:
            try:
                public_raw(text)
            except ValueError as err:
                raise invalid(
                    f"not an Ed25519 public key: {err}",
                    "paste the line printed by edgeinfer models keygen",
                ) from None
        return value

    @property
    def max_bytes(self) -> int:
        """``max_bundle_mb`` in bytes."""
        return int(self.max_bundle_mb * (1 << 20))
