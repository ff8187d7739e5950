"""The real-time half of lab 5: one churn model behind HTTP, with version routing and tenants.

* ``POST /predict``: a sticky weighted A/B split between model versions (``LAB5_AB_WEIGHTS``);
  ``X-Model-Version`` pins a version; response headers say which version answered and why.
  With ``LAB5_SHADOW_VERSION`` the shadow model also scores the request after the answer is sent.
* ``POST /tenants/{tenant}/predict``: the tenant's own newest model, loaded on first use (LRU).
* ``/health`` (process up), ``/ready`` (models loaded), ``/metrics`` (Prometheus).

Scoring is ``records_to_frame`` + ``predict_proba`` from ``course_models``: the batch pipeline
calls the same ``predict_proba``, which is what makes the two modes agree to the last bit.
"""

from __future__ import annotations

import asyncio
import logging
import time
from contextlib import asynccontextmanager
from typing import Annotated, Any, Literal

from fastapi import BackgroundTasks, FastAPI, Header, Path, Response
from fastapi.responses import JSONResponse
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from pydantic import BaseModel, ConfigDict, Field, create_model

from course_models.artifacts import ArtifactError, list_versions, load_artifact
from course_models.schema import CHURN_FEATURES
from course_models.tabular import CLASSES, predict_proba, records_to_frame
from lab5_batch_vs_realtime.routing import Router, UnknownVersion
from lab5_batch_vs_realtime.settings import MODEL_NAME, Settings, get_settings
from lab5_batch_vs_realtime.tenants import TENANT_PATTERN, TenantRegistry, UnknownTenant

log = logging.getLogger("lab5.service")
VERSION_PATTERN = r"^[0-9]{1,6}$"


def _feature_field(f) -> tuple[Any, Any]:
    extra = {"description": f.description}
    if f.kind == "numeric":
        py = int if f.dtype == "int64" else float
        kw = {"ge": f.minimum, "le": f.maximum, **extra}
        if py is float:
            kw["allow_inf_nan"] = False
        if f.optional:
            return py | None, Field(None, **kw)
        return py, Field(..., **kw)
    if f.kind == "categorical":
        return Literal[f.categories], Field(..., **extra)  # type: ignore[valid-type]
    return bool, Field(..., **extra)


# Built from the shared schema: bounds and categories cannot drift from the model's.
ChurnFeatures = create_model(
    "ChurnFeatures",
    __config__=ConfigDict(extra="forbid"),
    **{f.name: _feature_field(f) for f in CHURN_FEATURES},
)


class PredictRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    entity_id: str = Field(
        ...,
        min_length=1,
        max_length=128,
        description="customer id: the A/B split is sticky per id",
        examples=["customer-42"],
    )
    features: ChurnFeatures  # type: ignore[valid-type]


class Prediction(BaseModel):
    entity_id: str
    model_version: int
    route: Literal["ab", "header", "tenant"]
    churn_probability: float
    label: str
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
        self.shadow = Counter(
            "lab5_shadow_predictions_total",
            "Shadow predictions, by whether the shadow's label agreed with the served one",
            ["version", "agreed"],
            registry=self.registry,
        )


def _score(model: Any, features: dict[str, Any], version: int) -> float:
    return float(predict_proba(model, records_to_frame([features], version), version)[0])


def _error(status: int, reason: str, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"detail": message, "reason": reason, **extra}, status_code=status)


def create_app(settings: Settings | None = None) -> FastAPI:
    s = settings or get_settings()
    metrics = Metrics()
    state: dict[str, Any] = {"models": {}, "router": None, "errors": []}
    tenants = TenantRegistry(
        s.tenants_dir,
        capacity=s.max_tenants,
        check_seconds=s.tenant_check_seconds,
        on_event=lambda event, tenant: metrics.tenant_events.labels(event, tenant).inc(),
    )

    def load_models() -> None:
        """Load every churn version on disk; problems make /ready say why instead of crashing."""
        versions = list_versions(MODEL_NAME, s.artifacts_dir)
        models, errors = {}, []
        for v in versions:
            try:
                models[v] = load_artifact(MODEL_NAME, v, s.artifacts_dir).model
            except ArtifactError as exc:
                errors.append(exc.to_dict())
        state["models"] = models
        try:
            state["router"] = Router(s.ab_weights, tuple(sorted(models)), s.ab_salt)
        except ValueError as exc:
            errors.append({"reason": "routing", "message": str(exc), "path": ""})
            state["router"] = None
        state["errors"] = errors

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        await asyncio.to_thread(load_models)
        log.info("lab5 service: versions %s, weights %s", sorted(state["models"]), s.ab_weights)
        yield

    app = FastAPI(
        title="Lab 5 — churn, real time",
        version="1.0.0",
        description="One churn model, two modes: this is the real-time one.",
        lifespan=lifespan,
    )
    app.state.settings = s
    app.state.metrics = metrics
    app.state.tenants = tenants

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/ready", responses={503: {"description": "models not loaded"}})
    def ready():
        if state["router"] is None or state["errors"]:
            return _error(503, "not_ready", "models are not loaded", errors=state["errors"])
        return {"status": "ready", "versions": sorted(state["models"])}

    @app.get("/models")
    def models() -> dict[str, Any]:
        return {
            "model": MODEL_NAME,
            "versions": sorted(state["models"]),
            "ab_weights": s.ab_weights,
            "shadow_version": s.shadow_version,
            "tenants_known": tenants.known(),
            "tenants_loaded": tenants.loaded(),
            "max_tenants": s.max_tenants,
        }

    def shadow_score(features: dict[str, Any], served_version: int, served_p: float, eid: str):
        version = s.shadow_version
        model = state["models"].get(version)
        if model is None:
            return
        p = _score(model, features, version)
        agreed = (p >= 0.5) == (served_p >= 0.5)
        metrics.shadow.labels(str(version), str(agreed).lower()).inc()
        log.info(
            "shadow entity=%s served=v%d p=%.4f shadow=v%d p=%.4f",
            eid,
            served_version,
            served_p,
            version,
            p,
        )

    @app.post(
        "/predict",
        response_model=Prediction,
        responses={
            404: {"description": "requested version not served"},
            503: {"description": "models not loaded"},
        },
    )
    def predict(
        body: PredictRequest,
        response: Response,
        background: BackgroundTasks,
        # Typed `str` (not `str | None`) so the OpenAPI header is a plain optional string: a
        # nullable header has no meaning on the wire and fuzzers would send the text "null".
        x_model_version: Annotated[
            str | None,
            Header(
                description="pin a model version (overrides the A/B split)",
                pattern=VERSION_PATTERN,
                examples=["2"],
            ),
        ] = None,
    ):
        # A plain `def`: FastAPI runs it in its thread pool, so CPU-bound scoring does not
        # stall the event loop that accepts other connections.
        router: Router | None = state["router"]
        if router is None:
            return _error(503, "not_ready", "models are not loaded", errors=state["errors"])
        try:
            version, route = router.choose(body.entity_id, x_model_version)
        except UnknownVersion as exc:
            return _error(404, "unknown_version", str(exc), available=exc.available)
        features = body.features.model_dump()
        t0 = time.perf_counter()
        p = _score(state["models"][version], features, version)
        metrics.latency.labels(str(version), "").observe(time.perf_counter() - t0)
        metrics.predictions.labels(str(version), route, "").inc()
        response.headers["X-Model-Version"] = str(version)
        response.headers["X-Model-Route"] = route
        if s.shadow_version is not None and s.shadow_version in state["models"]:
            response.headers["X-Shadow-Version"] = str(s.shadow_version)
            background.add_task(shadow_score, features, version, p, body.entity_id)
        return Prediction(
            entity_id=body.entity_id,
            model_version=version,
            route=route,
            churn_probability=p,
            label=CLASSES[int(p >= 0.5)],
        )

    @app.post(
        "/tenants/{tenant}/predict",
        response_model=Prediction,
        responses={
            404: {"description": "unknown tenant"},
            503: {"description": "the tenant's model cannot be loaded"},
        },
    )
    async def tenant_predict(
        tenant: Annotated[str, Path(pattern=TENANT_PATTERN, description="tenant id")],
        body: PredictRequest,
        response: Response,
    ):
        try:
            tm = await tenants.get(tenant)
        except UnknownTenant as exc:
            return _error(404, "unknown_tenant", str(exc))
        except ArtifactError as exc:
            return _error(503, exc.reason, str(exc), tenant=tenant)
        metrics.tenants_loaded.set(len(tenants.loaded()))
        features = body.features.model_dump()
        t0 = time.perf_counter()
        p = await asyncio.to_thread(_score, tm.model, features, tm.schema_version)
        metrics.latency.labels(str(tm.version), tenant).observe(time.perf_counter() - t0)
        metrics.predictions.labels(str(tm.version), "tenant", tenant).inc()
        response.headers["X-Model-Version"] = str(tm.version)
        response.headers["X-Model-Route"] = "tenant"
        response.headers["X-Tenant"] = tenant
        return Prediction(
            entity_id=body.entity_id,
            model_version=tm.version,
            route="tenant",
            churn_probability=p,
            label=CLASSES[int(p >= 0.5)],
            tenant=tenant,
        )

    generate_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        """FastAPI documents an optional header as "string or null"; on the wire a header is
        present or absent, never null, and clients (and fuzzers) would send the text "null"."""
        schema = generate_openapi()
        for item in schema.get("paths", {}).values():
            for op in item.values():
                for param in op.get("parameters", []) if isinstance(op, dict) else []:
                    any_of = param.get("schema", {}).get("anyOf")
                    if param.get("in") == "header" and any_of:
                        kept = [branch for branch in any_of if branch.get("type") != "null"]
                        if len(kept) == 1:
                            rest = {k: v for k, v in param["schema"].items() if k != "anyOf"}
                            param["schema"] = {**kept[0], **rest}
        return schema

    app.openapi = openapi  # type: ignore[method-assign]

    @app.get("/metrics", include_in_schema=False)
    def prometheus() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return app


def app_factory() -> FastAPI:
    """For ``uvicorn --factory lab5_batch_vs_realtime.service:app_factory``."""
    return create_app()
