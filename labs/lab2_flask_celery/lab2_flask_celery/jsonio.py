"""JSON that survives numpy and that every client can parse.

Three pitfalls this fixes:
- ``json.dumps(np.float32(0.5))`` raises TypeError (numpy scalars are not Python floats).
- ``json.dumps(float("nan"))`` writes ``NaN``, which is *not* JSON: browsers and most parsers
  reject the whole document. Non-finite numbers become ``null``.
- Integers above 2**53 lose precision in JavaScript (every number is a double there), so an
  id like 2**63-1 arrives changed. Such integers are sent as strings.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
from flask.json.provider import DefaultJSONProvider

MAX_SAFE_INT = 2**53 - 1


def to_jsonable(value: Any) -> Any:
    """Recursively turn numpy values, NaN/inf and huge ints into strict-JSON-safe values."""
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return [to_jsonable(v) for v in value.tolist()]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return str(value) if abs(value) > MAX_SAFE_INT else value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    return value


class NumpyJSONProvider(DefaultJSONProvider):
    """Flask's JSON provider, with the conversions above and ``allow_nan=False`` as a net."""

    sort_keys = False

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        kwargs.setdefault("allow_nan", False)
        kwargs.setdefault("default", self.default)
        kwargs.setdefault("sort_keys", self.sort_keys)
        return json.dumps(to_jsonable(obj), **kwargs)
