"""Lab 1 — FastAPI: the churn model behind a validated, versioned, observable HTTP API.

``create_app`` (app.py) is the entry point; ``python -m lab1_fastapi`` runs it under uvicorn.
"""
