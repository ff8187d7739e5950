"""A small Keras model for the digits (lab 4 exports it as a SavedModel for TF Serving)."""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
from collections.abc import Iterator

# TensorFlow's C++ start-up lines (oneDNN, CUDA stubs, cuInit, CPU features) are written to the
# process's stderr before absl is initialised, so TF_CPP_MIN_LOG_LEVEL does not hide them.
_NATIVE_NOISE = re.compile(
    r"^(WARNING: All log messages before absl::InitializeLog|"
    r"[IWE]\d{4} .*\] .*(oneDNN|cuda|CUDA|cuInit|cuDNN|cuBLAS|cuFFT|TensorRT|CPU instructions)|"
    r"To enable the following instructions|"
    r"WARNING: Logging before InitGoogle)"
)
TF_LOGS_ENV = "COURSE_TF_LOGS"  # =1 shows TensorFlow's native start-up logs


@contextlib.contextmanager
def quiet_native_logs() -> Iterator[None]:
    """Hold fd 2 while TensorFlow starts; replay every line but its known start-up noise."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if os.environ.get(TF_LOGS_ENV) == "1":
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            kept = [
                line
                for line in capture.read().decode(errors="replace").splitlines(keepends=True)
                if not _NATIVE_NOISE.match(line)
            ]
            sys.stderr.write("".join(kept))
            sys.stderr.flush()


def train_keras(x_train, y_train, seed: int, epochs: int, hidden: int = 64):
    with quiet_native_logs():
        import keras

        keras.utils.set_random_seed(seed)
        model = keras.Sequential(
            [
                keras.Input(shape=(8, 8), name="image"),
                keras.layers.Reshape((8, 8, 1)),
                keras.layers.Conv2D(16, 3, padding="same", activation="relu"),
                keras.layers.MaxPooling2D(2),
                keras.layers.Flatten(),
                keras.layers.Dense(hidden, activation="relu"),
                keras.layers.Dense(10, activation="softmax", name="probabilities"),
            ],
            name="digits",
        )
        model.compile(
            optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"]
        )
    model.fit(x_train, y_train, epochs=epochs, batch_size=64, verbose=0, shuffle=True)
    return model
