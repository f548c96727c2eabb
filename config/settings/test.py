"""The test suite. DATABASE_URL / REDIS_URL switch it to PostgreSQL and Redis."""

import os
import tempfile
from pathlib import Path

from config.settings.base import *  # noqa: F403
from config.settings.base import DATABASES

DEBUG = False
WHITENOISE_USE_FINDERS = True
STORAGES["staticfiles"] = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}  # noqa: F405
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# Every test session gets its own media folder and broker queue, so that a
# test's worker process and the test itself see the same files. Under
# pytest-xdist each of its processes is a session of its own (the folder the
# controller made is not theirs); a process a test starts inherits its test's.
_XDIST_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")
if os.environ.get("TEST_SESSION_OWNER", "") != _XDIST_WORKER:
    for inherited in ("TEST_SESSION_DIR", "CELERY_QUEUE"):
        os.environ.pop(inherited, None)
os.environ["TEST_SESSION_OWNER"] = _XDIST_WORKER
_SESSION_DIR = os.environ.get("TEST_SESSION_DIR") or tempfile.mkdtemp(prefix="modtest-")
os.environ["TEST_SESSION_DIR"] = _SESSION_DIR
MEDIA_ROOT = os.path.join(_SESSION_DIR, "media")
CELERY_TASK_DEFAULT_QUEUE = os.environ.setdefault("CELERY_QUEUE", f"test-{os.path.basename(_SESSION_DIR)}")
CELERY_TRAINING_QUEUE = CELERY_TASK_DEFAULT_QUEUE + "-training"
CELERY_WEBHOOK_QUEUE = CELERY_TASK_DEFAULT_QUEUE + "-webhooks"
CELERY_TASK_ROUTES = {
    "classifier.*": {"queue": CELERY_TRAINING_QUEUE},
    "moderation.deliver_webhook": {"queue": CELERY_WEBHOOK_QUEUE},
}
if CELERY_BROKER_URL.startswith("filesystem://"):  # noqa: F405
    CELERY_BROKER_TRANSPORT_OPTIONS = filesystem_broker_options(Path(_SESSION_DIR) / "broker")  # noqa: F405
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A file, not memory, so that a worker process can open the test database.
    DATABASES["default"]["TEST"] = {"NAME": os.path.join(_SESSION_DIR, "test.sqlite3")}
if os.environ.get("USE_TEST_DATABASE") == "1":
    # A worker process started by a test talks to the test's database.
    DATABASES["default"]["NAME"] = DATABASES["default"].get("TEST", {}).get("NAME") or (
        "test_" + DATABASES["default"]["NAME"]
    )
    if _XDIST_WORKER:  # pytest-django gives each xdist process its own database
        DATABASES["default"]["NAME"] += f"_{_XDIST_WORKER}"
CLASSIFIER_VERSION_CHECK_SECONDS = 0.0
BANK_CHECK_SECONDS = 0.0
HASH_INDEX_DIR = Path(_SESSION_DIR) / "hash_index"
SWEEP_STUCK_AFTER_SECONDS = 60
STATIC_ROOT = Path(_SESSION_DIR) / "static"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
WEBHOOK_ALLOW_PRIVATE_ADDRESSES = True
# Counters of another test session (its ids start at 1 again) must not be seen.
if "KEY_PREFIX" in CACHES["default"]:  # noqa: F405
    CACHES["default"]["KEY_PREFIX"] = f"moderation-{os.path.basename(_SESSION_DIR)}"  # noqa: F405
# QA sampling is random; tests that exercise it ask for a rate of 1.
QA_SAMPLE_RATE = 0.0
SECOND_REVIEW_RATE = 0.0
# The suite uploads in bursts; the flood tests set their own limits.
USER_UPLOAD_BURST_LIMIT = USER_UPLOAD_HOURLY_LIMIT = USER_UPLOAD_DAILY_QUOTA = 100_000
SIGNUP_PER_ADDRESS_HOURLY = SIGNUP_GLOBAL_HOURLY = 100_000
PASSWORD_RESET_PER_ADDRESS_HOURLY = PASSWORD_RESET_PER_EMAIL_HOURLY = PASSWORD_RESET_PER_ACCOUNT_HOURLY = 100_000
CUSTOM_CATEGORY_TRAIN_DEBOUNCE_SECONDS = 0.5
UPLOAD_BACKLOG_CHECK_SECONDS = 0.0  # every upload counts the backlog afresh
POLICY_CACHE_SECONDS = 0.0  # thresholds edited in a test apply to the next upload
# Partners' uploads get a public copy here (production makes none: nobody is
# served it), so that the suite's partner uploads keep exercising renditions.
PUBLIC_COPY_PARTNER_UPLOADS = True
# The real-photo model trains on 3 shipped photos of each kind: seconds, not a minute.
PHOTO_MODEL_SEED_PER_LABEL = 3
