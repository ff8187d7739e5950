"""Lab 2 — Flask + Gunicorn + Celery/Redis."""
