"""Lab 3 — TorchServe."""
