"""The daemon: the one place that wires sources, workers, rules and sinks together.

    source thread ──> motion gate ──> FrameHub (latest frame per stream)
                                        └──> model workers ──> rules ──> sinks
    serial thread ──> bounded queue (back-pressure) ──> sensor thread ──> rules ─> sinks

Alerts go to the MQTT link's outbox and on their way, then to the alert log, then to
the sinks; the stores fsync them in threads of their own, off the data path. ``stop()``
stops the sources, lets the workers finish what is in flight, and closes the sinks.

With a broker configured (``mqtt.host``) the fleet link sends the alerts, and the
commands it receives act on the daemon through the methods under "fleet control".
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from edgeinfer.config import EdgeinferConfig
from edgeinfer.config.streams import CameraStreamConfig, camera_source_kind
from edgeinfer.metrics import MetricsRegistry, PrometheusServer
from edgeinfer.model import Model
from edgeinfer.pipeline.events import Inference
from edgeinfer.pipeline.gate import MotionGate
from edgeinfer.pipeline.slots import FrameHub
from edgeinfer.pipeline.stats import StreamStats
from edgeinfer.pipeline.vision import ModelWorkers
from edgeinfer.postprocess.results import Result
from edgeinfer.rules.alert import Alert
from edgeinfer.rules.detector import DetectorRule
from edgeinfer.rules.drift import DriftRule
from edgeinfer.rules.engine import StreamRules, build_rules
from edgeinfer.sinks.alertlog import AlertLog
from edgeinfer.sinks.serial_action import SerialActionSink
from edgeinfer.sources import build_source
from edgeinfer.sources.base import Frame, Reading, Source
from edgeinfer.sources.threaded import ThreadedSource
from edgeinfer.updates.manager import ModelUpdater

if TYPE_CHECKING:
    from edgeinfer.mqtt import FleetLink

log = logging.getLogger(__name__)
DRAIN_TIMEOUT_S = 10.0


class Sink(Protocol):
    """Receives results and alerts (stdout, MQTT, ...)."""

    def on_result(self, inference: Inference) -> None: ...

    def on_alert(self, alert: Alert) -> None: ...


class Daemon:
    """Everything ``edgeinfer run`` runs, built from a validated config."""

    def __init__(
        self,
        config: EdgeinferConfig,
        sinks: list[Sink] | None = None,
        *,
        config_file: Path | None = None,
        overrides: Sequence[str] = (),
    ) -> None:
        self.config = config
        self.config_file = config_file  # what set_config writes and reload reads
        self.overrides = tuple(overrides)
        self.sinks = list(sinks or [])
        self.started = time.time()
        self.stats: dict[str, StreamStats] = {
            s.name: StreamStats() for s in config.streams
        }
        self.models: dict[str, Model] = {}
        self.hub = FrameHub()
        self.workers: list[ModelWorkers] = []
        self.sources: dict[str, Source] = {}
        self.alert_log = AlertLog(
            config.state_dir / "alerts.db",
            max_rows=config.alerts.max_rows,
            max_bytes=int(config.alerts.max_mb * 2**20),
        )
        self.actions = [
            SerialActionSink(a.port, a.baud, line=a.line, min_severity=a.min_severity)
            for a in config.alerts.actions
        ]
        self.sinks.extend(self.actions)
        self._gates: dict[str, MotionGate] = {}
        self._lossless: set[str] = set()  # files read as fast as the model goes
        self._sensors: set[str] = set()  # streams of readings, not frames
        self._alert_lock = threading.Lock()
        self.rules: dict[str, StreamRules] = {}
        # Fleet control: what snapshots show, what a config change left pending. The
        # newest frame and the newest result, which is of an older frame: keeping that
        # frame too would hold one more full image per camera.
        self.latest_frames: dict[str, Frame] = {}
        self.latest_results: dict[str, Result] = {}
        self.restart_required: list[str] = []
        self.metrics = MetricsRegistry(self.status, config.state_dir)
        self.fleet: FleetLink | None = None
        self.metrics_server: PrometheusServer | None = None
        # Model updates: the store, hot swap and probation (see "model updates").
        self.updates = ModelUpdater(self)
        self.sinks.append(self.updates.tracker)

    # -- building -------------------------------------------------------------------
    def load(self) -> None:
        """Load the models the camera streams use and build every stream's rules."""
        cameras = [s for s in self.config.streams if isinstance(s, CameraStreamConfig)]
        for stream in cameras:
            if stream.model and stream.model not in self.models:
                # what the last run left settled, the version checked
                spec = self.updates.recover(stream.model)
                self.models[stream.model] = Model.load(spec)
        self.rules = self.build_rules(self.config)

    def build_rules(self, config: EdgeinferConfig) -> dict[str, StreamRules]:
        """Fresh rules for ``config`` over its streams and the loaded models."""
        cameras = [s for s in config.streams if isinstance(s, CameraStreamConfig)]
        labels = {
            s.name: (set(self.models[s.model].labels.values()) or None)
            if s.model
            else set()
            for s in cameras
        }
        sensors = [s.name for s in config.streams if s.name not in labels]
        samples = {
            s.name: self.models[s.model].spec.drift_sample for s in cameras if s.model
        }
        return build_rules(list(config.rules), labels, sensors, samples)

    def start(self) -> None:
        """Start workers, sensor threads and sources (``load`` first)."""
        if not self.rules and self.config.streams:
            self.load()
        self._start_fleet()
        for name, model in self.models.items():
            users = [
                s.name
                for s in self.config.streams
                if isinstance(s, CameraStreamConfig) and s.model == name
            ]
            workers = ModelWorkers(
                model,
                self.hub,
                self._on_inference,
                self.stats,
                workers=model.backend.preferred_workers,
            )
            log.info(
                "model %s on %s for %s (%d workers)",
                name,
                model.backend.placement,
                ", ".join(users),
                workers.count,
            )
            self.workers.append(workers)
        for stream in self.config.streams:
            self._start_stream(stream)
        for w in self.workers:
            w.start()
        self.updates.start()

    def _start_stream(self, stream: Any) -> None:
        name = stream.name
        sink: Callable[[Any], None]
        if isinstance(stream, CameraStreamConfig):
            if stream.model:
                # As many frames in flight as the model has workers, in order.
                depth = self.models[stream.model].backend.preferred_workers
                self.hub.add_stream(name, self.stats[name], depth)
            if stream.motion_gate.enabled:
                self._gates[name] = MotionGate(stream.motion_gate.threshold)
            if camera_source_kind(stream.source) == "file" and not stream.realtime:
                self._lossless.add(name)
            sink = self._on_frame
        else:
            self._sensors.add(name)
            sink = functools.partial(self._on_reading, name)
        source = build_source(stream, sink)
        self.sources[name] = source
        source.start()

    # -- data path ------------------------------------------------------------------
    def _on_frame(self, frame: Frame) -> None:
        self.stats[frame.stream].frames_in += 1
        self.latest_frames[frame.stream] = frame
        gate = self._gates.get(frame.stream)
        gated = gate.check(frame.image) if gate is not None else False
        if frame.stream in self.hub.streams:
            self.hub.put(frame, gated, wait=frame.stream in self._lossless)

    def _on_inference(self, inference: Inference) -> None:
        frame = inference.frame
        self.latest_results[frame.stream] = inference.result
        t0 = time.perf_counter()
        alerts = self.rules[frame.stream].on_inference(inference)
        stats = self.stats[frame.stream]
        now = time.perf_counter()
        stats.latency["rules"].add((now - t0) * 1e3)
        end_to_end = (now - frame.received) * 1e3
        stats.latency["end_to_end"].add(end_to_end)
        if (infer := inference.latency_ms.get("infer")) is not None:  # not gated
            stats.latency["overhead"].add(end_to_end - infer)
        for sink in self.sinks:
            sink.on_result(inference)
        for alert in alerts:
            self.emit(alert)

    def _on_reading(self, name: str, reading: Reading) -> None:
        """A sensor reading, on the thread that read it (one at a time, in order:
        the source sees to it, and keeps reading meanwhile)."""
        stats = self.stats[name]
        stats.frames_in += 1
        try:  # looked up per reading: set_config may replace the rules
            for alert in self.rules[name].on_reading(reading):
                self.emit(alert)
        except Exception:  # a stage boundary: count, log, keep the stream alive
            stats.errors += 1
            log.exception("rules failed on %s reading %d", name, reading.seq)

    def emit(self, alert: Alert) -> None:
        """Record ``alert`` in the alert log and hand it to every sink.

        With a broker configured the MQTT link takes the alert first: it stores it in
        its outbox (in the WAL, safe from a crash, before anything leaves the device)
        and publishes it at once. The log takes it while it is on its way, and the
        outbox keeps its copy, acknowledged or not, until the log has it: the device
        holds the alert throughout, and after a crash in between the link copies it
        from the outbox to the log (``FleetLink.log_stored_alerts``). Then the other
        sinks. Each store's own thread fsyncs it (safe from a power loss) while the
        stream goes on: a slow disk never holds up the next sample or frame, and
        alerts raised meanwhile are flushed together.
        """
        with self._alert_lock:
            if self.fleet is not None:
                self.fleet.send_alert(alert, then=lambda: self._log(alert))
            else:
                self._log(alert)
            self.stats[alert.stream].alerts += 1
        try:
            for sink in self.sinks:
                try:
                    sink.on_alert(alert)
                except Exception:  # one failing sink must not lose it for the others
                    log.exception(
                        "sink %s failed on alert %s", type(sink).__name__, alert.id
                    )
        finally:
            self.alert_log.sync(wait=False)

    def _log(self, alert: Alert) -> None:
        self.alert_log.append(alert, sync=False)

    # -- running --------------------------------------------------------------------
    def finished(self) -> bool:
        """True when every source is a finite file that has ended."""
        events = [getattr(s, "finished", None) for s in self.sources.values()]
        return bool(events) and all(e is not None and e.is_set() for e in events)

    def wait(self, stop: threading.Event, poll_s: float = 0.2) -> None:
        """Block until ``stop`` is set or every source has finished."""
        while not stop.wait(poll_s):
            if self.finished():
                log.info("every source has ended")
                return

    def stop(self) -> None:
        """Stop the sources, drain in-flight frames and readings, close the sinks."""
        self.updates.stop()  # no model swap once the workers drain
        for name in self.sources:
            self._stop_source(name)
        deadline = time.monotonic() + DRAIN_TIMEOUT_S
        while self.hub.pending() and time.monotonic() < deadline:
            time.sleep(0.01)
        self.hub.close()
        for w in self.workers:
            w.join(DRAIN_TIMEOUT_S)
        self._stop_fleet()
        for model in self.models.values():
            model.close()
        for action in self.actions:
            action.close()
        self.alert_log.close()

    def status(self) -> dict[str, Any]:
        """Streams with health and statistics, models with placement and fallback."""
        streams = {}
        for name, source in self.sources.items():
            h = source.health
            streams[name] = {
                "health": h.health.value,
                "reason": h.reason,
                **self.stats[name].to_json(),
            }
            # Samples each detector could not score, by reason (NaN, gaps, ...).
            rules = self.rules.get(name)
            inputs = {
                r.name: r.counts.to_json()
                for r in (rules.sensor if rules is not None else [])
                if isinstance(r, DetectorRule)
            }
            if inputs:
                streams[name]["detector_inputs"] = inputs
        models = {
            name: {
                "placement": str(m.backend.placement),
                "path": str(m.selection.model_path),
                "version": m.spec.version,
                "fallback": [
                    {"placement": str(s.placement), "reason": s.reason}
                    for s in m.selection.skipped
                ],
            }
            for name, m in self.models.items()
        }
        aside = self.alert_log.set_aside  # a damaged log moved aside at start
        out: dict[str, Any] = {
            "device": self.config.device.id,
            "uptime_s": round(time.time() - self.started, 1),
            "streams": streams,
            "models": models,
            "alert_log": {
                "flush_failures": self.alert_log.flush_failures,
                "set_aside": None if aside is None else str(aside),
            },
        }
        if self.fleet is not None:
            out["mqtt"] = self.fleet.status()
        if self.restart_required:
            out["restart_required"] = list(self.restart_required)
        return out

    # -- model updates ----------------------------------------------------------------
    def stream_models(self) -> dict[str, str]:
        """Camera stream name -> the model it runs."""
        return {
            s.name: s.model
            for s in self.config.streams
            if isinstance(s, CameraStreamConfig) and s.model
        }

    def model_errors(self, name: str) -> int:
        """Failed frames so far on the streams model ``name`` serves."""
        streams = [s for s, m in self.stream_models().items() if m == name]
        return sum(self.stats[s].errors for s in streams)

    def swap_model(self, name: str, model: Model) -> Model:
        """Serve ``model`` as model ``name`` from the next frame on, without a
        restart; returns the model it replaced (the caller closes it)."""
        workers = next((w for w in self.workers if w.name == name), None)
        old = self.models[name] if workers is None else workers.swap(model)
        self.models[name] = model
        self._rebase_drift(name, model)
        return old

    def _rebase_drift(self, name: str, model: Model) -> None:
        """Drift rules on the streams of model ``name`` start again from the new
        model's reference (``score`` without one learns anew; ``input`` keeps its
        own unless the bundle brings one). Rules pinned by the config stay."""
        for stream in self.config.streams:
            if not isinstance(stream, CameraStreamConfig) or stream.model != name:
                continue
            for rule in self.rules.get(stream.name, StreamRules()).vision:
                if not isinstance(rule, DriftRule) or rule.pinned:
                    continue
                sample = model.spec.drift_sample(rule.statistic)
                if sample is not None or rule.statistic == "score":
                    rule.rebase(sample)

    # -- fleet control ----------------------------------------------------------------
    def restart_stream(self, name: str) -> None:
        """Close and reopen the source of stream ``name`` (KeyError if unknown)."""
        source = self.sources[name]
        log.info("restarting stream %s", name)
        source.stop()
        source.start()

    def _stop_source(self, name: str) -> None:
        source = self.sources[name]
        if isinstance(source, ThreadedSource) and name in self._sensors:
            source.stop(DRAIN_TIMEOUT_S)  # it delivers the readings it has queued
        else:
            source.stop()

    def replace_stream(self, stream: Any) -> None:
        """Run stream ``stream.name`` with new settings from now on (same kind and,
        for a camera, the same model): its source is rebuilt; its statistics, rules
        and slot stay. A sensor's queued readings are all seen first."""
        name = stream.name
        log.info("stream %s: new settings, restarting its source", name)
        self._stop_source(name)
        sink: Callable[[Any], None]
        if isinstance(stream, CameraStreamConfig):
            self._gates.pop(name, None)
            if stream.motion_gate.enabled:
                self._gates[name] = MotionGate(stream.motion_gate.threshold)
            self._lossless.discard(name)
            if camera_source_kind(stream.source) == "file" and not stream.realtime:
                self._lossless.add(name)
            sink = self._on_frame
        else:
            sink = functools.partial(self._on_reading, name)
        source = build_source(stream, sink)
        self.sources[name] = source
        source.start()

    def apply_config(
        self,
        config: EdgeinferConfig,
        rules: dict[str, StreamRules] | None = None,
        restart_required: Sequence[str] = (),
    ) -> None:
        """Run with ``config`` from now on, with ``rules`` if given; the sections in
        ``restart_required`` changed in the file and wait for a restart."""
        if rules is not None:
            self.rules = rules
        self.config = config
        self.restart_required = list(restart_required)

    def _start_fleet(self) -> None:
        """The MQTT link (when a broker is configured) and the /metrics endpoint."""
        prom = self.config.telemetry.prometheus
        if prom.enabled:
            self.metrics_server = PrometheusServer(
                self.metrics.collect, prom.host, prom.port
            )
            self.metrics_server.start()
        if not self.config.mqtt.configured:
            log.info("no mqtt.host configured: alerts stay in the local alert log")
            return
        from edgeinfer.control import build_router  # noqa: PLC0415 -- only with MQTT
        from edgeinfer.mqtt import FleetLink  # noqa: PLC0415

        self.fleet = FleetLink(self, build_router())  # ``emit`` sends alerts through it
        self.fleet.start()

    def _stop_fleet(self) -> None:
        if self.fleet is not None:
            self.fleet.stop()
        if self.metrics_server is not None:
            self.metrics_server.stop()
