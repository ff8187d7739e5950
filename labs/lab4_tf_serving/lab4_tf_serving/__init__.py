"""Lab 4 — TensorFlow Serving: SavedModel export, REST and gRPC clients, and a TF-Serving-compatible
local stand-in server for machines where the real ``tensorflow_model_server`` cannot run."""

import os

# TensorFlow's C++ start-up chatter hides the lines students should read.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
