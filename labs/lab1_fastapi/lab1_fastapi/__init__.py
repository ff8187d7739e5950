"""Lab 1 — FastAPI."""
