"""``make lab-4``: the real TF Serving wherever it can run, the stand-in only when it cannot.

Order: ``tensorflow_model_server`` on PATH (TF Serving's APT repository installs it on
Debian/Ubuntu x86_64), then Docker or podman with the ``tensorflow/serving`` image, then the
course's stand-in. All three get the same model directory, ``models.config`` and
``monitoring.config``; only the way the ``/models/...`` base paths are reached differs (a
read-only volume, a mirrored copy of the config with host paths, or ``--models_root``). The
command lines are built here, once, for ``make lab-4``, the benchmark and the tests.
"""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from course_models import procs
from course_models.tasks import TaskNotImplemented  # noqa: F401 - raised by the task stubs
from lab4_tf_serving.settings import Settings

BINARY = "tensorflow_model_server"


def _ok(cmd: list[str], timeout: float = 20) -> bool:
    try:
        return subprocess.run(cmd, capture_output=True, timeout=timeout).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def _container_reason(engine: str, image: str) -> str | None:
    """None when ``engine`` can run ``image`` here, else why not."""
    if not shutil.which(engine):
        return f"{engine}: not installed"
    if not _ok([engine, "info"]):
        return f"{engine}: installed but its engine does not answer (`{engine} info`)"
    if not _ok([engine, "image", "inspect", image]):
        return (
            f"{engine}: works but has no {image} image (`{engine} pull {image}`; "
            "there is no arm64 build, see tensorflow/serving#1816)"
        )
    return None


def pick_engine(s: Settings) -> tuple[str, str]:
    """(engine, why): 'binary' / 'docker' / 'podman' / 'local' (the stand-in)."""
    if s.engine != "auto":
        return s.engine, f"LAB4_ENGINE={s.engine}"
    found = shutil.which(BINARY)
    if found:
        return "binary", f"{BINARY} found at {found}"
    reasons = [f"{BINARY}: not on PATH (README: 'Installing the real server')"]
    for engine in ("docker", "podman"):
        reason = _container_reason(engine, s.image)
        if reason is None:
            return engine, f"no {BINARY} on PATH; {engine} with {s.image}"
        reasons.append(reason)
    return "local", "; ".join(reasons)


def serving_flags(config_file: str | Path, monitoring_file: str | Path, poll: int) -> list[str]:
    """The flags every engine gets, spelled as ``tensorflow_model_server`` spells them."""
    return [
        f"--model_config_file={config_file}",
        f"--model_config_file_poll_wait_seconds={poll}",
        "--file_system_poll_wait_seconds=1",
        f"--monitoring_config_file={monitoring_file}",
        "--allow_version_labels_for_unavailable_models=true",
    ]


def standin_cmd(s: Settings, rest: int, grpc: int) -> list[str]:
    """The stand-in's command line (``make lab-4``, ``make bench-4`` and the tests use it)."""
    return [
        sys.executable, "-m", "lab4_tf_serving", "serve",
        f"--port={grpc}", f"--rest_api_port={rest}", f"--host={s.host}",
        f"--models_root={s.models_dir}",
        f"--rest_api_max_body_bytes={s.rest_max_body_bytes}",
        f"--grpc_max_receive_message_bytes={s.grpc_max_receive_bytes}",
        *serving_flags(s.config_file, s.monitoring_file, s.poll_seconds),
    ]  # fmt: skip


def binary_cmd(s: Settings, rest: int, grpc: int, host_config: Path) -> list[str]:
    """The real server from PATH; it reads ``host_config``, a copy with host base paths."""
    return [
        BINARY, f"--port={grpc}", f"--rest_api_port={rest}",
        *serving_flags(host_config, s.monitoring_file.resolve(), s.poll_seconds),
    ]  # fmt: skip


def container_cmd(engine: str, s: Settings, rest: int, grpc: int) -> list[str]:
    """``docker run`` (or podman) of the real server: models read-only, config as a directory."""
    if s.config_file.parent != s.monitoring_file.parent:
        raise SystemExit("LAB4_CONFIG_FILE and LAB4_MONITORING_FILE must share a directory")
    # BEGIN TASK 4.5: the container command line: read-only models, config directory, polling
    # The config *directory* is mounted: editors that save by replacing the file would
    # otherwise leave the container polling the old inode.
    return [
        engine, "run", "--rm", "--name", f"lab4-tfserving-{rest}",
        "-p", f"{s.host}:{rest}:8501", "-p", f"{s.host}:{grpc}:8500",
        "-v", f"{s.models_dir.resolve()}:/models:ro",
        "-v", f"{s.config_file.parent.resolve()}:/config:ro",
        s.image,
        *serving_flags(
            f"/config/{s.config_file.name}", f"/config/{s.monitoring_file.name}", s.poll_seconds
        ),
    ]  # fmt: skip
    # STUB
    # raise TaskNotImplemented("4.5", "the docker/podman command line in launcher.container_cmd")
    # END TASK 4.5


BASE_PATH = re.compile(r"""(base_path\s*:\s*["'])/models(?=[/"'])""")


class ConfigMirror:
    """For the real binary: ``models.config`` with ``/models`` replaced by the host directory,
    re-written whenever the original changes, so editing the lab's file still reaches the
    server's config polling."""

    def __init__(self, source: Path, models_dir: Path, target: Path):
        self.source, self.models_dir, self.target = source, models_dir.resolve(), target
        self._seen: str | None = None

    def sync(self) -> None:
        text = self.source.read_text()
        if text == self._seen:
            return
        self._seen = text
        self.target.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.target.with_name(self.target.name + ".tmp")
        tmp.write_text(BASE_PATH.sub(lambda m: m.group(1) + str(self.models_dir), text))
        tmp.replace(self.target)  # atomic: the server's poller never reads half a file


def exit_on_sigterm() -> None:
    """SIGTERM (``timeout``, ``kill``) unwinds like Ctrl-C, so ``finally`` stops the server."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))


def command_for(engine: str, s: Settings, rest: int, grpc: int) -> tuple[list[str], ConfigMirror]:
    mirror = ConfigMirror(
        s.config_file, s.models_dir, s.models_dir.parent / "run" / "models.config"
    )
    if engine == "binary":
        return binary_cmd(s, rest, grpc, mirror.target), mirror
    if engine in ("docker", "podman"):
        return container_cmd(engine, s, rest, grpc), mirror
    return standin_cmd(s, rest, grpc), mirror


def _banner(engine: str, s: Settings, base: str, grpc: int) -> str:
    kind = "stand-in" if engine == "local" else f"real TF Serving, {engine}"
    return f"""
Lab 4 is up ({kind}):
  REST    {base}/v1/models/digits          (status)
          {base}/v1/models/digits/metadata
          {base}/v1/models/digits/labels/canary:predict
  gRPC    {s.host}:{grpc}
  metrics {base}/monitoring/prometheus/metrics
Try:
  {sys.executable} -m lab4_tf_serving predict --rest {base} --grpc {s.host}:{grpc}
  make load-4 PORT={base.rsplit(":", 1)[1]}
Edit {s.config_file} to add a model or move a label: it is re-read every {s.poll_seconds} s.
Ctrl-C stops."""


def main(print_only: bool = False) -> int:
    exit_on_sigterm()
    s = Settings()
    engine, why = pick_engine(s)
    label = "the local STAND-IN server (not TF Serving)" if engine == "local" else "TF Serving"
    print(f">> lab 4 uses {label} [{engine}]: {why}", flush=True)
    rest = s.rest_port or procs.free_port()
    grpc = s.grpc_port or procs.free_port()
    cmd, mirror = command_for(engine, s, rest, grpc)
    print("   " + " ".join(cmd), flush=True)
    if print_only:
        return 0
    if not (s.models_dir / "digits").is_dir():
        from lab4_tf_serving.export import export_all

        print(f">> no SavedModels under {s.models_dir}: exporting first")
        export_all(s.models_dir)
    if engine == "binary":
        mirror.sync()
    proc = procs.start(cmd)
    base = f"http://{s.host}:{rest}"
    try:
        procs.wait_http(f"{base}/v1/models/digits", timeout=180, proc=proc)
        print(_banner(engine, s, base, grpc), flush=True)
        while proc.poll() is None:
            if engine == "binary":
                mirror.sync()
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        procs.stop(proc)
    return 0
