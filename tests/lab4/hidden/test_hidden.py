"""Hidden checks (instructor-only): the same tasks, on inputs the public checks do not use."""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = [pytest.mark.slow, pytest.mark.integration]


@pytest.mark.task("4.1")
@pytest.mark.points(1)
def test_classify_signature_exported(exported, digits, keras_predict):
    import tensorflow as tf

    x, _ = digits
    fn = tf.saved_model.load(str(exported / "digits" / "1")).signatures["classify"]
    out = fn(image=tf.constant(x))
    assert out["classes"].dtype == tf.int64
    assert out["classes"].numpy().tolist() == keras_predict[1].argmax(1).tolist()


@pytest.mark.task("4.2")
@pytest.mark.points(1)
def test_rest_client_named_int_inputs(rest, digits, keras_predict, close):
    x, _ = digits
    pixels = np.rint(x * 16).astype(np.int32).reshape(len(x), 64)
    for columnar in (False, True):
        out = rest.predict("digits_raw", {"pixels": pixels}, columnar=columnar)
        assert out["classes"].tolist() == keras_predict[2].argmax(1).tolist()
        close(out["probabilities"], keras_predict[2], atol=1e-4)


@pytest.mark.task("4.3")
@pytest.mark.points(1)
def test_grpc_client_int_model(grpc_client, digits, keras_predict):
    x, _ = digits
    pixels = np.rint(x * 16).astype(np.int32).reshape(len(x), 64)
    out = grpc_client.predict("digits_raw", {"pixels": pixels})
    assert out["classes"].tolist() == keras_predict[2].argmax(1).tolist()
