"""The models `make train` produced load through the verified loader and are accurate enough."""

import numpy as np

from course_models.artifacts import load_artifact
from course_models.cnn import predict_digits
from course_models.datasets import load_digits_split


def test_every_artifact_verifies(trained_artifacts):
    for name, version in [("churn", 1), ("churn", 2), ("digits_cnn", 1), ("digits_cnn", 2)]:
        art = load_artifact(name, version, trained_artifacts)
        assert art.metadata["name"] == name and art.version == version


def test_cnn_reaches_course_accuracy(trained_artifacts):
    art = load_artifact("digits_cnn", 2, trained_artifacts)
    _, x_test, _, y_test = load_digits_split()
    acc = float((predict_digits(art.model, x_test).argmax(1).numpy() == y_test).mean())
    assert acc >= 0.9
    assert np.isclose(acc, art.metadata["metrics"]["accuracy"], atol=1e-4)
