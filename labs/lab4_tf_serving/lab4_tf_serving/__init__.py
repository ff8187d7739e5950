"""Lab 4 — TensorFlow Serving: SavedModel export, REST and gRPC clients, and a TF-Serving-compatible
local stand-in server for machines where the real ``tensorflow_model_server`` cannot run."""

from lab4_tf_serving.quiet import install_quiet_tensorflow

install_quiet_tensorflow()  # before any lab module imports TensorFlow
