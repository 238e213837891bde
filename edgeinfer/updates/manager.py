"""The update flow on a running daemon, one model at a time:

    install (copy/unpack + verify) ──> compatible? ──> load + validate here
        ──> activate in the store ──> hot swap ──> probation ──> keep, or roll back

Probation survives restarts: the store marks the active version on probation until it
passes. A daemon that stops cleanly during probation pauses it, and the next one
watches that version again from the start; a daemon that ended without stopping (a
crash, kill -9, a power loss) while a version was on probation is taken as that
version's fault, and the next start rolls it back before loading it.

Every step is reported on ``<prefix>/model/state`` (retained) as
``{"model", "state", "version", "reason", ...}`` with state one of fetching,
verifying, validating, shadow, active, rolled_back, rejected. A refused bundle
changes nothing: the old model keeps serving.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgeinfer.errors import EdgeinferError, UpdateError
from edgeinfer.loading import model_spec
from edgeinfer.model import Model, ModelSpec
from edgeinfer.updates.bundle import Bundle
from edgeinfer.updates.compat import bundle_spec, check_compatible
from edgeinfer.updates.delivery import Delivery
from edgeinfer.updates.health import Health, HealthTracker, judge
from edgeinfer.updates.shadow import Shadow, ShadowPlan
from edgeinfer.updates.store import ModelStore
from edgeinfer.updates.validate import load_candidate, validate_model

if TYPE_CHECKING:
    from edgeinfer.app import Daemon

log = logging.getLogger(__name__)
StateListener = Callable[[dict[str, Any]], None]


class ModelUpdater:
    """Installs, validates, activates and watches model versions for a daemon."""

    def __init__(self, daemon: Daemon) -> None:
        self.daemon = daemon
        self.config = daemon.config
        self.listeners: list[StateListener] = []
        self.states: dict[str, dict[str, Any]] = {}
        self.tracker = HealthTracker(daemon.stream_models())
        self._stores: dict[str, ModelStore] = {}
        self._lock = threading.Lock()  # one update or rollback at a time
        self._errors_at: dict[str, int] = {}  # errors counted when a version began
        self._probation: dict[str, threading.Event] = {}
        self._resume: dict[str, str] = {}  # model -> version to watch again at start
        self.delivery = Delivery(self)
        self._shadows: dict[str, tuple[Shadow, Bundle, dict[str, Any]]] = {}
        self._stopped = False  # the daemon stops: no more swaps

    # -- store and specs ------------------------------------------------------------
    def store(self, name: str) -> ModelStore:
        """The store of model ``name``."""
        if name not in self._stores:
            u = self.config.updates
            self._stores[name] = ModelStore(
                self.config.state_dir,
                name,
                u.trusted_keys,
                keep=u.keep,
                max_bytes=u.max_bytes,
            )
        return self._stores[name]

    def spec_for(self, name: str) -> ModelSpec:
        """What model ``name`` runs: the store's active bundle, else the config's."""
        bundle = self.store(name).active()
        return (
            model_spec(self.config, name) if bundle is None else self.spec(name, bundle)
        )

    def spec(self, name: str, bundle: Bundle) -> ModelSpec:
        """The spec of ``bundle`` as model ``name`` on this device."""
        return bundle_spec(self.config, name, bundle)

    def recover(self, name: str) -> ModelSpec:
        """Before model ``name`` is loaded: settle what the last daemon left, and
        return what to load (the active bundle, checked, or the config's model).

        A probation paused by a clean stop: watch the version again once this daemon
        runs. Still marked running: that daemon died with the version on probation,
        so roll it back now, before it is loaded. An active version whose files no
        longer match its signed manifest (bit rot on an SD card, a hand edit) is
        rolled back too, down to the config's own model if need be: the device comes
        up on a model it can trust rather than not at all. So does an unreadable
        record of the active version: it is set aside and the config's model serves.
        """
        store = self.store(name)
        if store.set_aside is not None:  # the store found its record damaged
            reason = (
                f"the record of the active version was damaged; moved to "
                f"{store.set_aside.name}, the configured model serves"
            )
            version = model_spec(self.config, name).version
            self.report(name, "rolled_back", version=version, reason=reason)
            store.set_aside = None
        probation = store.state().probation
        if probation is not None and not probation.running:
            store.set_probation(running=True)
            self._resume[name] = probation.version
        elif probation is not None:
            reason = (
                f"probation: the daemon ended without stopping (a crash, kill -9 or a "
                f"power loss) while version {probation.version} was on probation"
            )
            if not self._roll_back_at_start(name, probation.version, reason):
                return self.spec_for(name)
        while (active := store.state().active) is not None:
            try:
                bundle = store.bundle(active)  # verified again: signature, every file
            except UpdateError as err:
                reason = f"version {active} failed its check at start: {err}"
                if self._roll_back_at_start(name, active, reason):
                    continue
                return self.spec_for(name)
            return self.spec(name, bundle)
        return model_spec(self.config, name)

    def _roll_back_at_start(self, name: str, version: str, reason: str) -> bool:
        """Roll model ``name`` back from ``version`` and report it; False if that
        failed (reported too)."""
        log.error("model %s: %s; rolling back", name, reason)
        try:
            state = self.store(name).rollback()
        except UpdateError as err:
            reason = f"rollback failed: {err}"
            self.report(name, "rejected", reason=reason, code=err.reason)
            return False
        self.report(
            name,
            "rolled_back",
            version=state.active or model_spec(self.config, name).version,
            from_version=version,
            reason=reason,
        )
        return True

    def start(self) -> None:
        """Once the daemon runs: watch again the versions whose probation a clean
        stop paused (from the start of their probation period)."""
        for name, version in self._resume.items():
            if self.daemon.models[name].spec.version != version:
                continue
            self.report(
                name,
                "active",
                version=version,
                probation="watching",
                reason="probation resumed after a restart",
            )
            self._start_probation(name, version, None)
        self._resume.clear()

    # -- reporting ------------------------------------------------------------------
    def report(self, name: str, state: str, **info: Any) -> dict[str, Any]:
        """Record and publish the update state of model ``name``."""
        body = {"model": name, "state": state, "time": time.time(), **info}
        self.states[name] = body
        log.info("model %s: %s %s", name, state, info.get("reason", ""))
        for listener in list(self.listeners):
            try:
                listener(body)
            except Exception:  # a failing listener must not stop the update
                log.exception("model state listener failed")
        return body

    # -- update ---------------------------------------------------------------------
    def update(
        self, name: str, source: Path, shadow: ShadowPlan | None = None
    ) -> dict[str, Any]:
        """Install, validate and activate the bundle at ``source`` for model
        ``name`` (or with ``shadow``, run it beside the active model first);
        returns the state reached (active, shadow or rejected)."""
        with self._lock:
            bundle: Bundle | None = None
            try:
                self.report(name, "verifying")
                bundle = self.store(name).install(source)
                check_compatible(self.config, name, bundle)
                self.report(name, "validating", version=bundle.version)
                model = load_candidate(self.spec(name, bundle), bundle)
                try:
                    report = validate_model(
                        model, bundle, self.config.updates.validate_runs
                    )
                except Exception:
                    model.close()
                    raise
            except UpdateError as err:
                if bundle is not None:
                    self._discard(name, bundle.version)
                return self.report(name, "rejected", reason=str(err), code=err.reason)
            if shadow is not None:
                return self._start_shadow(name, bundle, model, report.to_json(), shadow)
            return self._activate(name, bundle, model, report.to_json())

    def _discard(self, name: str, version: str) -> None:
        """Delete a refused version unless it is in use (e.g. a re-sent active one)."""
        with contextlib.suppress(UpdateError):
            self.store(name).remove(version)

    def _activate(
        self,
        name: str,
        bundle: Bundle,
        model: Model,
        validation: dict[str, Any],
        **info: Any,
    ) -> dict[str, Any]:
        if self._stopped:
            model.close()
            return self.report(
                name,
                "rejected",
                version=bundle.version,
                reason="the daemon stopped before activation",
                code="stopping",
            )
        store = self.store(name)
        previous = self.daemon.models[name].spec.version
        store.activate(bundle.version, probation=True)
        self._swap(name, model)
        state = self.report(
            name,
            "active",
            version=bundle.version,
            previous=previous,
            validation=validation,
            probation="watching",
            **info,
        )
        self._start_probation(name, bundle.version, previous)
        return state

    def _swap(self, name: str, model: Model) -> None:
        """Hot swap ``model`` in and start counting its health."""
        if self._stopped:
            model.close()
            raise UpdateError("the daemon is stopping", reason="stopping")
        errors = self.daemon.model_errors(name)
        # The outgoing version's failures, the baseline its successor is judged by.
        outgoing = self.tracker.health(name, self.daemon.models[name].spec.version)
        outgoing.errors = errors - self._errors_at.get(name, 0)
        self.tracker.serving(name, model.spec.version)
        self._errors_at[name] = errors
        old = self.daemon.swap_model(name, model)
        if old is not model:
            old.close()

    # -- shadow ---------------------------------------------------------------------
    def _start_shadow(
        self,
        name: str,
        bundle: Bundle,
        model: Model,
        validation: dict[str, Any],
        plan: ShadowPlan,
    ) -> dict[str, Any]:
        self.cancel_shadow(name, "replaced by a newer candidate")

        def report(s: Shadow) -> None:
            self.report(name, "shadow", version=s.version, shadow=s.to_json())

        shadow = Shadow(name, model, plan, report, lambda s: self.promote(name))
        self._shadows[name] = (shadow, bundle, validation)
        self.tracker.observers.append(shadow.offer)
        shadow.start()
        return self.report(
            name,
            "shadow",
            version=bundle.version,
            validation=validation,
            shadow=shadow.to_json(),
        )

    def _end_shadow(self, name: str) -> tuple[Shadow, Bundle, dict[str, Any]] | None:
        entry = self._shadows.pop(name, None)
        if entry is not None:
            shadow = entry[0]
            with contextlib.suppress(ValueError):
                self.tracker.observers.remove(shadow.offer)
            shadow.stop()
        return entry

    def promote(self, name: str) -> dict[str, Any]:
        """Activate the shadowed candidate of model ``name`` now."""
        entry = self._end_shadow(name)
        if entry is None:
            raise UpdateError(
                f"model {name} has no candidate in shadow — send model_update with "
                "shadow first",
                reason="no_shadow",
            )
        shadow, bundle, validation = entry
        with self._lock:
            return self._activate(
                name, bundle, shadow.candidate, validation, shadow=shadow.to_json()
            )

    def cancel_shadow(self, name: str, reason: str) -> dict[str, Any] | None:
        """Stop shadowing the candidate of model ``name`` (it is not activated)."""
        entry = self._end_shadow(name)
        if entry is None:
            return None
        shadow = entry[0]
        shadow.candidate.close()
        return self.report(
            name,
            "rejected",
            version=shadow.version,
            reason=f"shadow ended: {reason}",
            code="shadow_cancelled",
            shadow=shadow.to_json(),
        )

    # -- probation and rollback -----------------------------------------------------
    def _start_probation(self, name: str, version: str, previous: str | None) -> None:
        """Watch ``version`` against ``previous`` (None: against the limits alone)."""
        stop = self._probation.pop(name, None)
        if stop is not None:
            stop.set()
        stop = threading.Event()
        self._probation[name] = stop
        old = None if previous is None else self.tracker.health(name, previous)
        threading.Thread(
            target=self._watch,
            args=(name, version, old, stop),
            name=f"probation-{name}",
            daemon=True,
        ).start()

    def _watch(
        self, name: str, version: str, old: Health | None, stop: threading.Event
    ) -> None:
        limits = self.config.updates.probation
        new = self.tracker.health(name, version)
        deadline = time.monotonic() + limits.duration_s
        while not stop.wait(0.25):
            new.errors = self.daemon.model_errors(name) - self._errors_at.get(name, 0)
            reason = judge(new, old, limits)
            if reason is not None:
                log.warning("model %s %s regressed: %s", name, version, reason)
                self.rollback(name, f"probation: {reason}", health=new.to_json())
                return
            if time.monotonic() >= deadline:
                with self._lock:
                    if self.daemon.models[name].spec.version == version:
                        self.store(name).set_probation(running=None)
                self.report(
                    name,
                    "active",
                    version=version,
                    probation="passed",
                    health=new.to_json(),
                )
                return

    def rollback(
        self, name: str, reason: str = "manual", **info: Any
    ) -> dict[str, Any]:
        """Go back to the previous version (or the configured model) now."""
        stop = self._probation.pop(name, None)
        if stop is not None and threading.current_thread().name != f"probation-{name}":
            stop.set()
        with self._lock:
            current = self.daemon.models[name].spec.version
            try:
                state = self.store(name).rollback()
                spec = self.spec_for(name)
                model = Model.load(spec)
                self._swap(name, model)
            except EdgeinferError as err:
                code = err.reason if isinstance(err, UpdateError) else "load_failed"
                return self.report(
                    name, "rejected", reason=f"rollback failed: {err}", code=code
                )
            return self.report(
                name,
                "rolled_back",
                version=state.active or spec.version,
                from_version=current,
                reason=reason,
                **info,
            )

    def stop(self) -> None:
        """End any probation and shadow (the daemon is stopping)."""
        with self._lock:  # an update in progress finishes first
            self._stopped = True
            for stop in self._probation.values():
                stop.set()
            for store in self._stores.values():  # a clean stop: pause, not a crash
                if store.state().probation is not None:
                    store.set_probation(running=False)
        for name in list(self._shadows):
            self.cancel_shadow(name, "the daemon stopped")
