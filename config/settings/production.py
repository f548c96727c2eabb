"""Many machines: PostgreSQL, Redis, S3. Secrets have no defaults."""

from config.env import get_env
from config.settings.base import *  # noqa: F403

DEBUG = False
SECRET_KEY = get_env("DJANGO_SECRET_KEY")
ALLOWED_HOSTS = get_env("DJANGO_ALLOWED_HOSTS").split(",")


def _token(name: str) -> str:
    value = get_env(name).strip()
    if not value:
        raise RuntimeError(f"The environment variable {name} must be set (and not empty).")
    return value


# No defaults: /metrics and the detail of /health/ are only for whoever holds these.
METRICS_TOKEN = _token("METRICS_TOKEN")
HEALTH_TOKEN = _token("HEALTH_TOKEN")
CSRF_TRUSTED_ORIGINS = [o for o in get_env("DJANGO_CSRF_TRUSTED_ORIGINS", "").split(",") if o]

SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = get_env("DJANGO_SECURE_SSL_REDIRECT", True, cast=bool)
SECURE_HSTS_SECONDS = get_env("DJANGO_SECURE_HSTS_SECONDS", 60 * 60 * 24 * 30, cast=int)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
X_FRAME_OPTIONS = "DENY"
LOG_FORMAT = get_env("LOG_FORMAT", "json")
LOGGING["handlers"]["console"]["formatter"] = LOG_FORMAT  # noqa: F405
STORAGES["staticfiles"] = {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"}  # noqa: F405
