"""``make lab-4``: the real TF Serving in Docker/podman when that can work here, else the stand-in.

Both get the same model directory, the same ``models.config`` and ``monitoring.config``; only the
way the base paths are reached differs (a read-only volume at /models vs ``--models_root``).
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys

from course_models import procs
from lab4_tf_serving.settings import Settings


def _ok(cmd: list[str], timeout: float = 20) -> bool:
    try:
        return subprocess.run(cmd, capture_output=True, timeout=timeout).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def pick_engine(s: Settings) -> tuple[str, str]:
    """(engine, why): 'docker' / 'podman' / 'local'."""
    if s.engine in ("local", "docker", "podman"):
        return s.engine, f"LAB4_ENGINE={s.engine}"
    reasons = []
    for engine in ("docker", "podman"):
        if not shutil.which(engine):
            reasons.append(f"{engine}: not installed")
        elif not _ok([engine, "info"]):
            reasons.append(f"{engine}: installed but its engine does not answer (`{engine} info`)")
        elif not _ok([engine, "image", "inspect", s.image]):
            reasons.append(
                f"{engine}: works but has no {s.image} image (`{engine} pull {s.image}`; "
                "there is no arm64 build, see tensorflow/serving#1816)"
            )
        else:
            return engine, f"{engine} with {s.image}"
    return "local", "; ".join(reasons)


def container_cmd(engine: str, s: Settings, rest: int, grpc: int) -> list[str]:
    # The config *directory* is mounted: editors that save by replacing the file would
    # otherwise leave the container polling the old inode.
    if s.config_file.parent != s.monitoring_file.parent:
        raise SystemExit("LAB4_CONFIG_FILE and LAB4_MONITORING_FILE must share a directory")
    return [
        engine, "run", "--rm", "--name", f"lab4-tfserving-{rest}",
        "-p", f"{s.host}:{rest}:8501", "-p", f"{s.host}:{grpc}:8500",
        "-v", f"{s.models_dir.resolve()}:/models:ro",
        "-v", f"{s.config_file.parent.resolve()}:/config:ro",
        s.image,
        f"--model_config_file=/config/{s.config_file.name}",
        f"--model_config_file_poll_wait_seconds={s.poll_seconds}",
        f"--monitoring_config_file=/config/{s.monitoring_file.name}",
        "--allow_version_labels_for_unavailable_models=true",
    ]  # fmt: skip


def local_cmd(s: Settings, rest: int, grpc: int) -> list[str]:
    return [
        sys.executable, "-m", "lab4_tf_serving", "serve",
        f"--port={grpc}", f"--rest_api_port={rest}", f"--host={s.host}",
        f"--model_config_file={s.config_file}",
        f"--models_root={s.models_dir}",
        f"--model_config_file_poll_wait_seconds={s.poll_seconds}",
        f"--monitoring_config_file={s.monitoring_file}",
        "--allow_version_labels_for_unavailable_models=true",
    ]  # fmt: skip


def exit_on_sigterm() -> None:
    """SIGTERM (``timeout``, ``kill``) unwinds like Ctrl-C, so ``finally`` stops the server."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))


def main(argv: list[str] | None = None) -> int:
    exit_on_sigterm()
    s = Settings()
    if not (s.models_dir / "digits").is_dir():
        from lab4_tf_serving.export import export_all

        print(f">> no SavedModels under {s.models_dir}: exporting first")
        export_all(s.models_dir)
    engine, why = pick_engine(s)
    rest = s.rest_port or procs.free_port()
    grpc = s.grpc_port or procs.free_port()
    if engine == "local":
        print(f">> using the local STAND-IN server (not TF Serving): {why}")
        cmd = local_cmd(s, rest, grpc)
    else:
        print(f">> using the real TF Serving: {why}")
        cmd = container_cmd(engine, s, rest, grpc)
    print("   " + " ".join(cmd), flush=True)
    proc = procs.start(cmd)
    base = f"http://{s.host}:{rest}"
    try:
        procs.wait_http(f"{base}/v1/models/digits", timeout=180, proc=proc)
        print(
            f"""
Lab 4 is up ({"stand-in" if engine == "local" else engine}):
  REST    {base}/v1/models/digits          (status)
          {base}/v1/models/digits/metadata
          {base}/v1/models/digits/labels/canary:predict
  gRPC    {s.host}:{grpc}
  metrics {base}/monitoring/prometheus/metrics
Try:
  {sys.executable} -m lab4_tf_serving predict --rest {base} --grpc {s.host}:{grpc}
  make load-4 PORT={rest}
Edit {s.config_file} to add a model or move a label: it is re-read every {s.poll_seconds} s.
Ctrl-C stops.""",
            flush=True,
        )
        proc.wait()
    except KeyboardInterrupt:
        pass
    finally:
        procs.stop(proc)
    return 0
