"""Reading a SavedModel's signatures from ``saved_model.pb`` (what ``saved_model_cli`` reads)."""

from __future__ import annotations

from pathlib import Path

from tensorflow.core.framework import types_pb2
from tensorflow.core.protobuf import meta_graph_pb2, saved_model_pb2

SERVE_TAG = "serve"
DEFAULT_SIGNATURE = "serving_default"


def read_meta_graph(version_dir: str | Path, tag: str = SERVE_TAG) -> meta_graph_pb2.MetaGraphDef:
    path = Path(version_dir) / "saved_model.pb"
    if not path.is_file():
        raise FileNotFoundError(f"SavedModel file does not exist at: {path}")
    model = saved_model_pb2.SavedModel()
    model.ParseFromString(path.read_bytes())
    for meta_graph in model.meta_graphs:
        if tag in meta_graph.meta_info_def.tags:
            return meta_graph
    raise LookupError(f"no MetaGraphDef with tag-set {tag!r} in {path}")


def dtype_name(dtype: int) -> str:
    """``DT_FLOAT`` style, as saved_model_cli and the metadata JSON print it."""
    return types_pb2.DataType.Name(dtype)


def short_dtype(dtype: int) -> str:
    """TensorFlow's DataTypeString (``float``, ``int32``): the spelling in TF Serving's errors."""
    return {
        types_pb2.DT_FLOAT: "float",
        types_pb2.DT_DOUBLE: "double",
        types_pb2.DT_HALF: "half",
    }.get(dtype, types_pb2.DataType.Name(dtype).removeprefix("DT_").lower())


def shape_of(tensor_info) -> tuple[int, ...] | None:
    shape = tensor_info.tensor_shape
    return None if shape.unknown_rank else tuple(d.size for d in shape.dim)


def describe(version_dir: str | Path) -> dict[str, dict]:
    """``{signature: {"method": ..., "inputs": {name: (dtype, shape)}, "outputs": {...}}}``."""
    meta_graph = read_meta_graph(version_dir)
    out: dict[str, dict] = {}
    for key, sig in sorted(meta_graph.signature_def.items()):
        out[key] = {
            "method": sig.method_name,
            "inputs": {
                n: (dtype_name(t.dtype), shape_of(t)) for n, t in sorted(sig.inputs.items())
            },
            "outputs": {
                n: (dtype_name(t.dtype), shape_of(t)) for n, t in sorted(sig.outputs.items())
            },
        }
    return out


def show_all(version_dir: str | Path) -> str:
    """The text ``saved_model_cli show --dir DIR --all`` prints for the signatures."""
    meta_graph = read_meta_graph(version_dir)
    tags = ", ".join(sorted(meta_graph.meta_info_def.tags))
    lines = [f"MetaGraphDef with tag-set: '{tags}' contains the following SignatureDefs:", ""]
    for key, sig in sorted(meta_graph.signature_def.items()):
        lines.append(f"signature_def['{key}']:")
        for direction, tensors in (("input", sig.inputs), ("output", sig.outputs)):
            lines.append(
                f"  The given SavedModel SignatureDef contains the following {direction}(s):"
            )
            for name, info in sorted(tensors.items()):
                shape = shape_of(info)
                shape_str = "unknown_rank" if shape is None else str(shape).replace(",)", ")")
                lines += [
                    f"    {direction}s['{name}'] tensor_info:",
                    f"        dtype: {dtype_name(info.dtype)}",
                    f"        shape: {shape_str}",
                    f"        name: {info.name}",
                ]
        lines += [f"  Method name is: {sig.method_name}", ""]
    return "\n".join(lines)


def version_dirs(base_path: str | Path) -> list[int]:
    base = Path(base_path)
    if not base.is_dir():
        return []
    return sorted(int(p.name) for p in base.iterdir() if p.is_dir() and p.name.isdigit())
