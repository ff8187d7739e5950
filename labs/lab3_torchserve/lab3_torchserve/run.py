"""``make lab-3``: build the archives if needed, start TorchServe, register both models, wait.

Settings come from ``LAB3_*`` environment variables (ports 0 = pick free ones). Ctrl-C stops
TorchServe with ``torchserve --stop`` and removes nothing but its temp dir.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import signal
import threading
from pathlib import Path

from course_models import procs
from course_models.tasks import TaskNotImplemented
from lab3_torchserve import ready
from lab3_torchserve.client import ManagementClient, digit_png
from lab3_torchserve.package import (
    MODEL_NAME,
    TEXT_MODEL,
    build_mar,
    build_text_mar,
    mar_name,
    model_version,
)
from lab3_torchserve.server import TorchServe
from lab3_torchserve.settings import Lab3Settings

SAMPLE_TEXT = "hi, I was charged twice for my subscription this month"


def ensure_archives(settings: Lab3Settings) -> list[str]:
    """Build missing archives; returns the models that can be registered (a stub says why not)."""
    store = Path(settings.model_store)
    available = []
    if MODEL_NAME in settings.models:
        for version in settings.versions:
            if not (store / mar_name(version)).exists():
                print(f">> building {store / mar_name(version)}", flush=True)
                build_mar(version, store)
        available.append(MODEL_NAME)
    if TEXT_MODEL in settings.models:
        if not (store / mar_name(1, TEXT_MODEL)).exists():
            print(f">> building {store / mar_name(1, TEXT_MODEL)}", flush=True)
            try:
                build_text_mar(1, store)
            except TaskNotImplemented as exc:
                print(f"!! {exc}: serving without {TEXT_MODEL}", flush=True)
                return available
        available.append(TEXT_MODEL)
    return available


def register_all(mgmt: ManagementClient, settings: Lab3Settings, models: list[str]) -> None:
    """digits_cnn with the LAB3_* batching; support_intent with its archive's own config."""
    if MODEL_NAME in models:
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
        mgmt.set_default(MODEL_NAME, model_version(settings.versions[0]))
    if TEXT_MODEL in models:
        print(f">> registering {mar_name(1, TEXT_MODEL)} (batching from its model-config.yaml)")
        mgmt.register(
            mar_name(1, TEXT_MODEL),
            TEXT_MODEL,
            batch_size=settings.text_batch_size,
            max_batch_delay_ms=None,
            initial_workers=settings.text_workers,
        )


SAMPLE_INDEX = 3


def write_samples(directory: Path) -> tuple[Path, Path, str]:
    """A held-out digit as JSON and as a 32x32 dark-on-light PNG, for the curl examples."""
    from course_models.datasets import load_digits_split

    _, x_test, _, y_test = load_digits_split()
    pixels = x_test[SAMPLE_INDEX]
    json_path = directory / "digit.json"
    json_path.write_text(json.dumps([round(float(v), 4) for v in pixels.ravel()]))
    png_path = directory / "digit.png"
    png_path.write_bytes(digit_png(pixels))
    return json_path, png_path, str(y_test[SAMPLE_INDEX])


def serve(settings: Lab3Settings, stop: threading.Event) -> None:
    models = ensure_archives(settings)
    server = TorchServe(
        settings.model_store,
        host=settings.host,
        inference_port=settings.inference_port,
        management_port=settings.management_port,
        metrics_port=settings.metrics_port,
    )
    print(f">> starting TorchServe (work dir {server.workdir})", flush=True)
    try:
        server.start(timeout=settings.start_timeout_s)
        mgmt = ManagementClient(server.management_url)
        try:
            register_all(mgmt, settings, models)
        except TaskNotImplemented as exc:
            print(f"!! {exc}: no model registered", flush=True)
            models = []
        if models:
            wait_ready(server, settings.start_timeout_s)
        print_examples(server, models)
        while not stop.wait(1.0):
            if server.proc is None or server.proc.poll() is not None:
                print("!! TorchServe exited; last log lines:\n" + server.tail())
                break
    finally:
        say(">> stopping TorchServe (torchserve --stop)")
        server.stop()
        shutil.rmtree(server.workdir / "tmp", ignore_errors=True)
        say(f">> stopped; logs kept in {server.log_dir}")


def wait_ready(server: TorchServe, timeout: float) -> None:
    """Until every registered model has a READY worker; at once if TorchServe died."""
    procs.wait_until(
        lambda: bool(ready.check(server.management_url)),
        timeout,
        what="a READY worker for every registered model",
        proc=server.proc,
        log=server.stdout_log,
    )


def print_examples(server: TorchServe, models: list[str]) -> None:
    sample_json, sample_png, label = write_samples(server.workdir)
    text_json = server.workdir / "message.json"
    text_json.write_text(json.dumps({"text": SAMPLE_TEXT}))
    inf, man, met = server.inference_url, server.management_url, server.metrics_url
    print(
        f"""
TorchServe is up with {", ".join(models) or "no model"}. Ctrl-C stops it.
  inference   {inf}/ping   POST {inf}/predictions/<model>[/<version>]
  management  {man}/models   {man}/models/{MODEL_NAME}/all
  metrics     {met}/metrics
  readiness   .venv/bin/python -m lab3_torchserve.ready --management {man}
  logs        {server.log_dir}
Try a held-out digit {label!r} as JSON pixels, then as a PNG:
  curl -s {inf}/predictions/{MODEL_NAME} -H 'Content-Type: application/json' -d @{sample_json}
  curl -s {inf}/predictions/{MODEL_NAME}/2.0 -H 'Content-Type: image/png' \\
       --data-binary @{sample_png}
  .venv/bin/python -m lab3_torchserve.client --inference {inf} predict --index 3
Classify a support message as JSON, then as plain text:
  curl -s {inf}/predictions/{TEXT_MODEL} -H 'Content-Type: application/json' -d @{text_json}
  curl -s {inf}/predictions/{TEXT_MODEL} -H 'Content-Type: text/plain' \\
       --data 'the app keeps crashing since the update'
  .venv/bin/python -m lab3_torchserve.client --inference {inf} classify 'please cancel my plan'
Manage:
  .venv/bin/python -m lab3_torchserve.client --management {man} scale 2
  .venv/bin/python -m lab3_torchserve.client --management {man} --model {TEXT_MODEL} describe
  make load-3 PORT={server.inference_port}
""",
        flush=True,
    )


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
