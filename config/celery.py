"""The Celery application. Settings come from Django's, under the CELERY_ prefix."""

import os

from celery import Celery

# Production unless a machine says otherwise (make run, make test and .ci/run do).
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.production")

app = Celery("moderation_platform")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
