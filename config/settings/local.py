"""One laptop, no servers: SQLite, local media, the filesystem broker."""

from config.env import get_env
from config.settings.base import *  # noqa: F403

DEBUG = get_env("DJANGO_DEBUG", True, cast=bool)
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

# Static files are served from the source folders (finders); collectstatic is
# for production, but WhiteNoise still expects the folder to exist.
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # noqa: F405

WEBHOOK_ALLOW_PRIVATE_ADDRESSES = get_env("WEBHOOK_ALLOW_PRIVATE_ADDRESSES", True, cast=bool)

# Password-reset mail is written to files under var/mail (one per message),
# and shown on the console: no mail server on a laptop.
EMAIL_BACKEND = get_env("EMAIL_BACKEND", "django.core.mail.backends.filebased.EmailBackend")
EMAIL_FILE_PATH = VAR_DIR / "mail"  # noqa: F405
