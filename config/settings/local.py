"""One laptop, no servers: SQLite, local media, the filesystem broker."""

from config.settings.base import *  # noqa: F403
from config.env import get_env

DEBUG = get_env("DJANGO_DEBUG", True, cast=bool)
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG
