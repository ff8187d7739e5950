"""Typed client for TorchServe's management, inference and metrics APIs (and a small CLI).

    python -m lab3_torchserve.client --management http://127.0.0.1:PORT describe digits_cnn
    python -m lab3_torchserve.client --inference http://127.0.0.1:PORT predict --index 3

Management calls raise TorchServeError on a non-2xx answer; predictions return the status too,
because a 400 for bad input is an expected answer, not a client failure.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from course_models.tasks import CLI_EXIT_CODE, TaskNotImplemented
from lab3_torchserve.package import MODEL_NAME, TEXT_MODEL, mar_name, model_version


class TorchServeError(RuntimeError):
    def __init__(self, response: httpx.Response):
        self.status_code = response.status_code
        try:
            self.body: Any = response.json()
        except ValueError:
            self.body = response.text
        super().__init__(
            f"{response.request.method} {response.request.url} -> {self.status_code}: {self.body}"
        )


@dataclass
class Prediction:
    status_code: int
    body: dict[str, Any]

    @property
    def ok(self) -> bool:
        return self.status_code == 200

    @property
    def label(self) -> str | None:
        return self.body.get("label")


def _json(response: httpx.Response) -> Any:
    if response.is_error:
        raise TorchServeError(response)
    return response.json()


class ManagementClient:
    """The management API (model lifecycle); bound to 127.0.0.1 in config.properties."""

    def __init__(self, url: str, timeout: float = 120.0):
        self.http = httpx.Client(base_url=url, timeout=timeout)

    def list_models(self) -> dict[str, Any]:
        return _json(self.http.get("/models"))

    def register(
        self,
        mar: str,
        model_name: str | None = None,
        batch_size: int | None = 1,
        max_batch_delay_ms: int | None = 100,
        initial_workers: int | None = 1,
        response_timeout_s: int | None = None,
    ) -> dict[str, Any]:
        """Load ``mar`` (a file name in model_store) and start its workers before returning.

        A parameter left ``None`` is not sent: the archive's model-config.yaml decides it.
        """
        # BEGIN TASK 3.4: registration through the management API
        given = {
            "model_name": model_name,
            "batch_size": batch_size,
            "max_batch_delay": max_batch_delay_ms,
            "initial_workers": initial_workers,
            "response_timeout": response_timeout_s,
        }
        params = {"url": mar, "synchronous": "true"}
        params |= {k: v for k, v in given.items() if v is not None}
        return _json(self.http.post("/models", params=params))
        # STUB
        # raise TaskNotImplemented("3.4", "ManagementClient.register (POST /models)")
        # END TASK 3.4

    def describe(self, model: str, version: str | None = None) -> list[dict[str, Any]]:
        """One entry per version (``version='all'`` for every version)."""
        path = f"/models/{model}" + (f"/{version}" if version else "")
        return _json(self.http.get(path))

    def scale(
        self, model: str, min_worker: int, max_worker: int | None = None, version: str | None = None
    ) -> dict[str, Any]:
        """Set the worker count; synchronous, so it returns once workers are up (or gone)."""
        # BEGIN TASK 3.4: scale-out through the management API
        path = f"/models/{model}" + (f"/{version}" if version else "")
        params = {
            "min_worker": min_worker,
            "max_worker": max_worker if max_worker is not None else min_worker,
            "synchronous": "true",
        }
        return _json(self.http.put(path, params=params))
        # STUB
        # raise TaskNotImplemented("3.4", "ManagementClient.scale (PUT /models/<name>)")
        # END TASK 3.4

    def set_default(self, model: str, version: str) -> dict[str, Any]:
        return _json(self.http.put(f"/models/{model}/{version}/set-default"))

    def unregister(self, model: str, version: str | None = None) -> dict[str, Any]:
        path = f"/models/{model}" + (f"/{version}" if version else "")
        return _json(self.http.delete(path))

    def close(self) -> None:
        self.http.close()


class InferenceClient:
    """The inference API: /ping and /predictions; thread-safe (one pooled httpx client)."""

    def __init__(self, url: str, timeout: float = 30.0, max_connections: int = 64):
        limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=64)
        self.http = httpx.Client(base_url=url, timeout=timeout, limits=limits)

    def ping(self) -> dict[str, Any]:
        return _json(self.http.get("/ping"))

    def predict(
        self, pixels: Any, model: str = MODEL_NAME, version: str | None = None
    ) -> Prediction:
        """Pixels as JSON (64 values in [0, 1], an 8x8 list, or {"pixels"/"image": ...})."""
        return self._post(model, version, json=_as_list(pixels))

    def predict_png(
        self, png: bytes, model: str = MODEL_NAME, version: str | None = None
    ) -> Prediction:
        return self._post(model, version, content=png, headers={"Content-Type": "image/png"})

    def classify(
        self, text: Any, model: str = TEXT_MODEL, version: str | None = None, plain: bool = False
    ) -> Prediction:
        """A support message as ``{"text": ...}`` JSON, or as a text/plain body."""
        if plain:
            body = text.encode() if isinstance(text, str) else text
            return self._post(model, version, content=body, headers={"Content-Type": "text/plain"})
        return self._post(model, version, json={"text": text})

    def predict_raw(
        self, body: bytes, content_type: str, model: str = MODEL_NAME, version: str | None = None
    ) -> Prediction:
        return self._post(model, version, content=body, headers={"Content-Type": content_type})

    def _post(self, model: str, version: str | None, **kwargs: Any) -> Prediction:
        path = f"/predictions/{model}" + (f"/{version}" if version else "")
        response = self.http.post(path, **kwargs)
        try:
            body = response.json()
        except ValueError:
            body = {"error": "non_json_answer", "detail": response.text}
        if not isinstance(body, dict):
            body = {"result": body}
        return Prediction(response.status_code, body)

    def close(self) -> None:
        self.http.close()


def digit_png(pixels: Any, size: int = 32) -> bytes:
    """An 8x8 digit (values in [0, 1]) as a ``size``-pixel PNG, dark ink on white like a scan."""
    import io

    import numpy as np
    from PIL import Image

    ink = np.asarray(pixels, dtype=np.float32).reshape(8, 8)
    img = Image.fromarray(((1.0 - ink) * 255).round().astype(np.uint8), mode="L")
    buf = io.BytesIO()
    img.resize((size, size), Image.Resampling.NEAREST).save(buf, format="PNG")
    return buf.getvalue()


def _as_list(pixels: Any) -> Any:
    return pixels.tolist() if hasattr(pixels, "tolist") else pixels


def fetch_metrics(url: str, timeout: float = 10.0) -> str:
    response = httpx.get(f"{url}/metrics", timeout=timeout)
    response.raise_for_status()
    return response.text


def metric_total(text: str, name: str, **labels: str) -> float:
    """Sum of all samples called ``name`` (e.g. ``X_sum``) whose labels include ``labels``.

    The parser names every counter sample ``<name>_total`` (TorchServe's ``Requests4XX`` is
    read as ``Requests4XX_total``), so both spellings match.
    """
    names = {name, f"{name}_total"}
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name in names and all(sample.labels.get(k) == v for k, v in labels.items())
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="TorchServe management/predict client")
    parser.add_argument("--management", default="http://127.0.0.1:8081")
    parser.add_argument("--inference", default="http://127.0.0.1:8080")
    parser.add_argument("--model", default=MODEL_NAME, help="for describe/scale/unregister")
    sub = parser.add_subparsers(dest="cmd", required=True)
    reg = sub.add_parser("register", help="register digits_cnn_v<N>.mar")
    reg.add_argument("--version", type=int, default=1)
    reg.add_argument("--batch-size", type=int, default=8)
    reg.add_argument("--max-batch-delay", type=int, default=20, help="ms")
    reg.add_argument("--workers", type=int, default=1)
    sub.add_parser("list")
    desc = sub.add_parser("describe")
    desc.add_argument("--version", default="all")
    scale = sub.add_parser("scale")
    scale.add_argument("workers", type=int)
    scale.add_argument("--version", type=int)
    default = sub.add_parser("set-default")
    default.add_argument("version", type=int)
    unreg = sub.add_parser("unregister")
    unreg.add_argument("--version", type=int)
    pred = sub.add_parser("predict", help="send held-out digit number INDEX")
    pred.add_argument("--index", type=int, default=0)
    pred.add_argument("--version", type=int)
    cls = sub.add_parser("classify", help="send a support message to support_intent")
    cls.add_argument("text")
    args = parser.parse_args(argv)

    if args.cmd == "classify":
        answer = InferenceClient(args.inference).classify(args.text)
        print(json.dumps({"status": answer.status_code, **answer.body}, indent=2))
        return

    if args.cmd == "predict":
        from course_models.datasets import load_digits_split

        _, x_test, _, y_test = load_digits_split()
        version = model_version(args.version) if args.version else None
        answer = InferenceClient(args.inference).predict(x_test[args.index], version=version)
        print(json.dumps({"expected": str(y_test[args.index]), "status": answer.status_code,
                          **answer.body}, indent=2))  # fmt: skip
        return
    try:
        result = _manage(ManagementClient(args.management), args)
    except TorchServeError as exc:
        raise SystemExit(f"TorchServe answered {exc.status_code}: {json.dumps(exc.body)}") from None
    except TaskNotImplemented as exc:
        print(exc, file=sys.stderr)
        raise SystemExit(CLI_EXIT_CODE) from None
    print(json.dumps(result, indent=2))


def _manage(mc: ManagementClient, args: argparse.Namespace) -> Any:
    if args.cmd == "register":
        result = mc.register(
            mar_name(args.version), MODEL_NAME, args.batch_size, args.max_batch_delay, args.workers
        )
    elif args.cmd == "list":
        result = mc.list_models()
    elif args.cmd == "describe":
        result = mc.describe(args.model, args.version)
    elif args.cmd == "scale":
        version = model_version(args.version) if args.version else None
        result = mc.scale(args.model, args.workers, version=version)
    elif args.cmd == "set-default":
        result = mc.set_default(MODEL_NAME, model_version(args.version))
    else:
        version = model_version(args.version) if args.version else None
        result = mc.unregister(args.model, version)
    return result


if __name__ == "__main__":
    main()
