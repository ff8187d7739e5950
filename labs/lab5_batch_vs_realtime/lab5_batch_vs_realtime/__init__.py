"""Lab 5 — Batch vs real-time."""
