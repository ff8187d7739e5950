"""Lab 1's response and error models; the request side is the shared ``course_models.contract``.

Each version gets its own response classes: v2 adds fields, v1 classes never change, which is
what keeps v1 consumers safe (the committed v1 OpenAPI snapshot checks it).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from course_models.contract import Label, label_for
from course_models.tasks import TaskNotImplemented  # noqa: F401 - raised by the task 1.3 stub


class PredictionV1(BaseModel):
    churn_probability: float = Field(description="P(churns)")
    label: Label


class ResponseV1(BaseModel):
    model: str
    version: int
    request_id: str
    predictions: list[PredictionV1]


class ClassProbabilities(BaseModel):
    stays: float
    churns: float


class PredictionV2(BaseModel):
    churn_probability: float = Field(description="P(churns)")
    label: Label
    probabilities: ClassProbabilities


class ResponseV2(BaseModel):
    model: str
    version: int
    request_id: str
    predictions: list[PredictionV2]


RESPONSE_MODELS: dict[int, type[BaseModel]] = {1: ResponseV1, 2: ResponseV2}


def build_response(name: str, version: int, request_id: str, probabilities: Any) -> BaseModel:
    """Version-specific response: v1 stays exactly as it was, v2 adds per-class probabilities."""
    probs = [float(p) for p in probabilities]
    # BEGIN TASK 1.3: the v2 predictions, while v1's stay byte for byte what they were
    preds: list[dict[str, Any]] = [{"churn_probability": p, "label": label_for(p)} for p in probs]
    if version >= 2:
        for pred, p in zip(preds, probs, strict=True):
            pred["probabilities"] = {"stays": 1.0 - p, "churns": p}
    # STUB
    # preds = [{"churn_probability": p, "label": label_for(p)} for p in probs]
    # if version >= 2:
    #     raise TaskNotImplemented("1.3", "the v2 response (per-class probabilities)")
    # END TASK 1.3
    model = RESPONSE_MODELS[min(version, max(RESPONSE_MODELS))]
    return model(model=name, version=version, request_id=request_id, predictions=preds)


class ErrorItem(BaseModel):
    loc: list[str | int]
    field: str = Field(description="Dotted path of the offending field ('body' for the body)")
    msg: str
    type: str


class ErrorList(BaseModel):
    detail: list[ErrorItem]


class NotReadyDetail(BaseModel):
    model: str
    version: int
    reason: str
    message: str


class NotReadyError(BaseModel):
    detail: NotReadyDetail


class FeatureSpec(BaseModel):
    name: str
    kind: str
    dtype: str
    description: str
    minimum: float | None = None
    maximum: float | None = None
    categories: list[str] = Field(default_factory=list)
    optional: bool = False
    since_version: int = 1


class ModelVersionInfo(BaseModel):
    version: int
    framework: str
    description: str = ""
    trained_at: str
    sha256: str
    features: list[FeatureSpec]
    metrics: dict[str, float]
    load_seconds: float


class ModelInfo(BaseModel):
    name: str
    default_version: int
    versions: list[ModelVersionInfo]


class ModelList(BaseModel):
    models: list[ModelInfo]


def error_body(field: str, msg: str, type_: str) -> dict[str, Any]:
    """This lab's error shape (``ErrorList``) for one error outside Pydantic's validation."""
    return {"detail": [{"loc": [field], "field": field, "msg": msg, "type": type_}]}
