import os

from django.core.wsgi import get_wsgi_application

# Production unless a machine says otherwise (make run, make test and .ci/run do).
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.production")

application = get_wsgi_application()
