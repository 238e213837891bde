"""Commands on models: model_update (push a signed bundle, optionally in shadow),
model_chunk (its files over MQTT), model_promote, model_rollback, and model_state.

``model_update`` answers at once (the signed manifest is checked before the reply);
progress and the outcome follow on ``<prefix>/model/state``.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, model_validator

from edgeinfer.control.router import CommandArgs, CommandContext, CommandRouter
from edgeinfer.errors import CommandError, UpdateError
from edgeinfer.updates.shadow import ShadowPlan

MAX_MANIFEST = 256 * 1024


class ModelArgs(CommandArgs):
    """Arguments naming one model (default: the first configured)."""

    model: str = Field(default="", max_length=200, description="Model name.")


class ShadowArgs(CommandArgs):
    """How a candidate is shadowed before it is activated."""

    sample: float = Field(
        default=0.25, gt=0, le=1, description="Share of live frames it sees."
    )
    min_samples: int = Field(
        default=50, ge=1, description="Frames compared before promotion."
    )
    promote_at: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description="Promote at this agreement; None: wait for model_promote.",
    )

    def plan(self) -> ShadowPlan:
        """As the updater takes it."""
        return ShadowPlan(self.sample, self.min_samples, self.promote_at)


class UpdateArgs(ModelArgs):
    """Arguments of ``model_update``."""

    manifest: str = Field(
        max_length=MAX_MANIFEST, description="manifest.json, its exact signed text."
    )
    signature: str = Field(max_length=4096, description="manifest.sig, as text.")
    url: str = Field(
        default="",
        max_length=2048,
        description="http(s) URL of the bundle directory (files under it by path) "
        "or of one archive of it (.tar, .tar.gz, .tgz).",
    )
    chunks: bool = Field(
        default=False, description="The files follow in model_chunk commands."
    )
    shadow: ShadowArgs | None = Field(
        default=None, description="Run it in shadow first instead of activating."
    )

    @model_validator(mode="after")
    def _one_source(self) -> UpdateArgs:
        if bool(self.url) == self.chunks:
            raise ValueError("give either url or chunks: true")
        return self


class ChunkArgs(ModelArgs):
    """Arguments of ``model_chunk``."""

    path: str = Field(max_length=1000, description="Bundle file the data belongs to.")
    offset: int = Field(ge=0, description="Byte offset of the data in the file.")
    data: str = Field(description="The bytes, base64.")


class RollbackArgs(ModelArgs):
    """Arguments of ``model_rollback``."""

    reason: str = Field(default="command", max_length=500, description="Why.")


def _model(ctx: CommandContext, name: str) -> str:
    models = ctx.daemon.config.models
    name = name or next(iter(models), "")
    if name not in ctx.daemon.models:
        raise CommandError(
            f"no running model named {name!r} — models: {', '.join(models) or 'none'}",
            code="not_found",
        )
    return name


def _refused(err: UpdateError) -> CommandError:
    return CommandError(str(err), code=err.reason)


def model_update(ctx: CommandContext, args: UpdateArgs) -> dict[str, Any]:
    """Check the signed manifest, then fetch (url) or await chunks, then update."""
    name = _model(ctx, args.model)
    updater = ctx.daemon.updates
    delivery = updater.delivery
    try:
        manifest, folder = delivery.accept(name, args.manifest, args.signature)
        plan = args.shadow.plan() if args.shadow is not None else None
        if args.chunks:
            transfer = delivery.open_transfer(name, manifest, folder, plan)
            return {
                "model": name,
                "version": manifest.version,
                "accepted": True,
                "missing": transfer.missing(),
            }
        delivery.from_url(name, manifest, folder, args.url, plan)
    except UpdateError as err:
        updater.report(name, "rejected", reason=str(err), code=err.reason)
        raise _refused(err) from None
    return {"model": name, "version": manifest.version, "accepted": True}


def model_chunk(ctx: CommandContext, args: ChunkArgs) -> dict[str, Any]:
    """Store one chunk of a bundle file; the update starts when all are in."""
    name = _model(ctx, args.model)
    try:
        delivery = ctx.daemon.updates.delivery
        return delivery.chunk(name, args.path, args.offset, args.data)
    except UpdateError as err:
        raise _refused(err) from None


def model_promote(ctx: CommandContext, args: ModelArgs) -> dict[str, Any]:
    """Activate the candidate running in shadow now."""
    try:
        return ctx.daemon.updates.promote(_model(ctx, args.model))
    except UpdateError as err:
        raise _refused(err) from None


def model_rollback(ctx: CommandContext, args: RollbackArgs) -> dict[str, Any]:
    """Go back to the previous version of the model now (or end a shadow test)."""
    name = _model(ctx, args.model)
    cancelled = ctx.daemon.updates.cancel_shadow(name, args.reason)
    if cancelled is not None:
        return cancelled
    state = ctx.daemon.updates.rollback(name, args.reason)
    if state["state"] != "rolled_back":
        raise CommandError(state.get("reason", "rollback failed"), code="failed")
    return state


def model_state(ctx: CommandContext, args: ModelArgs) -> dict[str, Any]:
    """The installed versions and the last update state of the model."""
    name = _model(ctx, args.model)
    updater = ctx.daemon.updates
    return {
        "model": name,
        "version": ctx.daemon.models[name].spec.version,
        "installed": updater.store(name).installed(),
        "state": updater.states.get(name),
    }


def register(router: CommandRouter) -> None:
    """Add this module's commands to ``router``."""
    router.add("model_update", UpdateArgs, model_update)
    router.add("model_chunk", ChunkArgs, model_chunk)
    router.add("model_rollback", RollbackArgs, model_rollback)
    router.add("model_promote", ModelArgs, model_promote)
    router.add("model_state", ModelArgs, model_state)
