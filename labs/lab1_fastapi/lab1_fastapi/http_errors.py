"""Every error is JSON with a status a client can act on; no input ever produces a 5xx.

``StrictJSONRoute`` is FastAPI's documented "custom APIRoute class" hook: before the usual
body validation it refuses a non-JSON Content-Type (415) and parses the body with the shared
contract's strict reader (400 for ``NaN``, ``Infinity``, ``1e309``, deep nesting, bad UTF-8),
so Pydantic only ever sees standard JSON and the OpenAPI document stays FastAPI's own.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import HTTPException, RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException

from course_models import contract
from course_models.tasks import NOT_IMPLEMENTED_STATUS, TaskNotImplemented
from lab1_fastapi import schemas
from lab1_fastapi.model import ModelNotReady

log = logging.getLogger("lab1_fastapi")


class BodyRejected(HTTPException):
    """A body refused before validation (status 400 or 415); names the field and error type."""

    def __init__(self, status_code: int, message: str, type_: str, field: str = "body"):
        super().__init__(status_code, detail=message)
        self.field, self.type = field, type_


class StrictJSONRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            try:
                self._json = contract.loads_strict(await self.body())
            except contract.BodyError as exc:
                [err] = exc.errors
                raise BodyRejected(400, err["message"], err["type"]) from None
        return self._json


def _is_json(content_type: str | None) -> bool:
    if content_type is None:  # FastAPI's own default: a body without a type is read as JSON
        return True
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


class StrictJSONRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def strict_handler(request: Request) -> Response:
            if request.method in ("POST", "PUT", "PATCH") and not _is_json(
                request.headers.get("content-type")
            ):
                raise BodyRejected(
                    415, "send the body as JSON with Content-Type: application/json", "media_type"
                )
            return await handler(StrictJSONRequest(request.scope, request.receive))

        return strict_handler


async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    """422 naming each field; never echoes the input (it may be large or sensitive)."""
    # BEGIN TASK 1.2: the 422 answer that names each offending field, never the input
    errors = []
    for err in exc.errors():
        loc = contract.clean_loc(tuple(err.get("loc", ())))
        field = ".".join(str(p) for p in loc) or "body"
        errors.append(
            {"loc": loc or ["body"], "field": field, "msg": err["msg"], "type": err["type"]}
        )
    return JSONResponse(status_code=422, content={"detail": errors})
    # STUB
    # missing = TaskNotImplemented("1.2", "the 422 answer naming each field (http_errors.py)")
    # return JSONResponse(status_code=NOT_IMPLEMENTED_STATUS, content=missing.to_dict())
    # END TASK 1.2


async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
    if isinstance(exc, BodyRejected):
        body = schemas.error_body(exc.field, str(exc.detail), exc.type)
        return JSONResponse(status_code=exc.status_code, content=body)
    if exc.status_code == 400:  # FastAPI answers an unreadable body with a bare string
        body = schemas.error_body(
            "body", f"request body could not be read: {exc.detail}", "body_decode"
        )
        return JSONResponse(status_code=400, content=body)
    return await http_exception_handler(request, exc)


async def _not_ready(request: Request, exc: ModelNotReady) -> JSONResponse:
    return JSONResponse(status_code=503, content={"detail": exc.detail})


async def _not_implemented(request: Request, exc: TaskNotImplemented) -> JSONResponse:
    """The student edition's stubs: a clear 501 naming the task, never a traceback."""
    return JSONResponse(status_code=NOT_IMPLEMENTED_STATUS, content=exc.to_dict())


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return JSONResponse(status_code=500, content={"detail": "internal error (see the server log)"})


def install(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(ModelNotReady, _not_ready)
    app.add_exception_handler(TaskNotImplemented, _not_implemented)
    app.add_exception_handler(Exception, _unexpected)
