"""API logic: the FastAPI app factory, its lifespan and its routes.

Model logic lives in ``model.py`` / ``batching.py``, deployment in ``__main__.py``; this file
only translates HTTP to calls and back. No ``from __future__ import annotations`` here:
FastAPI must see the real (runtime-built) body types in the endpoint signatures.
"""

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, HTTPException, Request, Response
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.exceptions import HTTPException as StarletteHTTPException

from lab1_fastapi import schemas
from lab1_fastapi.batching import MicroBatcher
from lab1_fastapi.model import ModelNotReady, ModelRegistry
from lab1_fastapi.observability import Metrics, ServingMiddleware, error_body
from lab1_fastapi.settings import PREDICT_MODES, PredictMode, Settings

log = logging.getLogger("lab1_fastapi")

# RFC 9745 (Deprecation) and RFC 8594 (Sunset): how v1 consumers learn they should move on.
V1_DEPRECATION = "@1793491200"  # 2026-11-01T00:00:00Z
V1_SUNSET = "Wed, 30 Jun 2027 00:00:00 GMT"
V1_HEADERS = {
    "Deprecation": V1_DEPRECATION,
    "Sunset": V1_SUNSET,
    "Link": '</v2/churn/predict>; rel="successor-version"',
}
_UNION_TAGS = {schemas.INSTANCE_TAG, schemas.BATCH_TAG}


class Runtime:
    """What the lifespan builds and tears down: models, batchers, metrics."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.metrics = Metrics()
        self.registry = ModelRegistry(
            settings.model_name, settings.model_versions, settings.artifacts_dir
        )
        self.batchers: dict[int, MicroBatcher] = {}

    async def start(self) -> None:
        # Loading is blocking file and CPU work; a thread keeps the loop responsive meanwhile.
        await asyncio.to_thread(self.registry.load)
        name = self.registry.name
        for version in self.registry.versions:
            served = self.registry.models.get(version)
            self.metrics.model_ready.labels(name, str(version)).set(1 if served else 0)
            if served:
                self.metrics.load_seconds.labels(name, str(version)).set(served.load_seconds)
            else:
                log.error(
                    "model %s v%s not loaded: %s", name, version, self.registry.errors[version]
                )
        for version in self.registry.models:
            batcher = MicroBatcher(
                lambda records, v=version: self.registry.predict(v, records),
                max_items=self.settings.batch_max_items,
                max_wait_ms=self.settings.batch_max_wait_ms,
            )
            await batcher.start()
            self.batchers[version] = batcher

    async def stop(self) -> None:
        for batcher in self.batchers.values():
            await batcher.stop()
        self.batchers.clear()
        self.registry.close()

    def predict_sync(self, version: int, records: list[dict], response: Response) -> list[float]:
        t0 = time.perf_counter()
        probs = self.registry.predict(version, records).tolist()
        _server_timing(response, "model", t0)
        return probs

    async def predict_batched(
        self, version: int, records: list[dict], response: Response
    ) -> list[float]:
        self.registry.get(version)  # 503 if not loaded, before queueing
        t0 = time.perf_counter()
        probs = await self.batchers[version].submit(records)
        _server_timing(response, "batch", t0)  # queueing + the shared model call
        return probs

    def respond(self, version: int, request: Request, probs: list[float]) -> Any:
        name = self.registry.name
        self.metrics.predictions.labels(name, str(version)).inc(len(probs))
        return schemas.build_response(name, version, request.state.request_id, probs)


def _server_timing(response: Response, name: str, since: float) -> None:
    """W3C Server-Timing: browser dev tools and the benchmark read where the time went."""
    response.headers.append(
        "server-timing", f"{name};dur={(time.perf_counter() - since) * 1000:.3f}"
    )


def _predict_endpoint(
    runtime: Runtime, version: int, mode: PredictMode, headers: dict[str, str] | None = None
) -> Callable:
    """One endpoint per (version, mode); the three modes differ only in how they call the model."""
    body_type = schemas.request_body(version, runtime.settings.max_batch_size)
    response_type = schemas.RESPONSE_MODELS[version]
    extra_headers = headers or {}

    if mode == "blocking":

        async def predict(body: body_type, request: Request, response: Response) -> response_type:
            # The classic mistake: CPU work inside `async def` stalls every other request.
            response.headers.update(extra_headers)
            probs = runtime.predict_sync(version, schemas.records_of(body), response)
            return runtime.respond(version, request, probs)

    elif mode == "threadpool":

        def predict(body: body_type, request: Request, response: Response) -> response_type:
            # A plain `def`: FastAPI runs it in its worker threadpool, the loop stays free.
            response.headers.update(extra_headers)
            probs = runtime.predict_sync(version, schemas.records_of(body), response)
            return runtime.respond(version, request, probs)

    else:

        async def predict(body: body_type, request: Request, response: Response) -> response_type:
            # Awaits a shared, vectorised model call made in a thread by the micro-batcher.
            response.headers.update(extra_headers)
            probs = await runtime.predict_batched(version, schemas.records_of(body), response)
            return runtime.respond(version, request, probs)

    return predict


def _clean_loc(loc: tuple) -> list[str | int]:
    parts = list(loc[1:]) if loc and loc[0] == "body" else list(loc)
    return [p for p in parts if p not in _UNION_TAGS]


async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    """422 naming each field; never echoes the input (it may hold NaN, which JSON cannot)."""
    errors = []
    for err in exc.errors():
        loc = _clean_loc(tuple(err.get("loc", ())))
        field = ".".join(str(p) for p in loc) or "body"
        errors.append(
            {"loc": loc or ["body"], "field": field, "msg": err["msg"], "type": err["type"]}
        )
    return JSONResponse(status_code=422, content={"detail": errors})


async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
    """FastAPI answers an undecodable body with a bare 400 string; give it our error shape."""
    if exc.status_code == 400:
        body = error_body("body", f"request body could not be parsed: {exc.detail}", "body_decode")
        return JSONResponse(status_code=400, content=body)
    return await http_exception_handler(request, exc)


async def _not_ready(request: Request, exc: ModelNotReady) -> JSONResponse:
    return JSONResponse(status_code=503, content={"detail": exc.detail})


PREDICT_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": schemas.ErrorList, "description": "Body is not decodable JSON"},
    413: {"model": schemas.ErrorList, "description": "Request body too large"},
    503: {"model": schemas.NotReadyError, "description": "Model version not loaded"},
}
V1_RESPONSES: dict[int | str, dict[str, Any]] = {
    **PREDICT_RESPONSES,
    200: {
        "description": "Successful Response (this route is deprecated: move to /v2)",
        "headers": {
            name: {
                "description": f"{name} header (RFC 9745/8594/8288)",
                "schema": {"type": "string"},
            }
            for name in V1_HEADERS
        },
    },
}


def create_app(settings: Settings | None = None) -> FastAPI:
    """App factory: every call builds an independent app (tests, workers, benchmarks)."""
    settings = settings or Settings()
    runtime = Runtime(settings)
    name = settings.model_name

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await runtime.start()
        try:
            yield
        finally:
            await runtime.stop()

    app = FastAPI(
        title="Lab 1 — churn model service",
        version="1.0.0",
        description="Churn probability from customer features. v1: scikit-learn, v2: XGBoost.",
        lifespan=lifespan,
    )
    app.state.runtime = runtime
    app.add_middleware(
        ServingMiddleware, metrics=runtime.metrics, max_body_bytes=settings.max_body_bytes
    )
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(ModelNotReady, _not_ready)

    @app.get("/health", tags=["ops"], summary="Process is alive")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get(
        "/ready",
        tags=["ops"],
        summary="Every configured model version is loaded",
        responses={503: {"description": "Not ready; body lists each load error"}},
    )
    async def ready() -> JSONResponse:
        reg = runtime.registry
        body = {
            "status": "ready" if reg.ready else "not_ready",
            "model": reg.name,
            "loaded": sorted(reg.models),
            "errors": [{"version": v, **err} for v, err in sorted(reg.errors.items())],
        }
        return JSONResponse(body, status_code=200 if reg.ready else 503)

    @app.get(
        "/metrics",
        tags=["ops"],
        summary="Prometheus metrics of this worker",
        response_class=PlainTextResponse,
    )
    async def metrics() -> Response:
        return Response(generate_latest(runtime.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    def add_predict(path: str, version: int, mode: PredictMode, **kwargs: Any) -> None:
        headers = kwargs.pop("headers", None)
        app.add_api_route(
            path,
            _predict_endpoint(runtime, version, mode, headers),
            methods=["POST"],
            response_model=schemas.RESPONSE_MODELS[version],
            responses=kwargs.pop("responses", PREDICT_RESPONSES),
            **kwargs,
        )

    mode = settings.predict_mode
    add_predict(
        f"/v1/{name}/predict",
        1,
        mode,
        headers=V1_HEADERS,
        responses=V1_RESPONSES,
        tags=["v1"],
        deprecated=True,
        summary="Churn probability, model version 1 (scikit-learn)",
        operation_id="predict_v1",
    )
    add_predict(
        f"/v2/{name}/predict",
        2,
        mode,
        tags=["v2"],
        summary="Churn probability, model version 2 (XGBoost; optional satisfaction_score)",
        operation_id="predict_v2",
    )
    add_predict(
        "/predict",
        settings.default_version,
        mode,
        tags=["default"],
        summary=f"Churn probability from the default model (version {settings.default_version})",
        operation_id="predict_default",
    )
    for variant in PREDICT_MODES:
        add_predict(
            f"/lab/{variant}/predict",
            settings.default_version,
            variant,
            tags=["lab"],
            summary=f"Default model, forced to the {variant!r} execution variant",
            operation_id=f"predict_{variant}",
        )

    def model_info() -> schemas.ModelInfo:
        versions = []
        for version, served in sorted(runtime.registry.models.items()):
            meta = served.metadata
            versions.append(
                schemas.ModelVersionInfo(
                    version=version,
                    framework=meta.get("framework", ""),
                    description=meta.get("description", ""),
                    trained_at=meta.get("created_at", ""),
                    sha256=meta.get("sha256", ""),
                    features=meta.get("feature_schema", []),
                    metrics=meta.get("metrics", {}),
                    load_seconds=round(served.load_seconds, 4),
                )
            )
        return schemas.ModelInfo(
            name=name, default_version=settings.default_version, versions=versions
        )

    @app.get("/v1/models", tags=["v1"], summary="Models served and their loaded versions")
    async def list_models() -> schemas.ModelList:
        return schemas.ModelList(models=[model_info()])

    @app.get(
        "/v1/models/{model}",
        tags=["v1"],
        summary="One model's versions: features, metrics, trained-at",
        responses={404: {"description": "Unknown model"}},
    )
    async def get_model(model: str) -> schemas.ModelInfo:
        if model != name:
            raise HTTPException(
                404, detail=f"unknown model {model!r}; this service serves {name!r}"
            )
        return model_info()

    return app
