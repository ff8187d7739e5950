"""Typed client for TorchServe's management, inference and metrics APIs (and a small CLI).

    python -m lab3_torchserve.client --management http://127.0.0.1:PORT describe digits_cnn
    python -m lab3_torchserve.client --inference http://127.0.0.1:PORT predict --index 3

Management calls raise TorchServeError on a non-2xx answer; predictions return the status too,
because a 400 for bad input is an expected answer, not a client failure.
"""

from __future__ import annotations

import argparse
import json
import re
from dataclasses import dataclass
from typing import Any

import httpx

from lab3_torchserve.package import MODEL_NAME, mar_name, model_version


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
        batch_size: int = 1,
        max_batch_delay_ms: int = 100,
        initial_workers: int = 1,
        response_timeout_s: int | None = None,
    ) -> dict[str, Any]:
        """Load ``mar`` (a file name in model_store) and start its workers before returning."""
        params: dict[str, Any] = {
            "url": mar,
            "batch_size": batch_size,
            "max_batch_delay": max_batch_delay_ms,
            "initial_workers": initial_workers,
            "synchronous": "true",
        }
        if model_name:
            params["model_name"] = model_name
        if response_timeout_s is not None:
            params["response_timeout"] = response_timeout_s
        return _json(self.http.post("/models", params=params))

    def describe(self, model: str, version: str | None = None) -> list[dict[str, Any]]:
        """One entry per version (``version='all'`` for every version)."""
        path = f"/models/{model}" + (f"/{version}" if version else "")
        return _json(self.http.get(path))

    def scale(
        self, model: str, min_worker: int, max_worker: int | None = None, version: str | None = None
    ) -> dict[str, Any]:
        """Set the worker count; synchronous, so it returns once workers are up (or gone)."""
        path = f"/models/{model}" + (f"/{version}" if version else "")
        params = {
            "min_worker": min_worker,
            "max_worker": max_worker if max_worker is not None else min_worker,
            "synchronous": "true",
        }
        return _json(self.http.put(path, params=params))

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


_SAMPLE = re.compile(r"^(?P<name>[A-Za-z_:][\w:]*)(?:\{(?P<labels>[^}]*)\})?\s+(?P<value>\S+)")


def fetch_metrics(url: str, timeout: float = 10.0) -> str:
    response = httpx.get(f"{url}/metrics", timeout=timeout)
    response.raise_for_status()
    return response.text


def parse_metrics(text: str) -> list[tuple[str, dict[str, str], float]]:
    """Prometheus text format → (name, labels, value) samples (enough for tests and bench)."""
    samples = []
    for line in text.splitlines():
        match = _SAMPLE.match(line)
        if not match or line.startswith("#"):
            continue
        labels = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', match["labels"] or ""))
        samples.append((match["name"], labels, float(match["value"])))
    return samples


def metric_total(text: str, name: str, **labels: str) -> float:
    """Sum of all samples of ``name`` whose labels include ``labels``."""
    return sum(
        value
        for sample, sample_labels, value in parse_metrics(text)
        if sample == name and all(sample_labels.get(k) == v for k, v in labels.items())
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="TorchServe management/predict client")
    parser.add_argument("--management", default="http://127.0.0.1:8081")
    parser.add_argument("--inference", default="http://127.0.0.1:8080")
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
    args = parser.parse_args(argv)

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
    print(json.dumps(result, indent=2))


def _manage(mc: ManagementClient, args: argparse.Namespace) -> Any:
    if args.cmd == "register":
        result = mc.register(
            mar_name(args.version), MODEL_NAME, args.batch_size, args.max_batch_delay, args.workers
        )
    elif args.cmd == "list":
        result = mc.list_models()
    elif args.cmd == "describe":
        result = mc.describe(MODEL_NAME, args.version)
    elif args.cmd == "scale":
        version = model_version(args.version) if args.version else None
        result = mc.scale(MODEL_NAME, args.workers, version=version)
    elif args.cmd == "set-default":
        result = mc.set_default(MODEL_NAME, model_version(args.version))
    else:
        version = model_version(args.version) if args.version else None
        result = mc.unregister(MODEL_NAME, version)
    return result


if __name__ == "__main__":
    main()
