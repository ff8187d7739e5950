"""WSGI entry point for gunicorn: ``gunicorn -c gunicorn.conf.py lab2_flask_celery.wsgi:app``."""

from lab2_flask_celery.app import create_app

app = create_app()
