"""The real-time half of lab 5: one churn model behind HTTP, with version routing and tenants.

* ``POST /predict``: a sticky weighted A/B split between model versions (``LAB5_AB_WEIGHTS``);
  ``X-Model-Version`` pins a version; response headers say which version answered and why.
  With ``LAB5_SHADOW_VERSION`` the shadow model also scores the request after the answer is sent.
* ``POST /tenants/{tenant}/predict``: the tenant's own newest model, loaded on first use (LRU).
* ``/health`` (process up), ``/ready`` (models loaded), ``/metrics`` (Prometheus).

Bodies follow the course's one request contract (``course_models.contract``) inside lab 5's
envelope ``{"entity_id", "features"}``: strict JSON (400), contract breaches name the field (422),
oversized bodies 413, wrong content type 415, never a 5xx. Scoring goes through
``scoring.score_records``, the same seam the batch pipeline uses.
"""

from __future__ import annotations

import asyncio
import logging
import time
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from fastapi import APIRouter, BackgroundTasks, Depends, FastAPI, Header, Path, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from course_models import contract
from course_models.artifacts import ArtifactError, list_versions, load_artifact
from course_models.tasks import TaskNotImplemented
from lab5_batch_vs_realtime.routing import Router, UnknownVersion
from lab5_batch_vs_realtime.scoring import model_of, score_records
from lab5_batch_vs_realtime.settings import MODEL_NAME, Settings, get_settings
from lab5_batch_vs_realtime.tenants import TENANT_PATTERN, TenantRegistry, UnknownTenant

log = logging.getLogger("lab5.service")
VERSION_PATTERN = r"^[0-9]{1,6}$"
FEATURES_VERSION = 2  # the envelope takes every feature up to v2; v1 clients omit the new one

PredictRequest = create_model(
    "PredictRequest",
    __config__=ConfigDict(extra="forbid", strict=True),
    entity_id=(
        str,
        Field(
            ...,
            min_length=1,
            max_length=128,
            description="customer id: the A/B split is sticky per id",
            examples=["customer-42"],
        ),
    ),
    features=(contract.instance_model(FEATURES_VERSION), ...),
)


class Prediction(BaseModel):
    entity_id: str
    model_version: int
    route: Literal["ab", "header", "tenant"]
    churn_probability: float
    label: contract.Label
    tenant: str | None = None


class Metrics:
    """One registry per app, so several apps (tests) can live in one process."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.predictions = Counter(
            "lab5_predictions_total",
            "Predictions served",
            ["version", "route", "tenant"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "lab5_prediction_seconds",
            "Time to score one request (model only)",
            ["version", "tenant"],
            registry=self.registry,
            buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.5, 2.0),
        )
        self.tenant_events = Counter(
            "lab5_tenant_model_events_total",
            "Tenant model loads, reloads (newer version) and LRU evictions",
            ["event", "tenant"],
            registry=self.registry,
        )
        self.tenants_loaded = Gauge(
            "lab5_tenant_models_loaded", "Tenant models in memory", registry=self.registry
        )
        self.requests = Counter(
            "lab5_requests_total",
            "HTTP requests by route template and status (the SLA error-ratio rule reads it)",
            ["route", "status"],
            registry=self.registry,
        )
        self.shadow = Counter(
            "lab5_shadow_predictions_total",
            "Shadow predictions, by whether the shadow's label agreed with the served one",
            ["version", "agreed"],
            registry=self.registry,
        )


class RequestCounter:
    """ASGI middleware: one count per answered request, by route template (not raw path, so a
    tenant name cannot explode the label set) and status, 500 included when a handler raised."""

    def __init__(self, app: Any, counter: Counter) -> None:
        self.app = app
        self.counter = counter

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500

        async def send_status(message: dict) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            self.counter.labels(route, str(status)).inc()


@dataclass
class Runtime:
    """Everything a request needs, built once per app (the app's lifespan loads the models)."""

    settings: Settings
    metrics: Metrics
    tenants: TenantRegistry
    models: dict[int, Any] = field(default_factory=dict)
    router: Router | None = None
    errors: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def build(cls, s: Settings) -> Runtime:
        metrics = Metrics()
        tenants = TenantRegistry(
            s.tenants_dir,
            capacity=s.max_tenants,
            check_seconds=s.tenant_check_seconds,
            on_event=lambda event, tenant: metrics.tenant_events.labels(event, tenant).inc(),
        )
        return cls(s, metrics, tenants)

    def load_models(self) -> None:
        """Load every churn version on disk; problems make /ready say why instead of crashing."""
        models, errors = {}, []
        for v in list_versions(MODEL_NAME, self.settings.artifacts_dir):
            try:
                art = load_artifact(MODEL_NAME, v, self.settings.artifacts_dir)
                models[v] = model_of(art, self.settings.scorer)
            except ArtifactError as exc:
                errors.append(exc.to_dict())
        try:
            router = Router(self.settings.ab_weights, tuple(sorted(models)), self.settings.ab_salt)
        except ValueError as exc:
            errors.append({"reason": "routing", "message": str(exc), "path": ""})
            router = None
        self.models, self.router, self.errors = models, router, errors

    @property
    def ready(self) -> bool:
        return self.router is not None and not self.errors

    @property
    def not_ready_reason(self) -> str:
        """The first problem's code (``scorer_mismatch``, ``corrupt``...), else ``not_ready``."""
        return self.errors[0]["reason"] if self.errors else "not_ready"


class ApiError(Exception):
    """An error answer: status, a machine-readable reason, a message, extra JSON fields."""

    def __init__(self, status: int, reason: str, message: str, **extra: Any):
        super().__init__(message)
        self.status, self.reason, self.extra = status, reason, extra

    def response(self) -> JSONResponse:
        body = {"detail": str(self), "reason": self.reason, **self.extra}
        return JSONResponse(body, status_code=self.status)


def get_runtime(request: Request) -> Runtime:
    return request.app.state.runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


async def read_body(request: Request, rt: RuntimeDep) -> Any:
    """The body as strict JSON, refused early when too big (declared or streamed)."""
    limit = rt.settings.max_body_bytes
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != "application/json":
        raise ApiError(415, "unsupported_media_type", "send Content-Type: application/json")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise ApiError(413, "body_too_large", f"body over {limit} bytes", limit=limit)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiError(413, "body_too_large", f"body over {limit} bytes", limit=limit)
        chunks.append(chunk)
    return contract.loads_strict(b"".join(chunks))


async def predict_body(data: Annotated[Any, Depends(read_body)]) -> BaseModel:
    try:
        return PredictRequest.model_validate(data)
    except ValidationError as exc:
        raise contract.ContractError(contract.field_errors(exc)) from exc


BodyDep = Annotated[BaseModel, Depends(predict_body)]
# Documented as a plain optional string: a header is present or absent, never null.
VersionHeader = Annotated[
    str | None,
    Header(
        description="pin a model version (overrides the A/B split)",
        pattern=VERSION_PATTERN,
        examples=["2"],
    ),
]
TenantPath = Annotated[str, Path(pattern=TENANT_PATTERN, description="tenant id")]
BODY_DOC = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/PredictRequest"}}
        },
    }
}

ops = APIRouter(tags=["operations"])
predictions = APIRouter(tags=["predictions"])


@ops.get("/health")
def health() -> dict[str, str]:
    return {"status": "ok"}


@ops.get("/ready", responses={503: {"description": "models not loaded"}})
def ready(rt: RuntimeDep):
    if not rt.ready:
        raise ApiError(503, rt.not_ready_reason, "models are not loaded", errors=rt.errors)
    return {"status": "ready", "versions": sorted(rt.models)}


@ops.get("/models")
def models(rt: RuntimeDep) -> dict[str, Any]:
    s = rt.settings
    return {
        "model": MODEL_NAME,
        "versions": sorted(rt.models),
        "ab_weights": s.ab_weights,
        "shadow_version": s.shadow_version,
        "tenants_known": rt.tenants.known(),
        "tenants_loaded": rt.tenants.loaded(),
        "max_tenants": s.max_tenants,
    }


@ops.get("/metrics", include_in_schema=False)
def prometheus(rt: RuntimeDep) -> Response:
    return Response(generate_latest(rt.metrics.registry), media_type=CONTENT_TYPE_LATEST)


def _score(rt: Runtime, model: Any, features: dict, served: int, tenant: str) -> float:
    """P(churns) with the model's own feature schema; latency counted under the served version."""
    t0 = time.perf_counter()
    p = float(score_records(model, [features])[0])
    rt.metrics.latency.labels(str(served), tenant).observe(time.perf_counter() - t0)
    return p


def shadow_score(rt: Runtime, features: dict, served: int, served_p: float, eid: str) -> None:
    """After the answer is sent: score with the shadow version, count label agreement."""
    version = rt.settings.shadow_version
    model = rt.models.get(version)
    if model is None:
        return
    p = float(score_records(model, [features])[0])
    agreed = contract.label_for(p) == contract.label_for(served_p)
    rt.metrics.shadow.labels(str(version), str(agreed).lower()).inc()
    log.info(
        "shadow entity=%s served=v%d p=%.4f shadow=v%d p=%.4f", eid, served, served_p, version, p
    )


@predictions.post(
    "/predict",
    response_model=Prediction,
    openapi_extra=BODY_DOC,
    responses={
        404: {"description": "requested version not served"},
        503: {"description": "not ready"},
    },
)
def predict(
    rt: RuntimeDep,
    body: BodyDep,
    response: Response,
    background: BackgroundTasks,
    x_model_version: VersionHeader = None,
):
    # A plain `def`: FastAPI runs it in its thread pool, so CPU-bound scoring does not stall the
    # event loop that accepts other connections.
    if not rt.ready:
        raise ApiError(503, rt.not_ready_reason, "models are not loaded", errors=rt.errors)
    try:
        version, route = rt.router.choose(body.entity_id, x_model_version)
    except UnknownVersion as exc:
        raise ApiError(404, "unknown_version", str(exc), available=exc.available) from exc
    features = body.features.model_dump(mode="json")
    p = _score(rt, rt.models[version], features, version, "")
    rt.metrics.predictions.labels(str(version), route, "").inc()
    response.headers["X-Model-Version"] = str(version)
    response.headers["X-Model-Route"] = route
    shadow = rt.settings.shadow_version
    if shadow is not None and shadow in rt.models:
        response.headers["X-Shadow-Version"] = str(shadow)
        background.add_task(shadow_score, rt, features, version, p, body.entity_id)
    return Prediction(
        entity_id=body.entity_id,
        model_version=version,
        route=route,
        churn_probability=p,
        label=contract.label_for(p),
    )


@predictions.post(
    "/tenants/{tenant}/predict",
    response_model=Prediction,
    openapi_extra=BODY_DOC,
    responses={404: {"description": "unknown tenant"}, 503: {"description": "model unloadable"}},
)
async def tenant_predict(tenant: TenantPath, rt: RuntimeDep, body: BodyDep, response: Response):
    try:
        tm = await rt.tenants.get(tenant)
    except UnknownTenant as exc:
        raise ApiError(404, "unknown_tenant", str(exc)) from exc
    except ArtifactError as exc:
        raise ApiError(503, exc.reason, str(exc), tenant=tenant) from exc
    rt.metrics.tenants_loaded.set(len(rt.tenants.loaded()))
    features = body.features.model_dump(mode="json")
    p = await asyncio.to_thread(_score, rt, tm.model, features, tm.version, tenant)
    rt.metrics.predictions.labels(str(tm.version), "tenant", tenant).inc()
    response.headers.update(
        {"X-Model-Version": str(tm.version), "X-Model-Route": "tenant", "X-Tenant": tenant}
    )
    return Prediction(
        entity_id=body.entity_id,
        model_version=tm.version,
        route="tenant",
        churn_probability=p,
        label=contract.label_for(p),
        tenant=tenant,
    )


def _request_validation(_: Request, exc: RequestValidationError) -> JSONResponse:
    """Path and header problems (the body is validated by the contract) in the same shape."""
    errors = [
        {
            "field": ".".join(str(p) for p in err.get("loc", ())),
            "message": err.get("msg", ""),
            "type": err.get("type", ""),
            "input": err.get("input") if isinstance(err.get("input"), str) else None,
        }
        for err in exc.errors()
    ]
    message = "; ".join(f"{e['field']}: {e['message']} (got {e['input']!r})" for e in errors)
    return JSONResponse(
        {"detail": message, "reason": "invalid_request", "errors": errors}, status_code=422
    )


def _contract_error(_: Request, exc: contract.ContractError) -> JSONResponse:
    reason = "invalid_json" if exc.status == 400 else "invalid_request"
    body = {"detail": str(exc), "reason": reason, "errors": exc.errors}
    return JSONResponse(body, status_code=exc.status)


def _not_implemented(_: Request, exc: TaskNotImplemented) -> JSONResponse:
    return JSONResponse(exc.to_dict(), status_code=501)


def _openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's schema plus the envelope (read by hand, so not seen by FastAPI), and optional
    headers as plain strings (a nullable header has no meaning on the wire)."""
    if app.openapi_schema:
        return app.openapi_schema
    from fastapi.openapi.utils import get_openapi

    schema = get_openapi(title=app.title, version=app.version, routes=app.routes)
    envelope = PredictRequest.model_json_schema(ref_template="#/components/schemas/{model}")
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components.update(envelope.pop("$defs", {}))
    components["PredictRequest"] = envelope
    for item in schema.get("paths", {}).values():
        for op in item.values():
            for param in op.get("parameters", []):
                kept = [
                    b for b in param.get("schema", {}).get("anyOf", []) if b.get("type") != "null"
                ]
                if param.get("in") == "header" and len(kept) == 1:
                    rest = {k: v for k, v in param["schema"].items() if k != "anyOf"}
                    param["schema"] = {**kept[0], **rest}
    app.openapi_schema = schema
    return schema


def create_app(settings: Settings | None = None) -> FastAPI:
    runtime = Runtime.build(settings or get_settings())

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        await asyncio.to_thread(runtime.load_models)
        log.info(
            "lab5: versions %s, weights %s", sorted(runtime.models), runtime.settings.ab_weights
        )
        yield

    app = FastAPI(
        title="Lab 5 — churn, real time",
        version="1.0.0",
        description="One churn model, two modes: this is the real-time one.",
        lifespan=lifespan,
    )
    app.state.runtime = runtime
    app.include_router(ops)
    app.include_router(predictions)
    app.add_exception_handler(ApiError, lambda _, exc: exc.response())
    app.add_exception_handler(contract.ContractError, _contract_error)
    app.add_exception_handler(RequestValidationError, _request_validation)
    app.add_exception_handler(TaskNotImplemented, _not_implemented)
    app.add_middleware(RequestCounter, counter=runtime.metrics.requests)
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


def app_factory() -> FastAPI:
    """For ``uvicorn --factory lab5_batch_vs_realtime.service:app_factory``."""
    return create_app()
