"""``:classify`` and ``:regress``: the real server's answers for signatures that cannot take them.

The course's models export predict signatures only (``tf.saved_model.save`` writes every
signature with method ``tensorflow/serving/predict``). TF Serving parses the request, finds the
servable and then refuses the signature with INVALID_ARGUMENT (HTTP 400); the checks and their
messages follow servables/tensorflow/classifier.cc and regressor.cc
(``GetClassificationSignatureDef`` / ``PreProcessClassification``; with
``--enable_signature_method_name_check`` the method name is checked first). A signature that
passes them would need ``tf.Example`` inputs, which the stand-in does not implement: that one
case answers UNIMPLEMENTED (501).
"""

from __future__ import annotations

import grpc

from lab4_tf_serving import tensors
from lab4_tf_serving.core import ServerCore, ServingError, invalid
from lab4_tf_serving.savedmodel import DEFAULT_SIGNATURE

CLASSIFY_METHOD = "tensorflow/serving/classify"
REGRESS_METHOD = "tensorflow/serving/regress"
NOUNS = {"classify": "classification", "regress": "regression"}


def parse_examples_body(body: bytes) -> dict:
    """json_tensor.cc ``FillClassifyRegressRequestFromJson``: the shape of the request only."""
    doc = tensors.parse_body(body)
    short = tensors.short_json(doc)
    if "context" in doc and not isinstance(doc["context"], dict):
        raise invalid(
            f"Example must be JSON object but got JSON {tensors.json_type(doc['context'])}"
        )
    if "examples" not in doc:
        raise invalid(
            f"JSON Value: {short} When method is classify, key 'examples' is expected and was "
            "not found"
        )
    examples = doc["examples"]
    if not isinstance(examples, list):
        raise invalid(f"JSON Value: {short} Expecting 'examples' value to be an list/array")
    if not examples:
        raise invalid(f"JSON Value: {short} 'examples' value is an empty array")
    for example in examples:
        if not isinstance(example, dict):
            raise invalid(f"Example must be JSON object but got JSON {tensors.json_type(example)}")
    return doc


def check_signature(sigdef, method: str, name_check: bool) -> None:
    """Raise the real server's INVALID_ARGUMENT for a signature ``method`` cannot use."""
    want = CLASSIFY_METHOD if method == "classify" else REGRESS_METHOD
    noun = NOUNS[method]
    if name_check and sigdef.method_name != want:
        raise invalid(
            f"Expected {noun} signature method_name to be {want}. Was: {sigdef.method_name}"
        )
    if len(sigdef.inputs) != 1:
        raise invalid("Expected one input Tensor.")
    outputs = len(sigdef.outputs)
    if method == "classify" and outputs not in (1, 2):
        raise invalid(f"Expected one or two output Tensors, found {outputs}")
    if method == "regress" and outputs != 1:
        raise invalid("Expected one output Tensor.")
    if "inputs" not in sigdef.inputs:
        raise invalid(f"No {noun} inputs found in SignatureDef: {sigdef}")
    if method == "classify" and not {"classes", "scores"} & set(sigdef.outputs):
        raise invalid(
            'Expected classification signature outputs to contain at least one of "classes" or '
            f'"scores". Signature was: {sigdef}'
        )
    if method == "regress" and "outputs" not in sigdef.outputs:
        raise invalid(f"No regression outputs found in SignatureDef: {sigdef}")


def refuse(core: ServerCore, method: str, name: str, version, label: str, signature: str):
    """Find the servable and signature as the real server does; always raises."""
    servable = core.servable(name, version, label)
    key = signature or DEFAULT_SIGNATURE
    if key not in servable.meta_graph.signature_def:
        raise invalid(f"No signature was found with the name: {key}")
    check_signature(servable.meta_graph.signature_def[key], method, core.method_name_check)
    raise ServingError(
        grpc.StatusCode.UNIMPLEMENTED,
        f"{method} with tf.Example inputs is not implemented by the lab 4 stand-in (use :predict)",
    )


def classify_or_regress_json(
    core: ServerCore, method: str, name: str, version, label: str, body: bytes
) -> str:
    doc = parse_examples_body(body)
    refuse(core, method, name, version, label, doc.get("signature_name", ""))
    return ""  # not reached: refuse() raises
