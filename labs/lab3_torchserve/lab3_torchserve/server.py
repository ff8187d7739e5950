"""Start and stop one TorchServe instance on free ports, isolated from any other on the machine.

TorchServe keeps its pid file in the temp dir (``$TMPDIR/.model_server.pid``), writes logs to
``./logs`` and config snapshots unless told otherwise, and ``torchserve --start`` exits 0 even
when a port is taken. So each instance gets its own work dir (TMPDIR/TEMP, logs, rendered
config), ``--ncs``, and is only "up" once ``/ping`` answers. The gRPC APIs also start, on
fixed ports 7070/7071 unless told otherwise, so they get free ports too.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from course_models import procs
from lab3_torchserve.java import java_env

LAB_DIR = Path(__file__).resolve().parent.parent
CONFIG_TEMPLATE = LAB_DIR / "config.properties"
METRICS_CONFIG = LAB_DIR / "metrics.yaml"


def render_config(template: Path, overrides: dict[str, str]) -> str:
    """The template with ``key=value`` lines replaced (comments and order kept)."""
    lines, seen = [], set()
    for line in template.read_text().splitlines():
        key = line.split("=", 1)[0].strip()
        if not line.lstrip().startswith("#") and "=" in line and key in overrides:
            line = f"{key}={overrides[key]}"
            seen.add(key)
        lines.append(line)
    lines += [f"{k}={v}" for k, v in overrides.items() if k not in seen]
    return "\n".join(lines) + "\n"


def torchserve_command(config: Path, model_store: Path, *extra: str) -> list[str]:
    """The one TorchServe command line of the lab (make lab-3, bench-3 and the tests use it).

    The venv's ``torchserve``: its interpreter becomes the workers' Python (torch, ts, ...).
    """
    return [
        procs.venv_bin("torchserve"),
        "--start", "--foreground", "--ncs",
        "--ts-config", str(config), "--model-store", str(model_store),
        *extra,
    ]  # fmt: skip


@dataclass
class TorchServe:
    model_store: Path
    workdir: Path | None = None
    host: str = "127.0.0.1"
    inference_port: int = 0
    management_port: int = 0
    metrics_port: int = 0
    grpc_ports: tuple[int, int] = (0, 0)
    extra_config: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self.model_store = Path(self.model_store).resolve()
        if self.workdir is None:
            self.workdir = Path(tempfile.mkdtemp(prefix="lab3-torchserve-"))
        self.workdir = Path(self.workdir).resolve()
        self.inference_port = self.inference_port or procs.free_port(self.host)
        self.management_port = self.management_port or procs.free_port(self.host)
        self.metrics_port = self.metrics_port or procs.free_port(self.host)
        self.grpc_ports = tuple(p or procs.free_port(self.host) for p in self.grpc_ports)

    @property
    def inference_url(self) -> str:
        return f"http://{self.host}:{self.inference_port}"

    @property
    def management_url(self) -> str:
        return f"http://{self.host}:{self.management_port}"

    @property
    def metrics_url(self) -> str:
        return f"http://{self.host}:{self.metrics_port}"

    @property
    def log_dir(self) -> Path:
        return self.workdir / "logs"

    @property
    def env(self) -> dict[str, str]:
        tmp = str(self.workdir / "tmp")
        logs = str(self.log_dir)
        java, _ = java_env()
        return {"TMPDIR": tmp, "TEMP": tmp, "LOG_LOCATION": logs, "METRICS_LOCATION": logs, **java}

    def write_config(self) -> Path:
        overrides = {
            "inference_address": self.inference_url,
            "management_address": self.management_url,
            "metrics_address": self.metrics_url,
            "grpc_inference_address": self.host,
            "grpc_inference_port": str(self.grpc_ports[0]),
            "grpc_management_address": self.host,
            "grpc_management_port": str(self.grpc_ports[1]),
            "model_store": str(self.model_store),
            "metrics_config": str(METRICS_CONFIG),
            **self.extra_config,
        }
        path = self.workdir / "config.properties"
        path.write_text(render_config(CONFIG_TEMPLATE, overrides))
        return path

    def start(self, timeout: float = 300.0) -> TorchServe:
        for sub in ("tmp", "logs"):
            (self.workdir / sub).mkdir(parents=True, exist_ok=True)
        for port in (
            self.inference_port,
            self.management_port,
            self.metrics_port,
            *self.grpc_ports,
        ):
            if not procs.port_is_free(port, self.host):
                raise RuntimeError(f"port {port} on {self.host} is taken; pick another")
        _, hint = java_env()
        if hint:
            print(hint, flush=True)
        cmd = torchserve_command(self.write_config(), self.model_store)
        self.proc = procs.start(cmd, env=self.env, cwd=self.workdir, log=self.stdout_log)
        try:
            procs.wait_http(f"{self.inference_url}/ping", timeout=timeout, proc=self.proc)
            procs.wait_http(f"{self.management_url}/models", timeout=timeout, proc=self.proc)
        except Exception as exc:
            self.stop()
            raise RuntimeError(f"TorchServe did not come up: {exc}\n{self.tail()}") from exc
        return self

    @property
    def stdout_log(self) -> Path:
        return self.workdir / "torchserve.out"

    def tail(self, lines: int = 40) -> str:
        return procs.tail(self.stdout_log, lines)

    def stop(self) -> None:
        """``torchserve --stop`` (graceful: workers finish), then kill whatever is left."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            with contextlib.suppress(subprocess.TimeoutExpired, OSError):
                subprocess.run(
                    [procs.venv_bin("torchserve"), "--stop", "--foreground"],
                    env={**os.environ, **self.env},
                    cwd=self.workdir,
                    timeout=60,
                    capture_output=True,
                )
        procs.stop(self.proc)
        self.proc = None

    def owns(self, pid: int) -> bool:
        """True if ``pid`` (e.g. a worker pid from describe) is in this instance's process group."""
        if self.proc is None:
            return False
        try:
            return os.getpgid(pid) == self.proc.pid
        except ProcessLookupError:
            return False

    def __enter__(self) -> TorchServe:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
