"""The one request contract every lab serves: churn features in, P(churns) and a label out.

Request models are built from the feature specs in ``course_models.schema`` (bounds, categories,
optionality), so the API of every lab, the training code and the batch job cannot drift apart.
Each schema version gets its own classes: v2 adds fields, v1 classes never change, which is what
keeps v1 consumers safe.

It is given to every lab, complete, so no lab's endpoints wait on another lab's task. What each
lab does with it:
- lab 1 uses the models as FastAPI body types (and its task 1.2 turns their errors into 422s);
- lab 2 (Flask, no pydantic layer) calls ``loads_strict`` and ``validate_batch`` or
  ``validate_instance`` and maps ``ContractError`` to its own JSON shape;
- lab 5 wraps ``instance_model`` in its envelope (``entity_id``, ``features``).
Statuses are the same everywhere: not strict JSON → 400, valid JSON that breaks the contract →
422 naming the field, body over the limit → 413, wrong content type → 415; never a 5xx.
"""

from __future__ import annotations

import enum
import json
import math
from dataclasses import dataclass
from functools import cache
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    create_model,
)

from course_models.schema import CHURN_FEATURES, Feature, features_for_version

CLASSES: tuple[str, str] = ("stays", "churns")
Label = Literal["stays", "churns"]
THRESHOLD = 0.5
MAX_JSON_DEPTH = 32
INSTANCE_TAG, BATCH_TAG = "instance", "batch"


def label_for(p: float, threshold: float = THRESHOLD) -> str:
    """The business rule on top of the model: at or above the threshold we expect churn."""
    return CLASSES[1] if p >= threshold else CLASSES[0]


def _camel(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


# One str-valued enum per categorical feature (shared by every version: categories only grow).
ENUMS: dict[str, type[enum.StrEnum]] = {
    f.name: enum.StrEnum(_camel(f.name), {c.upper().replace("-", "_"): c for c in f.categories})
    for f in CHURN_FEATURES
    if f.kind == "categorical"
}


def _whole_float_to_int(value: Any) -> Any:
    """JSON Schema's "integer" includes 65.0, so accept it; 65.5 and "65" still fail."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


WholeNumber = Annotated[int, BeforeValidator(_whole_float_to_int)]
CLOSED = ConfigDict(extra="forbid")  # a field the contract does not name is an error


def field_for(f: Feature) -> tuple[Any, Any]:
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


class _Closed(BaseModel):
    model_config = CLOSED


@cache
def instance_model(version: int) -> type[BaseModel]:
    fields = {f.name: field_for(f) for f in features_for_version(version)}
    model = create_model(f"ChurnInstanceV{version}", __base__=_Closed, **fields)
    model.__doc__ = f"One customer's features, as churn model version {version} reads them."
    return model


@cache
def batch_model(version: int, max_batch_size: int, key: str = "instances") -> type[BaseModel]:
    items = Annotated[
        list[instance_model(version)],
        Field(min_length=1, max_length=max_batch_size, description="Customers to score"),
    ]
    suffix = "" if key == "instances" else key.capitalize()
    model = create_model(f"ChurnBatchV{version}{suffix}", __base__=_Closed, **{key: items})
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


def records_of(body: BaseModel, key: str = "instances") -> list[dict[str, Any]]:
    """Validated body → plain feature dicts (enums as their string values), one per instance."""
    instances = getattr(body, key) if hasattr(body, key) else [body]
    return [item.model_dump(mode="json") for item in instances]


# --- errors -------------------------------------------------------------------------------


class ContractError(ValueError):
    """The request breaks the contract; ``errors`` name each offending field."""

    status = 422

    def __init__(self, errors: list[dict[str, Any]]):
        super().__init__("; ".join(f"{e['field']}: {e['message']}" for e in errors))
        self.errors = errors


class BodyError(ContractError):
    """The body is not strict JSON (or too deeply nested): nothing in it can be trusted."""

    status = 400

    def __init__(self, message: str, type_: str = "json_invalid"):
        super().__init__([{"field": "body", "loc": ["body"], "message": message, "type": type_}])


def clean_loc(loc: tuple | list, drop: tuple[str, ...] = ("body",)) -> list[str | int]:
    """A pydantic error location without FastAPI's ``body`` prefix or the union's tag names."""
    parts = list(loc)
    if parts and parts[0] in drop:
        parts = parts[1:]
    return [p for p in parts if p not in (INSTANCE_TAG, BATCH_TAG)]


def field_errors(exc: ValidationError, prefix: tuple[str | int, ...] = ()) -> list[dict[str, Any]]:
    """pydantic errors → ``{"field": "instances.0.age", "loc", "message", "type"}`` items.

    The input value is never echoed: it may hold NaN, which JSON cannot carry.
    """
    out = []
    for err in exc.errors(include_input=False, include_url=False):
        loc = [*prefix, *clean_loc(err.get("loc", ()), drop=())]
        out.append(
            {
                "field": ".".join(str(p) for p in loc) or "body",
                "loc": loc or ["body"],
                "message": err["msg"],
                "type": err["type"],
            }
        )
    return out


# --- strict JSON --------------------------------------------------------------------------


def _reject_constant(name: str) -> Any:
    raise BodyError(f"{name} is not valid JSON (numbers must be finite)", "json_invalid_number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise BodyError(f"number {text[:40]} is out of range", "json_invalid_number")
    return value


def _depth_exceeds(value: Any, max_depth: int) -> bool:
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict | list):
            if depth > max_depth:
                return True
            children = node.values() if isinstance(node, dict) else node
            stack.extend((child, depth + 1) for child in children)
    return False


def loads_strict(raw: bytes | str, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """RFC 8259 JSON only: no NaN/Infinity literals, no numbers that overflow to inf, no
    invalid UTF-8, nesting at most ``max_depth``. Raises ``BodyError`` (→ 400)."""
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes | bytearray) else raw
        value = json.loads(text, parse_constant=_reject_constant, parse_float=_finite_float)
    except BodyError:
        raise
    except UnicodeDecodeError as exc:
        raise BodyError(f"body is not UTF-8: {exc.reason}", "json_invalid_encoding") from exc
    except RecursionError as exc:
        raise BodyError(f"JSON nested deeper than {max_depth} levels", "json_too_deep") from exc
    except ValueError as exc:  # JSONDecodeError, or an integer literal with too many digits
        raise BodyError(f"body is not valid JSON: {exc}") from exc
    if _depth_exceeds(value, max_depth):
        raise BodyError(f"JSON nested deeper than {max_depth} levels", "json_too_deep")
    return value


# --- validation for frameworks without a pydantic layer ------------------------------------


def validate_instance(data: Any, version: int) -> dict[str, Any]:
    """One record → its validated feature dict, or ``ContractError`` naming each field."""
    try:
        return instance_model(version).model_validate(data).model_dump(mode="json")
    except ValidationError as exc:
        raise ContractError(field_errors(exc)) from None


def validate_batch(
    data: Any, version: int, max_batch_size: int, key: str = "instances"
) -> list[dict[str, Any]]:
    """``{key: [records...]}`` → validated feature dicts, or ``ContractError``."""
    try:
        body = batch_model(version, max_batch_size, key).model_validate(data)
    except ValidationError as exc:
        raise ContractError(field_errors(exc)) from None
    return records_of(body, key)


# --- the shared list of hostile requests ---------------------------------------------------


@dataclass(frozen=True)
class HostileBody:
    """A bad request every lab must reject with ``expected_status`` and a JSON body."""

    name: str
    body: bytes
    content_type: str
    expected_status: int
    field: str = "body"  # the field the error must name


def example_record(version: int = 1) -> dict[str, Any]:
    """A valid request body, handy for docs, tests and load scripts."""
    from course_models.tabular import example_record as _example

    return _example(version)


def _with(record: dict[str, Any], key: str, raw_value: str) -> bytes:
    """The record as JSON with ``key``'s value replaced by a raw (possibly non-JSON) token."""
    text = json.dumps({**record, key: "__RAW__"})
    return text.replace('"__RAW__"', raw_value).encode()


def hostile_bodies(version: int = 1) -> list[HostileBody]:
    """Malformed numbers, wrong types, wrong content types, deep nesting, bad encodings.

    Bodies are single instances; labs with an envelope (lab 2's ``records``, lab 5's
    ``features``) wrap the JSON ones themselves. Oversized bodies depend on each lab's limit,
    so labs build those from their own settings.
    """
    rec = example_record(version)
    js = "application/json"
    cases = [
        HostileBody("nan_literal", _with(rec, "monthly_charges", "NaN"), js, 400),
        HostileBody("infinity_literal", _with(rec, "monthly_charges", "Infinity"), js, 400),
        HostileBody("minus_infinity", _with(rec, "monthly_charges", "-Infinity"), js, 400),
        HostileBody("overflow_1e309", _with(rec, "monthly_charges", "1e309"), js, 400),
        HostileBody("huge_integer", _with(rec, "age", "9" * 5000), js, 400),
        HostileBody("not_json", b"age=34&tenure_months=5", js, 400),
        HostileBody("truncated_json", json.dumps(rec).encode()[:-5], js, 400),
        HostileBody("invalid_utf8", b'{"contract": "\xff\xfe"}', js, 400),
        HostileBody("deep_nesting", b"[" * 100_000 + b"]" * 100_000, js, 400),
        HostileBody("string_for_number", _with(rec, "age", '"34"'), js, 422, "age"),
        HostileBody("fraction_for_integer", _with(rec, "age", "34.5"), js, 422, "age"),
        HostileBody("number_for_bool", _with(rec, "has_partner", "1"), js, 422, "has_partner"),
        HostileBody("out_of_range", _with(rec, "age", "7"), js, 422, "age"),
        HostileBody("unknown_enum", _with(rec, "contract", '"weekly"'), js, 422, "contract"),
        HostileBody("null_required", _with(rec, "tenure_months", "null"), js, 422, "tenure_months"),
        HostileBody("extra_field", _with(rec, "shoe_size", "44"), js, 422, "shoe_size"),
        HostileBody("missing_field", json.dumps({"age": 34}).encode(), js, 422, "tenure_months"),
        HostileBody("array_body", b"[1, 2, 3]", js, 422),
        HostileBody("form_content_type", json.dumps(rec).encode(), "text/plain", 415),
    ]
    return cases


__all__ = [
    "BATCH_TAG",
    "CLASSES",
    "ENUMS",
    "INSTANCE_TAG",
    "THRESHOLD",
    "BodyError",
    "ContractError",
    "HostileBody",
    "Label",
    "WholeNumber",
    "batch_model",
    "clean_loc",
    "example_record",
    "field_errors",
    "field_for",
    "hostile_bodies",
    "instance_model",
    "label_for",
    "loads_strict",
    "records_of",
    "request_body",
    "validate_batch",
    "validate_instance",
]
