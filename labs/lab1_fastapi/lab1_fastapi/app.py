"""API logic: the FastAPI app factory and its lifespan.

Routes live in ``routers.py``, error answers in ``http_errors.py``, cross-cutting HTTP concerns
in ``observability.py``, the loaded models in ``runtime.py``. No ``from __future__ import
annotations`` in the route modules: FastAPI must see the real (runtime-built) body types.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from lab1_fastapi import http_errors, routers
from lab1_fastapi.observability import Metrics, ServingMiddleware
from lab1_fastapi.runtime import Runtime
from lab1_fastapi.settings import Settings


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Load the models before the first request; release them at shutdown."""
    runtime = Runtime(app.state.settings, app.state.metrics)
    await runtime.start()
    app.state.runtime = runtime
    try:
        yield
    finally:
        await runtime.stop()


def create_app(settings: Settings | None = None) -> FastAPI:
    """App factory: every call builds an independent app (tests, workers, benchmarks)."""
    settings = settings or Settings()
    app = FastAPI(
        title="Lab 1 — churn model service",
        version="1.0.0",
        description="Churn probability from customer features. v1: scikit-learn, v2: XGBoost.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.metrics = Metrics()  # per app: several apps in one process never share counters
    app.add_middleware(
        ServingMiddleware, metrics=app.state.metrics, max_body_bytes=settings.max_body_bytes
    )
    http_errors.install(app)
    app.include_router(routers.ops)
    app.include_router(routers.predict_router(settings))
    app.include_router(routers.models)
    return app
