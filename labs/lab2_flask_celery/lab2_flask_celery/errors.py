"""Every error leaves the app as JSON: ``{"error": code, "message": ..., "details": [...]}``.

The contract's ``ContractError`` carries ``{"field", "message", "type"}`` items; lab 2 keeps
its own shape (``records[1].age`` paths) so its clients see what they always saw.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from flask import Flask, jsonify

from course_models.contract import ContractError
from course_models.tasks import TaskNotImplemented

log = logging.getLogger("lab2")


class ApiError(Exception):
    """An error the views raise on purpose, with its status and code."""

    def __init__(self, status: int, code: str, message: str, details: list | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.details = status, code, message, details
        self.headers: dict[str, str] = {}


def error_response(status: int, code: str, message: str, details: list | None = None):
    body: dict[str, Any] = {"error": code, "message": message}
    if details:
        body["details"] = details
    return jsonify(body), status


def lab2_field(field: str) -> str:
    """``records.1.age`` (the contract's dotted path) -> ``records[1].age`` (lab 2's)."""
    return re.sub(r"\.(\d+)(?=\.|$)", r"[\1]", field)


def contract_details(exc: ContractError) -> list[dict[str, str]]:
    return [
        {"field": lab2_field(e["field"]), "message": e["message"], "type": e.get("type", "")}
        for e in exc.errors
    ]


def register_task_stubs(app: Flask) -> None:
    """Outside every task region: a stub that is not written yet answers 501 naming its task."""

    @app.errorhandler(TaskNotImplemented)
    def not_implemented(exc: TaskNotImplemented):
        return jsonify(exc.to_dict()), 501


def register_errors(app: Flask) -> None:
    # BEGIN TASK 2.1: JSON error handling — 400/413/415/422 naming the field, never HTML
    # (Imported here, not at the top: the student edition's stub has no use for them.)
    from werkzeug.exceptions import HTTPException

    from course_models.contract import BodyError

    @app.errorhandler(ApiError)
    def api_error(exc: ApiError):
        body, status = error_response(exc.status, exc.code, exc.message, exc.details)
        body.headers.update(exc.headers)
        return body, status

    @app.errorhandler(BodyError)
    def bad_body(exc: BodyError):
        return error_response(400, "invalid_json", str(exc), contract_details(exc))

    @app.errorhandler(ContractError)
    def invalid(exc: ContractError):
        return error_response(422, "validation_error", str(exc), contract_details(exc))

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        code = (exc.name or "error").lower().replace(" ", "_")
        return error_response(exc.code or 500, code, exc.description or exc.name)

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):  # never Flask's HTML 500 page
        log.exception("unhandled error")
        return error_response(500, "internal_error", f"{type(exc).__name__}: {exc}")

    # STUB
    # @app.errorhandler(Exception)
    # def not_written(exc: Exception):
    #     stub = TaskNotImplemented("2.1", "JSON error handlers (errors.py)")
    #     return jsonify(stub.to_dict()), 501
    # END TASK 2.1
