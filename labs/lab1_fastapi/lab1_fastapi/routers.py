"""The HTTP surface in three ``APIRouter``s: ops (health, readiness, metrics), model metadata,
and predictions. Endpoints get the runtime through ``RuntimeDep`` (from ``app.state``); the
predict router is built from the settings because its body types carry the batch limit.
"""

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, HTTPException, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from course_models import contract
from lab1_fastapi import schemas
from lab1_fastapi.http_errors import StrictJSONRoute
from lab1_fastapi.runtime import RequestIdDep, Runtime, RuntimeDep
from lab1_fastapi.settings import PREDICT_MODES, PredictMode, Settings

# RFC 9745 (Deprecation) and RFC 8594 (Sunset): how v1 consumers learn they should move on.
V1_DEPRECATION = "@1793491200"  # 2026-11-01T00:00:00Z
V1_SUNSET = "Wed, 30 Jun 2027 00:00:00 GMT"
V1_HEADERS = {
    "Deprecation": V1_DEPRECATION,
    "Sunset": V1_SUNSET,
    "Link": '</v2/churn/predict>; rel="successor-version"',
}
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

ops = APIRouter(tags=["ops"])


@ops.get("/health", summary="Process is alive")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@ops.get(
    "/ready",
    summary="Every configured model version is loaded",
    responses={503: {"description": "Not ready; body lists each version's reason"}},
)
async def ready(runtime: RuntimeDep) -> JSONResponse:
    is_ready, body = runtime.registry.readiness()
    return JSONResponse(body, status_code=200 if is_ready else 503)


@ops.get("/metrics", summary="Prometheus metrics of this worker", response_class=PlainTextResponse)
async def metrics(runtime: RuntimeDep) -> Response:
    return Response(generate_latest(runtime.metrics.registry), media_type=CONTENT_TYPE_LATEST)


models = APIRouter(prefix="/v1/models", tags=["v1"])


def _model_info(runtime: Runtime) -> schemas.ModelInfo:
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
        name=runtime.registry.name,
        default_version=runtime.settings.default_version,
        versions=versions,
    )


@models.get("", summary="Models served and their loaded versions")
async def list_models(runtime: RuntimeDep) -> schemas.ModelList:
    return schemas.ModelList(models=[_model_info(runtime)])


@models.get(
    "/{model}",
    summary="One model's versions: features, metrics, trained-at",
    responses={404: {"description": "Unknown model"}},
)
async def get_model(model: str, runtime: RuntimeDep) -> schemas.ModelInfo:
    name = runtime.registry.name
    if model != name:
        raise HTTPException(404, detail=f"unknown model {model!r}; this service serves {name!r}")
    return _model_info(runtime)


def _predict_endpoint(
    version: int, mode: PredictMode, body_type: Any, headers: dict[str, str]
) -> Callable:
    """One endpoint per (version, mode); the three modes differ only in how they call the model."""
    if mode == "blocking":

        async def predict(body: body_type, runtime: RuntimeDep, request_id: RequestIdDep) -> Any:
            # CPU work inside `async def` stalls every other request while it runs: fine for a
            # tenth of a millisecond, the classic mistake for anything longer.
            scored = runtime.predict_sync(version, contract.records_of(body))
            return runtime.respond(version, request_id, scored, headers)

    elif mode == "threadpool":

        def predict(body: body_type, runtime: RuntimeDep, request_id: RequestIdDep) -> Any:
            # A plain `def`: FastAPI runs it in its worker threadpool, the loop stays free.
            scored = runtime.predict_sync(version, contract.records_of(body))
            return runtime.respond(version, request_id, scored, headers)

    else:

        async def predict(body: body_type, runtime: RuntimeDep, request_id: RequestIdDep) -> Any:
            # Awaits a shared, vectorised model call made in a thread by the micro-batcher.
            scored = await runtime.predict_batched(version, contract.records_of(body))
            return runtime.respond(version, request_id, scored, headers)

    return predict


def _noop_endpoint(version: int, body_type: Any) -> Callable:
    async def noop(body: body_type, runtime: RuntimeDep, request_id: RequestIdDep) -> Any:
        # Same parsing, validation and response building as a prediction, minus the model.
        probs = [0.5] * len(contract.records_of(body))
        return runtime.respond(version, request_id, (probs, ""))

    return noop


def predict_router(settings: Settings) -> APIRouter:
    """/v1, /v2, /predict and the /lab variants, with body types bounded by the settings."""
    router = APIRouter(route_class=StrictJSONRoute)
    name, default = settings.model_name, settings.default_version

    def add(path: str, version: int, mode: PredictMode, **kwargs: Any) -> None:
        body = contract.request_body(version, settings.max_batch_size)
        router.add_api_route(
            path,
            _predict_endpoint(version, mode, body, kwargs.pop("headers", {})),
            methods=["POST"],
            response_model=schemas.RESPONSE_MODELS[version],
            responses=kwargs.pop("responses", PREDICT_RESPONSES),
            **kwargs,
        )

    mode = settings.predict_mode
    add(
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
    add(
        f"/v2/{name}/predict",
        2,
        mode,
        tags=["v2"],
        summary="Churn probability, model version 2 (XGBoost; optional satisfaction_score)",
        operation_id="predict_v2",
    )
    add(
        "/predict",
        default,
        mode,
        tags=["default"],
        summary=f"Churn probability from the default model (version {default})",
        operation_id="predict_default",
    )
    for variant in PREDICT_MODES:
        add(
            f"/lab/{variant}/predict",
            default,
            variant,
            tags=["lab"],
            summary=f"Default model, forced to the {variant!r} execution variant",
            operation_id=f"predict_{variant}",
        )
    if settings.noop_endpoint:
        router.add_api_route(
            "/lab/noop/predict",
            _noop_endpoint(default, contract.request_body(default, settings.max_batch_size)),
            methods=["POST"],
            response_model=schemas.RESPONSE_MODELS[default],
            tags=["lab"],
            summary="Benchmark ceiling: parse, validate and answer without calling the model",
            operation_id="predict_noop",
        )
    return router
