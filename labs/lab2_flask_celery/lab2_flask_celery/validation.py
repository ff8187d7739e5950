"""Request validation built from the shared feature specs (course_models.schema).

Flask has no pydantic layer, so we check by hand, and every problem names its field
(``records[3].age``) so a client can fix its request without reading server logs.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from course_models.schema import Feature, features_for_version


class ValidationFailed(ValueError):
    def __init__(self, details: list[dict[str, str]]):
        super().__init__("; ".join(f"{d['field']}: {d['message']}" for d in details))
        self.details = details


def _check_feature(f: Feature, value: Any) -> str | None:
    if value is None:
        return None if f.optional else "is required"
    if f.kind == "numeric":
        if isinstance(value, bool) or not isinstance(value, int | float):
            return f"must be a number, got {type(value).__name__}"
        if isinstance(value, float) and not math.isfinite(value):
            return "must be a finite number"
        if f.dtype == "int64" and float(value) != int(value):
            return "must be a whole number"
        if f.minimum is not None and value < f.minimum:
            return f"must be >= {f.minimum}"
        if f.maximum is not None and value > f.maximum:
            return f"must be <= {f.maximum}"
    elif f.kind == "categorical":
        if not isinstance(value, str):
            return f"must be a string, got {type(value).__name__}"
        if value not in f.categories:
            return f"must be one of {list(f.categories)}"
    elif f.kind == "boolean" and not isinstance(value, bool):
        return f"must be true or false, got {type(value).__name__}"
    return None


def validate_record(record: Any, version: int, where: str = "") -> list[dict[str, str]]:
    prefix = f"{where}." if where else ""
    if not isinstance(record, Mapping):
        return [{"field": where or "body", "message": "must be a JSON object"}]
    feats = features_for_version(version)
    known = {f.name for f in feats}
    problems = []
    for f in feats:
        if f.name not in record and not f.optional:
            problems.append({"field": prefix + f.name, "message": "is required"})
            continue
        message = _check_feature(f, record.get(f.name))
        if message:
            problems.append({"field": prefix + f.name, "message": message})
    for extra in sorted(set(record) - known):
        problems.append({"field": prefix + str(extra), "message": "is not a known feature"})
    return problems


def parse_records(body: Any, version: int, max_batch: int) -> tuple[list[dict], bool]:
    """Body -> (records, is_batch). A batch is ``{"records": [...]}``, else one record."""
    if isinstance(body, Mapping) and "records" in body:
        records = body["records"]
        if set(body) - {"records"}:
            extra = sorted(set(body) - {"records"})[0]
            raise ValidationFailed([{"field": extra, "message": "is not allowed next to records"}])
        if not isinstance(records, list) or not records:
            raise ValidationFailed([{"field": "records", "message": "must be a non-empty list"}])
        if len(records) > max_batch:
            raise ValidationFailed(
                [{"field": "records", "message": f"at most {max_batch} records per request"}]
            )
        problems = [
            p for i, r in enumerate(records) for p in validate_record(r, version, f"records[{i}]")
        ]
        if problems:
            raise ValidationFailed(problems)
        return [dict(r) for r in records], True
    problems = validate_record(body, version)
    if problems:
        raise ValidationFailed(problems)
    return [dict(body)], False
