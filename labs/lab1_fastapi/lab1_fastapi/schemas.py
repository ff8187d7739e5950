"""API contract: request and response models built from the shared feature specs.

Bounds, categories and optionality come from ``course_models.schema`` so the API, the
training code and the batch job cannot drift apart. Each schema version gets its own
classes: v2 adds fields, v1 classes never change, which is what keeps v1 consumers safe.
"""

from __future__ import annotations

import enum
from functools import cache
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Discriminator, Field, Tag, create_model

from course_models.schema import CHURN_FEATURES, Feature, features_for_version
from course_models.tasks import TaskNotImplemented  # noqa: F401 - raised by the task 1.3 stub

INSTANCE_TAG, BATCH_TAG = "instance", "batch"


def _camel(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


# One str-valued enum per categorical feature (shared by every version: categories only grow).
ENUMS: dict[str, type[enum.StrEnum]] = {
    f.name: enum.StrEnum(_camel(f.name), {c.upper().replace("-", "_"): c for c in f.categories})
    for f in CHURN_FEATURES
    if f.kind == "categorical"
}


def _field(f: Feature) -> tuple[Any, Any]:
    """(type, FieldInfo) for one feature; strict so "34" or 34.5 is not silently coerced."""
    extra: dict[str, Any] = {"default": None} if f.optional else {}
    if f.kind == "categorical":
        annotation: Any = ENUMS[f.name]
        info = Field(description=f.description, **extra)
    elif f.kind == "boolean":
        annotation = bool
        info = Field(description=f.description, strict=True, **extra)
    else:
        annotation = WholeNumber if f.dtype == "int64" else float
        info = Field(
            description=f.description,
            ge=f.minimum,
            le=f.maximum,
            strict=True,
            allow_inf_nan=False,
            **extra,
        )
    if f.optional:
        annotation = annotation | None
    return annotation, info


def _whole_float_to_int(value: Any) -> Any:
    """JSON Schema's "integer" includes 65.0, so accept it; 65.5 and "65" still fail."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


WholeNumber = Annotated[int, BeforeValidator(_whole_float_to_int)]


class _Closed(BaseModel):
    model_config = ConfigDict(extra="forbid")


@cache
def instance_model(version: int) -> type[BaseModel]:
    fields = {f.name: _field(f) for f in features_for_version(version)}
    model = create_model(f"ChurnInstanceV{version}", __base__=_Closed, **fields)
    model.__doc__ = f"One customer's features, as churn model version {version} reads them."
    return model


@cache
def batch_model(version: int, max_batch_size: int) -> type[BaseModel]:
    items = Annotated[
        list[instance_model(version)],
        Field(min_length=1, max_length=max_batch_size, description="Customers to score"),
    ]
    model = create_model(f"ChurnBatchV{version}", __base__=_Closed, instances=items)
    model.__doc__ = f"Up to {max_batch_size} instances scored in one call."
    return model


def _shape(value: Any) -> str | None:
    if isinstance(value, dict):
        return BATCH_TAG if "instances" in value else INSTANCE_TAG
    if isinstance(value, BaseModel):
        return BATCH_TAG if hasattr(value, "instances") else INSTANCE_TAG
    return None


def request_body(version: int, max_batch_size: int) -> Any:
    """Body type: one instance (the features at top level) or ``{"instances": [...]}``."""
    return Annotated[
        Annotated[instance_model(version), Tag(INSTANCE_TAG)]
        | Annotated[batch_model(version, max_batch_size), Tag(BATCH_TAG)],
        Discriminator(
            _shape,
            custom_error_type="body_shape",
            custom_error_message="send one instance's features or {'instances': [...]}",
        ),
    ]


def records_of(body: BaseModel) -> list[dict[str, Any]]:
    instances = body.instances if hasattr(body, "instances") else [body]
    return [item.model_dump() for item in instances]


Label = Literal["stays", "churns"]


def label_for(p: float) -> str:  # TEMP until course_models.contract lands
    return "churns" if p >= 0.5 else "stays"


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


# TEMP until course_models.contract lands -------------------------------------------------
class BodyError(ValueError):
    pass


def loads_strict(raw: bytes | str, max_depth: int = 32) -> Any:
    import json
    import math

    def bad_constant(name: str) -> Any:
        raise BodyError(f"{name} is not a JSON number")

    def parse_float(text: str) -> float:
        value = float(text)
        if math.isinf(value):
            raise BodyError(f"{text} overflows a float")
        return value

    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        value = json.loads(text, parse_constant=bad_constant, parse_float=parse_float)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BodyError(str(exc)) from exc
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > max_depth:
            raise BodyError(f"nested deeper than {max_depth}")
        children = (
            node.values() if isinstance(node, dict) else node if isinstance(node, list) else []
        )
        stack.extend((c, depth + 1) for c in children)
    return value
