"""TF Serving's configuration files: the text-proto ``ModelServerConfig`` and ``MonitoringConfig``.

The model config is parsed with the official ``model_server_config_pb2`` so a file that the real
server rejects is rejected here too. ``models_root`` maps the container paths written in the file
(``/models/...``) onto a host directory, which is all the stand-in server needs to read the same
file the Docker image reads.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from google.protobuf import text_format
from tensorflow_serving.config import model_server_config_pb2

CONTAINER_ROOT = "/models"


class ConfigError(ValueError):
    pass


def parse_model_config(
    text: str, source: str = "<string>"
) -> model_server_config_pb2.ModelServerConfig:
    config = model_server_config_pb2.ModelServerConfig()
    try:
        text_format.Parse(text, config)
    except text_format.ParseError as exc:
        raise ConfigError(f"Invalid protobuf file: '{source}': {exc}") from exc
    if config.WhichOneof("config") == "custom_model_config":
        raise ConfigError("ModelServer does not yet support custom model config.")
    seen: set[str] = set()
    for model in config.model_config_list.config:
        if not model.name:
            raise ConfigError(f"{source}: a model config has no name")
        if model.name in seen:
            raise ConfigError(f"{source}: Illegal to list model {model.name} multiple times")
        seen.add(model.name)
        if not model.base_path:
            raise ConfigError(f"{source}: model {model.name} has no base_path")
        if model.model_platform not in ("", "tensorflow"):
            raise ConfigError(
                f"{source}: model {model.name}: model_platform {model.model_platform!r} is not "
                "supported (only 'tensorflow')"
            )
    return config


def read_model_config(path: str | Path) -> model_server_config_pb2.ModelServerConfig:
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read model config file {path}: {exc}") from exc
    return parse_model_config(text, str(path))


def single_model_config(name: str, base_path: str) -> model_server_config_pb2.ModelServerConfig:
    """What ``--model_name``/``--model_base_path`` build when no config file is given."""
    config = model_server_config_pb2.ModelServerConfig()
    model = config.model_config_list.config.add()
    model.name, model.base_path, model.model_platform = name, base_path, "tensorflow"
    return config


def resolve_base_path(base_path: str, models_root: str | Path | None) -> Path:
    """``/models/digits`` -> ``<models_root>/digits`` when a root is given; else unchanged."""
    if models_root is None:
        return Path(base_path)
    posix = PurePosixPath(base_path)
    root = PurePosixPath(CONTAINER_ROOT)
    if posix == root or root in posix.parents:
        return Path(models_root).joinpath(*posix.relative_to(root).parts)
    return Path(base_path)


def aspired_versions(policy, available: list[int]) -> list[int]:
    """Which of the version directories present on disk the policy wants served.

    No policy means ``latest { num_versions: 1 }``, as in TF Serving.
    """
    available = sorted(available)
    kind = policy.WhichOneof("policy_choice") if policy is not None else None
    if kind == "all":
        return available
    if kind == "specific":
        wanted = set(policy.specific.versions)
        return [v for v in available if v in wanted]
    n = policy.latest.num_versions if kind == "latest" and policy.latest.num_versions > 0 else 1
    return available[-n:] if available else []


def policy_text(policy) -> str:
    kind = policy.WhichOneof("policy_choice")
    if kind is None:
        return "latest(1) (default)"
    if kind == "all":
        return "all"
    if kind == "specific":
        return "specific(" + ", ".join(str(v) for v in policy.specific.versions) + ")"
    return f"latest({policy.latest.num_versions or 1})"


@dataclass(frozen=True)
class PrometheusConfig:
    enable: bool = False
    path: str = "/monitoring/prometheus/metrics"


def parse_monitoring_config(text: str) -> PrometheusConfig:
    """``prometheus_config { enable: true, path: "..." }`` (tensorflow-serving-api ships no
    ``monitoring_config_pb2``, so the two fields are read directly)."""
    block = re.search(r"prometheus_config\s*:?\s*\{(.*?)\}", text, re.S)
    if not block:
        return PrometheusConfig()
    body = block.group(1)
    enable = re.search(r"enable\s*:\s*(true|false|1|0)", body, re.I)
    path = re.search(r"path\s*:\s*[\"']([^\"']+)[\"']", body)
    return PrometheusConfig(
        enable=bool(enable) and enable.group(1).lower() in ("true", "1"),
        path=path.group(1) if path else PrometheusConfig.path,
    )
