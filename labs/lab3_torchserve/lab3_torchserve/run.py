"""``make lab-3``: build the archives if needed, start TorchServe, register digits_cnn, wait.

Settings come from ``LAB3_*`` environment variables (ports 0 = pick free ones). Ctrl-C stops
TorchServe with ``torchserve --stop`` and removes nothing but its temp dir.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import threading
from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict

from lab3_torchserve.client import ManagementClient, digit_png
from lab3_torchserve.package import DEFAULT_STORE, MODEL_NAME, build_mar, mar_name, model_version
from lab3_torchserve.server import TorchServe


class Lab3Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LAB3_")

    host: str = "127.0.0.1"
    inference_port: int = 0
    management_port: int = 0
    metrics_port: int = 0
    model_store: Path = DEFAULT_STORE
    versions: list[int] = [1, 2]  # registered in this order; the first is the default
    batch_size: int = 8
    max_batch_delay_ms: int = 20
    workers: int = 1


def ensure_archives(settings: Lab3Settings) -> list[Path]:
    paths = []
    for version in settings.versions:
        path = Path(settings.model_store) / mar_name(version)
        if not path.exists():
            print(f">> building {path}")
            build_mar(version, settings.model_store)
        paths.append(path)
    return paths


SAMPLE_INDEX = 3


def write_samples(directory: Path) -> tuple[Path, Path, str]:
    """A held-out digit as JSON and as a 32x32 dark-on-light PNG, for the curl examples."""
    import json

    from course_models.datasets import load_digits_split

    _, x_test, _, y_test = load_digits_split()
    pixels = x_test[SAMPLE_INDEX]
    json_path = directory / "digit.json"
    json_path.write_text(json.dumps([round(float(v), 4) for v in pixels.ravel()]))
    png_path = directory / "digit.png"
    png_path.write_bytes(digit_png(pixels))
    return json_path, png_path, str(y_test[SAMPLE_INDEX])


def serve(settings: Lab3Settings, stop: threading.Event) -> None:
    ensure_archives(settings)
    server = TorchServe(
        settings.model_store,
        host=settings.host,
        inference_port=settings.inference_port,
        management_port=settings.management_port,
        metrics_port=settings.metrics_port,
    )
    print(f">> starting TorchServe (work dir {server.workdir})", flush=True)
    try:
        server.start()
        mgmt = ManagementClient(server.management_url)
        for version in settings.versions:
            print(
                f">> registering {mar_name(version)} batch_size={settings.batch_size} "
                f"max_batch_delay={settings.max_batch_delay_ms}ms workers={settings.workers}",
                flush=True,
            )
            mgmt.register(
                mar_name(version),
                MODEL_NAME,
                batch_size=settings.batch_size,
                max_batch_delay_ms=settings.max_batch_delay_ms,
                initial_workers=settings.workers,
            )
        default = model_version(settings.versions[0])
        mgmt.set_default(MODEL_NAME, default)
        sample_json, sample_png, label = write_samples(server.workdir)
        inf, man, met = server.inference_url, server.management_url, server.metrics_url
        print(
            f"""
TorchServe is up (default version {default}). Ctrl-C stops it.
  inference   {inf}/ping   POST {inf}/predictions/{MODEL_NAME}[/<version>]
  management  {man}/models/{MODEL_NAME}/all
  metrics     {met}/metrics
  logs        {server.log_dir}
Try a held-out digit {label!r} as JSON pixels, then as a PNG:
  curl -s {inf}/predictions/{MODEL_NAME} -H 'Content-Type: application/json' -d @{sample_json}
  curl -s {inf}/predictions/{MODEL_NAME}/2.0 -H 'Content-Type: image/png' \\
       --data-binary @{sample_png}
  .venv/bin/python -m lab3_torchserve.client --inference {inf} predict --index 3
  .venv/bin/python -m lab3_torchserve.client --management {man} scale 2
  make load-3 PORT={server.inference_port}
""",
            flush=True,
        )
        while not stop.wait(1.0):
            if server.proc is None or server.proc.poll() is not None:
                print("!! TorchServe exited; last log lines:\n" + server.tail())
                break
    finally:
        say(">> stopping TorchServe (torchserve --stop)")
        server.stop()
        shutil.rmtree(server.workdir / "tmp", ignore_errors=True)
        say(f">> stopped; logs kept in {server.log_dir}")


def say(text: str) -> None:
    """print() that cannot prevent the shutdown (a closed terminal or pipe raises on write)."""
    with contextlib.suppress(OSError):
        print(text, flush=True)


def main() -> None:
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    serve(Lab3Settings(), stop)


if __name__ == "__main__":
    main()
