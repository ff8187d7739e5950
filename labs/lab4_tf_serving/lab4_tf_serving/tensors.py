"""Request tensors: TF Serving's JSON rules for REST, and the checks both APIs share before a run.

Error texts follow tensorflow_serving/util/json_tensor.cc and servables/tensorflow/predict_util.cc
so that a client written against the stand-in sees the messages the real server sends. Large
requests take a NumPy fast path; the element-by-element walk (which produces the messages) runs
only when the fast path finds something wrong.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

import numpy as np
import tensorflow as tf
from tensorflow.core.framework import types_pb2

from lab4_tf_serving.core import Servable, invalid
from lab4_tf_serving.savedmodel import short_dtype

INT_RANGES = {
    types_pb2.DT_INT8: (-(2**7), 2**7 - 1),
    types_pb2.DT_UINT8: (0, 2**8 - 1),
    types_pb2.DT_INT16: (-(2**15), 2**15 - 1),
    types_pb2.DT_INT32: (-(2**31), 2**31 - 1),
    types_pb2.DT_INT64: (-(2**63), 2**63 - 1),
    types_pb2.DT_UINT32: (0, 2**32 - 1),
    types_pb2.DT_UINT64: (0, 2**64 - 1),
}
FLOATS = (types_pb2.DT_FLOAT, types_pb2.DT_DOUBLE, types_pb2.DT_HALF)
FLOAT32_MAX = float(np.finfo(np.float32).max)


def numpy_dtype(dtype: int):
    return tf.dtypes.as_dtype(dtype).as_numpy_dtype


def _js(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def json_type(value: Any) -> str:
    if value is None:
        return "Null"
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, dict):
        return "Object"
    if isinstance(value, list):
        return "Array"
    if isinstance(value, str):
        return "String"
    return "Number"


def _type_error(value: Any, dtype: int):
    return invalid(
        f"JSON Value: {_js(value)} Type: {json_type(value)} is not of expected type: "
        f"{short_dtype(dtype)}"
    )


def is_b64(value: Any) -> bool:
    """json_tensor.cc ``IsValBase64Object``: ``{"b64": "<base64>"}`` and nothing else."""
    return isinstance(value, dict) and len(value) == 1 and isinstance(value.get("b64"), str)


def _b64_decode(value: Any) -> bytes:
    if not is_b64(value):
        raise invalid(f"JSON Value: {_js(value)} not formatted correctly for base64 data")
    try:
        return base64.b64decode(value["b64"], validate=True)
    except (binascii.Error, ValueError):
        raise invalid("Unable to base64 decode") from None


def _string_leaves(value: Any) -> Any:
    """DT_STRING values as bytes: JSON strings as UTF-8, ``{"b64": ...}`` objects decoded."""
    if isinstance(value, list):
        return [_string_leaves(v) for v in value]
    if isinstance(value, dict):
        return _b64_decode(value)
    return value.encode()


def _check_float(value: Any, dtype: int) -> None:
    if not (isinstance(value, int | float) and not isinstance(value, bool)):
        raise _type_error(value, dtype)
    if dtype == types_pb2.DT_FLOAT and np.isfinite(value) and abs(value) > FLOAT32_MAX:
        raise invalid(
            f"Cannot convert JSON value: {_js(value)} to float without loss of precision."
        )


def _check_int(value: Any, dtype: int) -> None:
    lo, hi = INT_RANGES[dtype]
    if not (isinstance(value, int) and not isinstance(value, bool) and lo <= value <= hi):
        raise _type_error(value, dtype)


def _check_bool(value: Any, dtype: int) -> None:
    if not isinstance(value, bool):
        raise _type_error(value, dtype)


def _check_string(value: Any, dtype: int) -> None:
    if isinstance(value, dict):
        _b64_decode(value)
    elif not isinstance(value, str):
        raise _type_error(value, dtype)


def _check_leaf(value: Any, dtype: int) -> None:
    if dtype in FLOATS:
        _check_float(value, dtype)
    elif dtype in INT_RANGES:
        _check_int(value, dtype)
    elif dtype == types_pb2.DT_BOOL:
        _check_bool(value, dtype)
    elif dtype == types_pb2.DT_STRING:
        _check_string(value, dtype)
    else:
        raise invalid(f"Conversion of JSON Value: {_js(value)} to type: {short_dtype(dtype)}")


def _dense_shape(value: Any) -> list[int]:
    shape = []
    while isinstance(value, list):
        shape.append(len(value))
        if not value:
            break
        value = value[0]
    return shape


def _walk(value: Any, level: int, shape: list[int], dtype: int) -> None:
    """json_tensor.cc's FillTensorProto: every leaf at depth == rank, every list full size."""
    rank = len(shape)
    if not isinstance(value, list):
        if level != rank:
            raise invalid(
                f"JSON Value: {_js(value)} found at incorrect level: {level + 1} in the JSON DOM. "
                f"Expected at level: {rank}"
            )
        _check_leaf(value, dtype)
        return
    if level >= rank:
        raise invalid(f"Encountered list at unexpected level: {level} expected < {rank}")
    if len(value) != shape[level]:
        raise invalid(
            f"Encountered list at unexpected size: {len(value)} at level: {level} "
            f"expected size: {shape[level]}"
        )
    for item in value:
        _walk(item, level + 1, shape, dtype)


def _fast_ok(array: np.ndarray, dtype: int) -> bool:
    kind = array.dtype.kind
    if dtype in FLOATS:
        if kind not in "iuf":
            return False
        return not (
            dtype == types_pb2.DT_FLOAT
            and kind == "f"
            and array.size
            and np.nanmax(np.where(np.isinf(array), 0, np.abs(array))) > FLOAT32_MAX
        )
    if dtype in INT_RANGES:
        if kind not in "iu":
            return array.size == 0
        lo, hi = INT_RANGES[dtype]
        return not array.size or (array.min() >= lo and array.max() <= hi)
    if dtype == types_pb2.DT_BOOL:
        return kind == "b"
    return False


def json_to_array(value: Any, dtype: int) -> np.ndarray:
    """One named tensor from its nested-list JSON form, typed as the signature says."""
    target = numpy_dtype(dtype)
    if dtype != types_pb2.DT_STRING and not isinstance(value, dict):
        try:
            array = np.asarray(value)
        except (ValueError, TypeError):
            array = None
        if array is not None and array.dtype != object and _fast_ok(array, dtype):
            return array.astype(target, copy=False)
    if dtype == types_pb2.DT_STRING and is_b64(value):
        return np.asarray(_b64_decode(value), dtype=object)  # a scalar string tensor
    if isinstance(value, dict):
        raise _type_error(value, dtype)
    shape = _dense_shape(value)
    _walk(value, 0, shape, dtype)
    if dtype == types_pb2.DT_STRING:
        flat = np.empty(int(np.prod(shape)) if shape else 1, dtype=object)
        flat[:] = list(_flatten(_string_leaves(value)))
        return flat.reshape(shape)
    return np.asarray(value, dtype=target)


def _flatten(value: Any):
    if isinstance(value, list):
        for v in value:
            yield from _flatten(v)
    else:
        yield value


def parse_body(body: bytes) -> dict:
    if not body:
        raise invalid("JSON Parse error: The document is empty")
    try:
        doc = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        msg = getattr(exc, "msg", str(exc))
        pos = getattr(exc, "pos", 0)
        raise invalid(f"JSON Parse error: {msg} at offset: {pos}") from exc
    if not isinstance(doc, dict):
        raise invalid(f"JSON Value: {_js(doc)[:200]} Is not object")
    signature = doc.get("signature_name", "")
    if not isinstance(signature, str):
        raise invalid(
            f"JSON Value: {_js(doc)[:200]} not formatted correctly. 'signature_name' key must be "
            "a string value."
        )
    return doc


def short_json(doc: Any) -> str:
    text = _js(doc)
    return text if len(text) < 200 else text[:200] + "..."


def request_inputs(doc: dict, tensor_infos) -> tuple[dict[str, np.ndarray], str]:
    """``instances`` (row) or ``inputs`` (columnar) -> named arrays; returns (inputs, format)."""
    if "instances" in doc and "inputs" in doc:
        raise invalid(
            f"JSON Value: {short_json(doc)} Not formatted correctly expecting only one of 'inputs' "
            "or 'instances' keys to exist "
        )
    names = sorted(tensor_infos)
    if "instances" in doc:
        instances = doc["instances"]
        if not isinstance(instances, list):
            raise invalid(
                f"JSON Value: {short_json(doc)} Excepting 'instances' to be an list/array"
            )
        if not instances:
            raise invalid(f"JSON Value: {short_json(doc)} No values in 'instances' array")
        return _from_instances(instances, tensor_infos, names), "row"
    if "inputs" in doc:
        value = doc["inputs"]
        if not isinstance(value, dict) or is_b64(value):
            if len(names) > 1:
                raise invalid(
                    "inputs is a plain value/list, but expecting an object as multiple input "
                    "tensors required as per tensorinfo_map"
                )
            return {names[0]: json_to_array(value, tensor_infos[names[0]].dtype)}, "columnar"
        out = {}
        for name in names:
            if name not in value:
                raise invalid(f"Missing named input: {name} in 'inputs' object.")
            out[name] = json_to_array(value[name], tensor_infos[name].dtype)
        return out, "columnar"
    raise invalid("Missing 'inputs' or 'instances' key")


def _is_named_row(value: Any) -> bool:
    """An object of named inputs, not a ``{"b64": ...}`` value (json_tensor.cc)."""
    return isinstance(value, dict) and not is_b64(value)


def _from_instances(instances: list, tensor_infos, names: list[str]) -> dict[str, np.ndarray]:
    if _is_named_row(instances[0]):
        return _from_named_rows(instances, tensor_infos, names)
    if len(names) > 1:
        raise invalid(
            "instances is a plain list, but expecting list of objects as multiple input "
            "tensors required as per tensorinfo_map"
        )
    name = names[0]
    dtype = tensor_infos[name].dtype
    try:
        return {name: json_to_array(instances, dtype)}
    except Exception as exc:
        _explain_bad_instance(instances, dtype)  # say which element was wrong, as TF Serving
        raise exc from None


def _explain_bad_instance(instances: list, dtype: int) -> None:
    for i, elem in enumerate(instances):
        if _is_named_row(elem):
            raise invalid(f"Expecting value/list but got object at item {i} of input list")
        try:
            json_to_array(elem, dtype)
        except Exception as inner:
            raise invalid(
                f"Failed to process element: {i} of 'instances' list. Error: "
                f"INVALID_ARGUMENT: {getattr(inner, 'message', inner)}"
            ) from None
    first = _dense_shape(instances[0])
    for i, elem in enumerate(instances):
        if _dense_shape(elem) != first:
            raise invalid(
                f"Failed to process element: {i} of 'instances' list. Error: "
                f"INVALID_ARGUMENT: Expecting shape {_shape_str(first)} but got: "
                f"{_shape_str(_dense_shape(elem))}"
            )


def _from_named_rows(instances: list, tensor_infos, names: list[str]) -> dict[str, np.ndarray]:
    columns: dict[str, list] = {name: [] for name in names}
    for i, elem in enumerate(instances):
        if not _is_named_row(elem):
            raise invalid(f"Expecting object but got list at item {i} of input list")
        unknown = [key for key in elem if key not in tensor_infos]
        if unknown:
            raise invalid(
                f"Failed to process element: {i} key: {unknown[0]} of 'instances' list. Error: "
                f"INVALID_ARGUMENT: JSON object: does not have named input: {unknown[0]}"
            )
        if set(elem) != set(names):
            raise invalid(
                f"Failed to process element: {i} of 'instances' list. JSON object: "
                f"{_js(elem)[:200]} keys must be equal to: {','.join(names)}"
            )
        for key, value in elem.items():
            columns[key].append(value)
    return {name: json_to_array(columns[name], tensor_infos[name].dtype) for name in names}


def _shape_str(shape) -> str:
    return "[" + ",".join(str(d) for d in shape) + "]"


def run_predict(
    servable: Servable,
    signature_name: str,
    inputs: dict[str, np.ndarray],
    output_filter: list[str] | None = None,
) -> tuple[str, dict[str, np.ndarray]]:
    """predict_util.cc's checks, then one call of the SavedModel's signature function."""
    sigdef, fn = servable.signature(signature_name)
    expected = sorted(sigdef.inputs)
    sent = sorted(inputs)
    if len(sent) > len(expected) or len(sent) < len(expected):
        extra = sorted(set(sent) - set(expected))
        missing = sorted(set(expected) - set(sent))
        raise invalid(
            f"input size does not match signature: {len(sent)}!={len(expected)} "
            f"len({{{','.join(sent)}}}) != len({{{','.join(expected)}}}). "
            f"Sent extra: {{{','.join(extra)}}}. Missing but required: {{{','.join(missing)}}}."
        )
    feeds = {}
    for index, name in enumerate(expected):
        if name not in inputs:
            raise invalid(
                f"input tensor alias not found in signature: {sent[index]}. Inputs expected to be "
                f"in the set {{{','.join(expected)}}}."
            )
        info = sigdef.inputs[name]
        array = inputs[name]
        want = numpy_dtype(info.dtype)
        if array.dtype != want:
            got = short_dtype(tf.dtypes.as_dtype(array.dtype).as_datatype_enum)
            raise invalid(
                f"Expects arg[{index}] to be {short_dtype(info.dtype)} but {got} is provided"
            )
        if not info.tensor_shape.unknown_rank:
            dims = [d.size for d in info.tensor_shape.dim]
            if len(dims) != array.ndim or any(
                d >= 0 and d != s for d, s in zip(dims, array.shape, strict=False)
            ):
                raise invalid(
                    f"input '{name}' has shape {_shape_str(array.shape)} but signature "
                    f"'{signature_name or 'serving_default'}' expects {_shape_str(dims)} "
                    "(-1 = any size)"
                )
        feeds[name] = tf.constant(array)
    wanted = list(output_filter or [])
    for alias in wanted:
        if alias not in sigdef.outputs:
            raise invalid(
                f"output tensor alias not found in signature: {alias} Outputs expected to be in "
                f"the set {{{','.join(sorted(sigdef.outputs))}}}."
            )
    if len(set(wanted)) != len(wanted):
        raise invalid("duplicate output tensor alias: " + wanted[0])
    result = fn(**feeds)
    names = wanted or sorted(result)
    return signature_name or "serving_default", {n: result[n].numpy() for n in names}


def outputs_to_json(outputs: dict[str, np.ndarray], fmt: str) -> dict[str, Any]:
    """``predictions`` (row) or ``outputs`` (columnar); one output drops its name."""
    lists = {k: _tolist(v, as_b64=k.endswith("_bytes")) for k, v in outputs.items()}
    if fmt == "columnar":
        return {"outputs": next(iter(lists.values())) if len(lists) == 1 else lists}
    if len(lists) == 1:
        return {"predictions": next(iter(lists.values()))}
    batch = None
    for name, value in outputs.items():
        size = value.shape[0] if value.ndim else -1
        if batch is None:
            batch = size
        elif size != batch:
            raise invalid(
                f"Tensor name: {name} has inconsistent batch size: {size} expecting: {batch}"
            )
    return {"predictions": [{k: lists[k][i] for k in lists} for i in range(batch or 0)]}


def _tolist(array: np.ndarray, as_b64: bool = False):
    """String tensors: ``{"b64": ...}`` when the alias ends in ``_bytes`` (json_tensor.cc's
    ``IsNamedTensorBytes``), else the text."""
    if array.dtype != object:
        return array.tolist()

    def encode(value: Any) -> Any:
        if isinstance(value, list):
            return [encode(v) for v in value]
        if as_b64:
            return {"b64": base64.b64encode(value).decode()}
        return value.decode("utf-8", "replace") if isinstance(value, bytes) else value

    return encode(array.tolist())
