"""``python -m lab4_tf_serving serve``: the TF-Serving-compatible local stand-in server.

Flags are spelled as ``tensorflow_model_server``'s so the same command line works for both;
``--models_root`` is the one addition: it maps the ``/models/...`` base paths of a config written
for the container onto a host directory.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from pathlib import Path

STANDIN = (
    "STAND-IN: this is NOT TensorFlow Serving. It is the course's TF-Serving-compatible local "
    "server (Python + TensorFlow), for machines where the tensorflow/serving image cannot run. "
    "It implements the documented REST and gRPC predict/status/metadata APIs, the model config "
    "file with version policies and labels, and polling; classify/regress only as far as the "
    "real server's refusal of predict signatures; not batching, warm-up or TF Serving's "
    "performance."
)


def _bool(text: str) -> bool:
    if text.lower() in ("1", "true", "yes", "on"):
        return True
    if text.lower() in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true/false, got {text!r}")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m lab4_tf_serving serve", description=STANDIN)
    p.add_argument("--port", type=int, default=8500, help="gRPC port (default 8500)")
    p.add_argument("--rest_api_port", type=int, default=8501, help="REST port (0 = no REST)")
    p.add_argument("--host", default="127.0.0.1", help="bind address (0.0.0.0 in a container)")
    p.add_argument("--model_config_file", help="text-proto ModelServerConfig")
    p.add_argument("--model_config_file_poll_wait_seconds", type=float, default=0)
    p.add_argument("--file_system_poll_wait_seconds", type=float, default=1)
    p.add_argument("--model_name", default="default")
    p.add_argument("--model_base_path", help="serve one model (instead of a config file)")
    p.add_argument("--monitoring_config_file", help="text-proto MonitoringConfig (Prometheus)")
    p.add_argument(
        "--allow_version_labels_for_unavailable_models",
        type=_bool,
        nargs="?",
        const=True,
        default=False,
    )
    p.add_argument("--enable_signature_method_name_check", type=_bool, nargs="?", const=True)
    p.add_argument(
        "--models_root",
        help="stand-in only: read base paths under /models from this directory instead",
    )
    p.add_argument(
        "--rest_api_max_body_bytes",
        type=int,
        default=16 * 1024 * 1024,
        help="stand-in only: larger REST bodies get 413 (the real server has no limit)",
    )
    p.add_argument(
        "--grpc_max_receive_message_bytes",
        type=int,
        default=16 * 1024 * 1024,
        help="stand-in only: larger gRPC messages get RESOURCE_EXHAUSTED (real: 2 GiB)",
    )
    p.add_argument("--grpc_workers", type=int, default=8)
    p.add_argument("-v", "--verbose", action="store_true")
    return p


def _build_core(args, log):
    """The ServerCore for the flags, or (None, exit code) after saying why it cannot start."""
    from lab4_tf_serving import config as cfg
    from lab4_tf_serving.core import ServerCore, ServingError

    try:
        if args.model_config_file:
            config = cfg.read_model_config(args.model_config_file)
        elif args.model_base_path:
            config = cfg.single_model_config(args.model_name, args.model_base_path)
        else:
            print("give --model_config_file or --model_base_path", file=sys.stderr)
            return None, 2
        core = ServerCore(
            config,
            models_root=args.models_root,
            config_file=args.model_config_file,
            config_poll_seconds=args.model_config_file_poll_wait_seconds,
            fs_poll_seconds=args.file_system_poll_wait_seconds,
            allow_unavailable_labels=args.allow_version_labels_for_unavailable_models,
            method_name_check=bool(args.enable_signature_method_name_check),
        )
    except (cfg.ConfigError, ServingError, OSError) as exc:
        code = getattr(exc, "code", None)
        prefix = f"{code.name}: " if code is not None else ""
        print(f"Failed to start server. Error: {prefix}{exc}", file=sys.stderr, flush=True)
        return None, 1
    return core, 0


def _prometheus_path(args) -> str | None:
    from lab4_tf_serving import config as cfg

    if not args.monitoring_config_file:
        return None
    prometheus = cfg.parse_monitoring_config(Path(args.monitoring_config_file).read_text())
    return prometheus.path if prometheus.enable else None


def _start_rest(core, args, log):
    from lab4_tf_serving import rest

    if not args.rest_api_port:
        return None
    path = _prometheus_path(args)
    http = rest.make_server(
        core, args.host, args.rest_api_port, path, max_body=args.rest_api_max_body_bytes
    )
    threading.Thread(target=http.serve_forever, name="lab4-rest", daemon=True).start()
    log.info("Exporting HTTP/REST API at:%s:%d ...", args.host, args.rest_api_port)
    if path:
        log.info("Prometheus metrics at http://%s:%d%s", args.host, args.rest_api_port, path)
    return http


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname).1s %(name)s] %(message)s",
        stream=sys.stdout,
    )
    log = logging.getLogger("lab4.server")
    from lab4_tf_serving import grpc_api

    log.info(STANDIN)
    core, code = _build_core(args, log)
    if core is None:
        return code
    core.start_polling()
    grpc_server = grpc_api.make_server(
        core, args.host, args.port, args.grpc_workers, args.grpc_max_receive_message_bytes
    )
    grpc_server.start()
    log.info("Running gRPC ModelServer at %s:%d ...", args.host, args.port)
    http = _start_rest(core, args, log)
    for name, info in core.summary().items():
        log.info("model %s: %s", name, info)

    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    done.wait()
    log.info("shutting down")
    if http:
        http.shutdown()
    grpc_server.stop(2).wait(5)
    core.stop()
    return 0
