"""The stand-in's ServerCore: which model versions are loaded, their states, labels and polling.

Behaviour copied from TF Serving (documented in serving_config.md and visible in its source):
- each model's ``base_path`` is polled every ``file_system_poll_wait_seconds``; numeric
  sub-directories are versions, the version policy picks the aspired ones (default latest 1);
- new versions load before old ones unload (availability-preserving), failed loads are retried;
- unloaded versions stay in the status monitor with state END;
- the config file is re-read every ``model_config_file_poll_wait_seconds`` (0 = never) and the
  server then serves exactly what the new file lists;
- labels may only point at AVAILABLE versions, unless
  ``allow_version_labels_for_unavailable_models``.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import tensorflow as tf
from tensorflow_serving.apis import get_model_status_pb2

from lab4_tf_serving import config as cfg
from lab4_tf_serving.metrics import Metrics
from lab4_tf_serving.savedmodel import DEFAULT_SIGNATURE, read_meta_graph, version_dirs

log = logging.getLogger("lab4.core")
State = get_model_status_pb2.ModelVersionStatus.State
MAX_LOAD_ATTEMPTS = 5


class ServingError(Exception):
    """A TF Serving status: gRPC code plus message (REST maps the code to an HTTP status)."""

    def __init__(self, code: grpc.StatusCode, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def invalid(message: str) -> ServingError:
    return ServingError(grpc.StatusCode.INVALID_ARGUMENT, message)


def _refuse_startup_labels(wanted: dict) -> None:
    """Nothing is loaded yet when the real server reads its first config: any label fails."""
    for m in wanted.values():
        if m.version_labels:
            label, version = next(iter(m.version_labels.items()))
            raise ServingError(
                grpc.StatusCode.FAILED_PRECONDITION,
                f"Request to assign label to version {version} of model {m.name}, which is not "
                f"currently available for inference. (label {label!r}: start with "
                "--allow_version_labels_for_unavailable_models)",
            )


@dataclass
class Servable:
    name: str
    version: int
    path: Path
    module: Any  # what tf.saved_model.load returned (keeps the variables alive)
    meta_graph: Any  # MetaGraphDef: signature defs for metadata and input validation

    def signature(self, name: str):
        key = name or DEFAULT_SIGNATURE
        if key not in self.module.signatures or key not in self.meta_graph.signature_def:
            raise ServingError(
                grpc.StatusCode.FAILED_PRECONDITION, f'Serving signature key "{key}" not found.'
            )
        return self.meta_graph.signature_def[key], self.module.signatures[key]


@dataclass
class VersionState:
    state: int = State.START
    error_code: grpc.StatusCode = grpc.StatusCode.OK
    error_message: str = ""
    servable: Servable | None = None
    attempts: int = 0


@dataclass
class ModelEntry:
    config: Any  # ModelConfig proto
    path: Path
    labels: dict[str, int] = field(default_factory=dict)


class ServerCore:
    def __init__(
        self,
        config,
        models_root: str | Path | None = None,
        config_file: str | Path | None = None,
        config_poll_seconds: float = 0,
        fs_poll_seconds: float = 1,
        allow_unavailable_labels: bool = False,
        metrics: Metrics | None = None,
        method_name_check: bool = False,
    ):
        self.metrics = metrics or Metrics()
        self.method_name_check = method_name_check  # --enable_signature_method_name_check
        self.models_root = models_root
        self.config_file = Path(config_file) if config_file else None
        self.config_poll_seconds = config_poll_seconds
        self.fs_poll_seconds = fs_poll_seconds
        self.allow_unavailable_labels = allow_unavailable_labels
        self._lock = threading.RLock()
        self._reload_lock = threading.Lock()
        self._stop = threading.Event()
        self.models: dict[str, ModelEntry] = {}
        self.monitor: dict[str, dict[int, VersionState]] = {}
        self._config_text = self.config_file.read_text() if self.config_file else None
        self._thread: threading.Thread | None = None
        self.apply_config(config, startup=True)

    # ---------------------------------------------------------------- configuration
    def apply_config(self, config, startup: bool = False) -> None:
        """Serve exactly what ``config`` lists (serving_config.md, "Reloading ...")."""
        with self._reload_lock:
            wanted = {m.name: m for m in config.model_config_list.config}
            if startup and not self.allow_unavailable_labels:
                _refuse_startup_labels(wanted)
            with self._lock:
                for name in list(self.models):
                    if name not in wanted:
                        del self.models[name]
                        log.info("model %s removed from the config: unloading", name)
                for name, model in wanted.items():
                    path = cfg.resolve_base_path(model.base_path, self.models_root)
                    old = self.models.get(name)
                    self.models[name] = ModelEntry(model, path, old.labels if old else {})
                    self.monitor.setdefault(name, {})
            self._sync_all()
            self._apply_labels(wanted)

    def _label_refused(self, name: str, label: str, version: int, current: dict) -> bool:
        st = self.monitor.get(name, {}).get(version)
        available = st is not None and st.state == State.AVAILABLE
        if available or (self.allow_unavailable_labels and label not in current):
            return False
        log.error(
            "FAILED_PRECONDITION: Request to assign label to version %s of model %s, which is "
            "not currently available for inference. (label %r kept at %s)",
            version,
            name,
            label,
            current.get(label, "nothing"),
        )
        return True

    def _apply_labels(self, wanted) -> None:
        """serving_config.md: a label may point at a version that is not AVAILABLE only when the
        flag is set *and* the label is new; moving an existing label needs a loaded target, so
        that requests for the label never land on a version that is still loading."""
        for name, model in wanted.items():
            labels = dict(model.version_labels)
            with self._lock:
                current = dict(self.models[name].labels) if name in self.models else {}
            if any(self._label_refused(name, lb, v, current) for lb, v in labels.items()):
                continue  # all of the model's labels or none, as the real server does
            with self._lock:
                if name in self.models:
                    self.models[name].labels = labels

    def reload_from_file(self) -> bool:
        """Re-read the config file; True if it changed and was applied."""
        outcome = self._reload_from_file()
        self.metrics.config_polls.labels(outcome).inc()
        return outcome == "applied"

    def _reload_from_file(self) -> str:
        if self.config_file is None:
            return "no_file"
        try:
            text = self.config_file.read_text()
        except OSError as exc:
            log.error("cannot read %s: %s", self.config_file, exc)
            return "unreadable"
        if text == self._config_text:
            return "unchanged"
        self._config_text = text
        try:
            new = cfg.parse_model_config(text, str(self.config_file))
        except cfg.ConfigError as exc:
            log.error("%s (keeping the current config)", exc)
            return "invalid"
        log.info("config file %s changed: applying", self.config_file)
        self.apply_config(new)
        return "applied"

    # ---------------------------------------------------------------- file-system polling
    def _sync_all(self) -> None:
        with self._lock:
            entries = list(self.models.items())
            gone = [n for n in self.monitor if n not in self.models]
        for name, entry in entries:
            self._sync_model(name, entry)
        for name in gone:
            self._unload(name, list(self.monitor.get(name, {})))

    def _sync_model(self, name: str, entry: ModelEntry) -> None:
        present = version_dirs(entry.path)
        aspired = cfg.aspired_versions(entry.config.model_version_policy, present)
        states = self.monitor.setdefault(name, {})
        for version in aspired:  # load first ...
            st = states.get(version)
            if st is None or (
                st.state == State.END
                and st.servable is None
                and st.error_code != grpc.StatusCode.OK
                and st.attempts < MAX_LOAD_ATTEMPTS
            ):
                self._load(name, version, entry.path / str(version))
            elif st.state == State.END and st.error_code == grpc.StatusCode.OK:
                self._load(name, version, entry.path / str(version))  # came back after removal
        unload = [v for v, st in states.items() if v not in aspired and st.state == State.AVAILABLE]
        self._unload(name, unload)  # ... then unload

    def _load(self, name: str, version: int, path: Path) -> None:
        with self._lock:
            st = self.monitor[name].get(version) or VersionState()
            st.attempts = st.attempts + 1 if st.error_code != grpc.StatusCode.OK else 1
            st.state, st.error_code, st.error_message = State.LOADING, grpc.StatusCode.OK, ""
            self.monitor[name][version] = st
        log.info("Loading servable: {name: %s version: %d} from %s", name, version, path)
        t0 = time.perf_counter()
        try:
            meta_graph = read_meta_graph(path)
            module = tf.saved_model.load(str(path), tags=["serve"])
            servable = Servable(name, version, path, module, meta_graph)
        except Exception as exc:  # a broken or half-copied version must not kill the server
            code = (
                grpc.StatusCode.NOT_FOUND
                if isinstance(exc, FileNotFoundError | OSError)
                else grpc.StatusCode.UNKNOWN
            )
            log.error("Loading servable: {name: %s version: %d} failed: %s", name, version, exc)
            with self._lock:
                st.state, st.error_code, st.error_message = State.END, code, str(exc)
            return
        with self._lock:
            st.state, st.servable = State.AVAILABLE, servable
        log.info(
            "Successfully loaded servable version {name: %s version: %d} in %.1fs",
            name,
            version,
            time.perf_counter() - t0,
        )

    def _unload(self, name: str, versions: list[int]) -> None:
        for version in versions:
            with self._lock:
                st = self.monitor[name].get(version)
                if st is None or st.state != State.AVAILABLE:
                    continue
                # UNLOADING lasts only while the servable is dropped: no request can see it.
                st.state, st.servable = State.END, None
            log.info("Unloaded servable version {name: %s version: %d}", name, version)

    def poll_once(self) -> None:
        with self._reload_lock:  # never load the same version from two threads
            self._sync_all()
        self.metrics.fs_polls.inc()

    def start_polling(self) -> None:
        def loop() -> None:
            next_fs = next_cfg = time.monotonic()
            while not self._stop.is_set():
                now = time.monotonic()
                try:
                    if self.config_poll_seconds > 0 and now >= next_cfg:
                        next_cfg = now + self.config_poll_seconds
                        self.reload_from_file()
                    if self.fs_poll_seconds > 0 and now >= next_fs:
                        next_fs = now + self.fs_poll_seconds
                        self.poll_once()
                except Exception:  # polling must survive anything a student does to the files
                    log.exception("poll failed")
                self._stop.wait(0.1)

        self._thread = threading.Thread(target=loop, name="lab4-poller", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(5)

    # ---------------------------------------------------------------- lookups
    def _resolve_label(self, name: str, label: str) -> int:
        with self._lock:
            entry = self.models.get(name)
            if entry is None or label not in entry.labels:
                raise invalid(f"Unrecognized servable version label: {label}")
            return entry.labels[label]

    def servable(self, name: str, version: int | None = None, label: str = "") -> Servable:
        """TF Serving's GetServableHandle: latest, a specific version or a label."""
        if label:
            version = self._resolve_label(name, label)
        with self._lock:
            states = self.monitor.get(name, {}) if name in self.models else {}
            if version is None:
                ready = [v for v, st in states.items() if st.state == State.AVAILABLE]
                if ready:
                    return states[max(ready)].servable
                raise ServingError(
                    grpc.StatusCode.NOT_FOUND, f"Servable not found for request: Latest({name})"
                )
            st = states.get(version)
            if st is not None and st.state == State.AVAILABLE:
                return st.servable
        raise ServingError(
            grpc.StatusCode.NOT_FOUND,
            f"Servable not found for request: Specific({name}, {version})",
        )

    def status(self, name: str, version: int | None = None, label: str = ""):
        """GetModelStatusResponse for one version or every version the monitor has seen."""
        if not name:
            raise invalid("Missing model name in request.")
        if label:
            version = self._resolve_label(name, label)
        response = get_model_status_pb2.GetModelStatusResponse()
        with self._lock:
            states = dict(self.monitor.get(name, {}))
        if version is not None:
            if version not in states:
                raise ServingError(
                    grpc.StatusCode.NOT_FOUND, f"Could not find version {version} of model {name}"
                )
            states = {version: states[version]}
        elif not states:
            raise ServingError(
                grpc.StatusCode.NOT_FOUND, f"Could not find any versions of model {name}"
            )
        for v in sorted(states):
            st = states[v]
            item = response.model_version_status.add()
            item.version = v
            item.state = st.state
            item.status.SetInParent()
            item.status.error_code = st.error_code.value[0]
            item.status.error_message = st.error_message
        return response

    def summary(self) -> dict[str, Any]:
        with self._lock:
            return {
                name: {
                    "base_path": str(entry.path),
                    "policy": cfg.policy_text(entry.config.model_version_policy),
                    "labels": dict(entry.labels),
                    "versions": {
                        v: State.Name(st.state) for v, st in sorted(self.monitor[name].items())
                    },
                }
                for name, entry in self.models.items()
            }
