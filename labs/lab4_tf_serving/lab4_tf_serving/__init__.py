"""Lab 4 — TensorFlow Serving."""
