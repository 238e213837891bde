"""Shared pieces of the config sections: strict base model, paths, custom errors."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, ValidationInfo
from pydantic_core import PydanticCustomError


class ConfigModel(BaseModel):
    """Base of every config section: an unknown key is an error, never ignored."""

    model_config = ConfigDict(extra="forbid")


def invalid(reason: str, fix: str) -> PydanticCustomError:
    """A validation error whose ``fix`` the loader prints after the reason."""
    return PydanticCustomError("invalid_value", reason, {"fix": fix})


def _resolve_path(path: Path, info: ValidationInfo) -> Path:
    # The loader passes the YAML file's directory, so a config stays valid wherever
    # the daemon's working directory is.
    base_dir = info.context.get("base_dir") if isinstance(info.context, dict) else None
    if base_dir is None or path.is_absolute():
        return path
    return Path(os.path.normpath(Path(base_dir) / path))


ConfigPath = Annotated[Path, AfterValidator(_resolve_path)]
"""A path; a relative one resolves against the config file's directory."""
