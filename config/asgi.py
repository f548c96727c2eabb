"""ASGI entry point (the project runs under gunicorn's WSGI; this is for an
ASGI server such as uvicorn). The request body is capped while it arrives."""

import os

import django

# Production unless a machine says otherwise (make run, make test and .ci/run do).
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.production")
django.setup(set_prefix=False)

from moderation.limits import BodyCappedASGIHandler  # noqa: E402 - needs Django set up

application = BodyCappedASGIHandler()
