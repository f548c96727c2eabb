"""Settings shared by every environment. Each value that differs between
machines is read from the environment through `config.env.get_env`."""

from pathlib import Path

import dj_database_url

from config.env import get_env

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = Path(get_env("VAR_DIR", str(BASE_DIR / "var")))

SECRET_KEY = get_env("DJANGO_SECRET_KEY", "insecure-local-key-change-me")
DEBUG = get_env("DJANGO_DEBUG", False, cast=bool)
ALLOWED_HOSTS = [h for h in get_env("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost").split(",") if h]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "axes",
    "django_prometheus",
    "classifier",
    "moderation",
]

MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    # Refuses oversized or unsized bodies before anything reads them.
    "moderation.limits.RequestBodyLimitMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Refuses sign-in after repeated failures (django-axes); last, as its docs ask.
    "axes.middleware.AxesMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = get_env("AXES_FAILURE_LIMIT", 5, cast=int)
AXES_COOLOFF_TIME = get_env("AXES_COOLOFF_HOURS", 1, cast=float)  # hours
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
# The site's styled 429 page, saying how long the lock lasts (the cool-off above).
AXES_LOCKOUT_CALLABLE = "moderation.account_views.lockout_response"
# Addresses/networks of our own reverse proxies and load balancers. Only a
# request from one of them has its X-Forwarded-For read (from the right); the
# failure counter then keys on the real client, username and address together.
TRUSTED_PROXIES = [p.strip() for p in get_env("TRUSTED_PROXIES", "").split(",") if p.strip()]
AXES_CLIENT_IP_CALLABLE = "moderation.client_address.client_address"

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "moderation.uploader_views.navigation",
            ],
        },
    },
]

# --- Database: SQLite on one machine, anything dj-database-url reads elsewhere.
SQLITE_PATH = VAR_DIR / "db.sqlite3"
DATABASES = {
    "default": dj_database_url.parse(
        get_env("DATABASE_URL", f"sqlite:///{SQLITE_PATH}"),
        conn_max_age=get_env("DATABASE_CONN_MAX_AGE", 60, cast=int),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" and get_env("DATABASE_APPLICATION_NAME", ""):
    # Names the connection in pg_stat_activity (operations, and the fault tests).
    DATABASES["default"].setdefault("OPTIONS", {})["application_name"] = get_env("DATABASE_APPLICATION_NAME")
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    # Web, worker and beat share the file: WAL lets readers run beside a
    # writer, IMMEDIATE transactions take the write lock up front instead of
    # failing with "database is locked" on upgrade, and the timeout waits out
    # a short write by another process.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "feed"
# Password-reset mail (Django's flow under /accounts/password_reset/). Local
# settings write it to files; production sends through EMAIL_HOST (SMTP).
DEFAULT_FROM_EMAIL = get_env("DEFAULT_FROM_EMAIL", "moderation@localhost")
EMAIL_HOST = get_env("EMAIL_HOST", "localhost")
EMAIL_PORT = get_env("EMAIL_PORT", 25, cast=int)
PASSWORD_RESET_TIMEOUT = get_env("PASSWORD_RESET_TIMEOUT_SECONDS", 60 * 60 * 24, cast=int)

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Files: local disk by default, S3 through django-storages when configured.
STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_ROOT = Path(get_env("MEDIA_ROOT", str(VAR_DIR / "media")))
MEDIA_URL = "/media/"

_default_storage = {"BACKEND": "django.core.files.storage.FileSystemStorage"}
AWS_STORAGE_BUCKET_NAME = get_env("AWS_STORAGE_BUCKET_NAME", "")
if AWS_STORAGE_BUCKET_NAME:
    _default_storage = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": AWS_STORAGE_BUCKET_NAME,
            "endpoint_url": get_env("AWS_S3_ENDPOINT_URL", None),
            "region_name": get_env("AWS_S3_REGION_NAME", None),
            "default_acl": None,
            "querystring_auth": True,
            "querystring_expire": get_env("AWS_QUERYSTRING_EXPIRE", 300, cast=int),
            "file_overwrite": False,
        },
    }
STORAGES = {
    "default": _default_storage,
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

# --- Celery. Without a broker URL the embedded filesystem transport is used,
# so one machine needs no daemon; CELERY_BROKER_URL or REDIS_URL switch to Redis.
REDIS_URL = get_env("REDIS_URL", "")
CELERY_BROKER_URL = get_env("CELERY_BROKER_URL", REDIS_URL or "filesystem://")


def filesystem_broker_options(folder: Path) -> dict:
    """kombu's filesystem transport: a folder of message files, no daemon."""
    (folder / "queue").mkdir(parents=True, exist_ok=True)
    (folder / "processed").mkdir(parents=True, exist_ok=True)
    (folder / "control").mkdir(parents=True, exist_ok=True)
    return {
        "data_folder_in": str(folder / "queue"),
        "data_folder_out": str(folder / "queue"),
        "processed_folder": str(folder / "processed"),
        # Exchange-to-queue bindings; kombu's default is ./control, i.e. the
        # working directory (which then filled the repository with files).
        "control_folder": str(folder / "control"),
        "store_processed": False,
        # How often an idle worker looks for new message files.
        "polling_interval": 0.2,
    }


if CELERY_BROKER_URL.startswith("filesystem://"):
    CELERY_BROKER_TRANSPORT_OPTIONS = filesystem_broker_options(VAR_DIR / "broker")
else:
    # A task whose worker died is redelivered after this long (must exceed
    # the longest task, training included).
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": get_env("CELERY_VISIBILITY_TIMEOUT", 3600, cast=int)}
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
# One task per worker process at a time, so that scaled-out workers share a
# Redis queue fairly. kombu's filesystem transport has no event loop: Celery
# polls it in blocking 2 s turns and sends acks between turns, so a limit of
# one task per process let a laptop's worker take two uploads every 2 s. One
# machine has no one to share with, so there a process may hold 16. (That
# broker deletes a message's file when it hands the message over: a worker
# killed outright loses what it held, and the sweeper re-queues those uploads
# after SWEEP_STUCK_AFTER_SECONDS.)
CELERY_WORKER_PREFETCH_MULTIPLIER = 16 if CELERY_BROKER_URL.startswith("filesystem://") else 1
CELERY_TASK_TIME_LIMIT = 30 * 60
CELERY_TASK_SOFT_TIME_LIMIT = 25 * 60
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TIMEZONE = TIME_ZONE
CELERY_TASK_DEFAULT_QUEUE = get_env("CELERY_QUEUE", "moderation")
CELERY_TRAINING_QUEUE = get_env("CELERY_TRAINING_QUEUE", "training")
# Webhook deliveries wait on partners' servers: their own workers, so they never
# hold a classification slot.
CELERY_WEBHOOK_QUEUE = get_env("CELERY_WEBHOOK_QUEUE", "webhooks")
CELERY_TASK_ROUTES = {
    "classifier.*": {"queue": CELERY_TRAINING_QUEUE},
    "moderation.deliver_webhook": {"queue": CELERY_WEBHOOK_QUEUE},
}

# --- Cache: rate-limit counters are shared through it, so Redis wherever
# several web processes run.
CACHES = {
    "default": (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL, "KEY_PREFIX": "moderation"}
        if REDIS_URL
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    )
}

# --- API
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "moderation.api.authentication.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "EXCEPTION_HANDLER": "moderation.api.errors.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    "DEFAULT_THROTTLE_CLASSES": ["moderation.api.throttling.RateLimitThrottle"],
    # JSON only, as docs/api.md says: any other Accept is 406 `not_acceptable`
    # (people read the API at /api/docs/, not through DRF's browsable pages).
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Image moderation API",
    "DESCRIPTION": "Submit images for moderation, read verdicts, appeal rejections, register signed webhooks.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # The upload's status in both its shapes (201/200 and 202) is one enum, under its earlier name.
    "ENUM_NAME_OVERRIDES": {"UploadOutputStatusEnum": "moderation.models.UploadStatus"},
    # The guide's keys, limits, webhooks and errors sections, and the webhook event's shape.
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums", "moderation.api.schema.describe"],
}

# Prometheus scrapes /metrics with this bearer token (unset: /metrics answers
# nobody). /health/ tells anyone ok/fail; its detail needs HEALTH_TOKEN.
# Production refuses to start without either.
METRICS_TOKEN = get_env("METRICS_TOKEN", "")
HEALTH_TOKEN = get_env("HEALTH_TOKEN", "")
# The storage check writes a file at most this often (per web process).
HEALTH_STORAGE_PROBE_SECONDS = get_env("HEALTH_STORAGE_PROBE_SECONDS", 60.0, cast=float)

# --- Uploads: limits checked before anything is stored.
UPLOAD_MAX_BYTES = get_env("UPLOAD_MAX_BYTES", 20 * 1024 * 1024, cast=int)
UPLOAD_MAX_PIXELS = get_env("UPLOAD_MAX_PIXELS", 40_000_000, cast=int)
UPLOAD_MIN_SIDE = get_env("UPLOAD_MIN_SIDE", 16, cast=int)
# Animations: the worker decodes every frame (to judge what a viewer sees), so
# frames and frames x width x height are capped (413 animation_too_large), and
# at most ANIMATION_SAMPLE_FRAMES of them go through the models.
UPLOAD_MAX_FRAMES = get_env("UPLOAD_MAX_FRAMES", 5000, cast=int)
UPLOAD_MAX_FRAME_PIXELS = get_env("UPLOAD_MAX_FRAME_PIXELS", 60_000_000, cast=int)
ANIMATION_SAMPLE_FRAMES = get_env("ANIMATION_SAMPLE_FRAMES", 16, cast=int)
# Text in images and QR codes (classifier.ml.ocr, issue 27): read on each
# still and on up to TEXT_MAX_FRAMES judged frames of an animation, from a copy
# at most TEXT_DECODE_SIDE a side, the detector at TEXT_DETECT_SIDE; the
# recogniser stops after TEXT_READ_SECONDS per upload (a hostile image of many
# lines cannot hold a worker). docs/benchmarks.md "Text in images" has the cost.
TEXT_IN_IMAGES = get_env("TEXT_IN_IMAGES", True, cast=bool)
TEXT_DECODE_SIDE = get_env("TEXT_DECODE_SIDE", 1280, cast=int)
TEXT_DETECT_SIDE = get_env("TEXT_DETECT_SIDE", 640, cast=int)
TEXT_MAX_FRAMES = get_env("TEXT_MAX_FRAMES", 4, cast=int)
TEXT_READ_SECONDS = get_env("TEXT_READ_SECONDS", 2.0, cast=float)
# A request body larger than UPLOAD_MAX_BYTES plus room for the multipart
# envelope is refused from its Content-Length before any of it is read
# (moderation.limits).
# Form fields (not files) Django keeps in memory; files above the second spill to disk.
DATA_UPLOAD_MAX_MEMORY_SIZE = 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
# The web decodes at most this many pixels of an upload (JPEG: a reduced
# decode; other formats this large are checked by header and CRC only, and the
# worker's full decode fails a damaged one as `failed`).
UPLOAD_WEB_DECODE_PIXELS = get_env("UPLOAD_WEB_DECODE_PIXELS", 4_000_000, cast=int)
# Signed-in people uploading through the web (partners' limits are on Partner).
USER_UPLOAD_BURST_LIMIT = get_env("USER_UPLOAD_BURST_LIMIT", 10, cast=int)  # per 10 seconds
USER_UPLOAD_HOURLY_LIMIT = get_env("USER_UPLOAD_HOURLY_LIMIT", 120, cast=int)
USER_UPLOAD_DAILY_QUOTA = get_env("USER_UPLOAD_DAILY_QUOTA", 500, cast=int)  # per UTC day
SIGNUP_PER_ADDRESS_HOURLY = get_env("SIGNUP_PER_ADDRESS_HOURLY", 5, cast=int)
SIGNUP_GLOBAL_HOURLY = get_env("SIGNUP_GLOBAL_HOURLY", 200, cast=int)
# Password reset mails: requests per client address and per e-mail address
# (429 past them), and mails per account (past it, none is sent), per hour.
PASSWORD_RESET_PER_ADDRESS_HOURLY = get_env("PASSWORD_RESET_PER_ADDRESS_HOURLY", 10, cast=int)
PASSWORD_RESET_PER_EMAIL_HOURLY = get_env("PASSWORD_RESET_PER_EMAIL_HOURLY", 3, cast=int)
PASSWORD_RESET_PER_ACCOUNT_HOURLY = get_env("PASSWORD_RESET_PER_ACCOUNT_HOURLY", 3, cast=int)
# `wait=` on the upload API holds a web thread: at most this many requests of
# one web process wait at once; the others get their 202 at once.
API_MAX_CONCURRENT_WAITS = get_env("API_MAX_CONCURRENT_WAITS", 2, cast=int)
# A new upload answered without `wait` is shown as created, without reading it
# back from the database (nothing can have judged it yet); 1: read it back, as before.
API_READ_BACK_ACCEPTED = get_env("API_READ_BACK_ACCEPTED", False, cast=bool)
# Back-pressure (moderation.services.backpressure): with this many uploads
# waiting for classification (pending or processing), new ones are refused
# with 503 `queue_full` and Retry-After, nothing stored; 0: no bound. 1000 is
# about 25 to 50 s of work for one 2-core worker host; raise it with workers.
# Each web process counts the backlog at most every UPLOAD_BACKLOG_CHECK_SECONDS.
UPLOAD_BACKLOG_LIMIT = get_env("UPLOAD_BACKLOG_LIMIT", 1000, cast=int)
UPLOAD_BACKLOG_CHECK_SECONDS = get_env("UPLOAD_BACKLOG_CHECK_SECONDS", 1.0, cast=float)

# --- Classification
# Workers check for a newly active model version at most this often.
CLASSIFIER_VERSION_CHECK_SECONDS = get_env("CLASSIFIER_VERSION_CHECK_SECONDS", 5.0, cast=float)
# Retraining: a run starts when this many new (non-held-out) examples arrived,
# or at the scheduled time when any did.
RETRAIN_MIN_NEW_EXAMPLES = get_env("RETRAIN_MIN_NEW_EXAMPLES", 200, cast=int)
RETRAIN_BASE_SAMPLE = get_env("RETRAIN_BASE_SAMPLE", 12000, cast=int)
RETRAIN_EPOCHS = get_env("RETRAIN_EPOCHS", 2, cast=int)
RETRAIN_HOLDOUT_PERCENT = get_env("RETRAIN_HOLDOUT_PERCENT", 20, cast=int)
RETRAIN_THREADS = get_env("RETRAIN_THREADS", 0, cast=int) or None
# Embedding heads train on the first N Fashion-MNIST images (embeddings cached).
HEAD_BASE_EXAMPLES = get_env("HEAD_BASE_EXAMPLES", 10000, cast=int)
# The gate evaluates on the first N test images (unset: all 10,000).
GATE_TEST_LIMIT = get_env("GATE_TEST_LIMIT", 0, cast=int) or None
GATE_BASE_MARGIN = get_env("GATE_BASE_MARGIN", 0.01, cast=float)
GATE_MIN_HOLDOUT = get_env("GATE_MIN_HOLDOUT", 20, cast=int)
# After bootstrap, one run trains this stronger architecture from scratch in the
# background (on the training queue, at a lower CPU priority) and the gate
# promotes it if it beats the baseline. Empty: no such run.
UPGRADE_ARCHITECTURE = get_env("UPGRADE_ARCHITECTURE", "bn-cnn")
UPGRADE_BASE_EXAMPLES = get_env("UPGRADE_BASE_EXAMPLES", 0, cast=int)  # 0: the whole training split
UPGRADE_EPOCHS = get_env("UPGRADE_EPOCHS", 0, cast=int)  # 0: as many as the recipe's time budget allows
# Custom categories (moderation.services.categories): a head trains this long
# after the last example change (debounce), with up to N background negatives
# (recent uploads that are no example); backfills look back at most N days.
CUSTOM_CATEGORY_TRAIN_DEBOUNCE_SECONDS = get_env("CUSTOM_CATEGORY_TRAIN_DEBOUNCE_SECONDS", 10.0, cast=float)
CUSTOM_CATEGORY_BACKGROUND = get_env("CUSTOM_CATEGORY_BACKGROUND", 300, cast=int)
CUSTOM_CATEGORY_BACKFILL_MAX_DAYS = get_env("CUSTOM_CATEGORY_BACKFILL_MAX_DAYS", 365, cast=int)
# The training worker's niceness (run_platform): verdicts keep the CPU first.
TRAINING_WORKER_NICENESS = get_env("TRAINING_WORKER_NICENESS", 10, cast=int)
# Open-set gate (classifier.open_set): class centres from N Fashion-MNIST
# training images (raw and rendered each), threshold from N test images of each
# kind and the calibration half of the packaged real photos.
OPEN_SET_FIT_EXAMPLES = get_env("OPEN_SET_FIT_EXAMPLES", 500, cast=int)
OPEN_SET_CALIBRATION_EXAMPLES = get_env("OPEN_SET_CALIBRATION_EXAMPLES", 300, cast=int)
# The real-photo product model (classifier.photo_products): at most N of the
# shipped labelled photos of each kind (0: all of them). Its gate: the held-out
# moderator labels it needs (real photos come to review a few at a time, not
# by the thousand) and how much worse on the ~190 held-out shipped photos a
# candidate may be (0.02: 4 photos; at 0.01, 2 photos, one kind's correction
# that moved two coats was refused, docs/models.md).
PHOTO_MODEL_SEED_PER_LABEL = get_env("PHOTO_MODEL_SEED_PER_LABEL", 0, cast=int)
PHOTO_GATE_MIN_HOLDOUT = get_env("PHOTO_GATE_MIN_HOLDOUT", 5, cast=int)
PHOTO_GATE_BASE_MARGIN = get_env("PHOTO_GATE_BASE_MARGIN", 0.02, cast=float)
PHOTO_MODEL_LABEL_WEIGHT = get_env("PHOTO_MODEL_LABEL_WEIGHT", 1.0, cast=float)
# Threshold calibration from reviewer decisions.
CALIBRATION_TARGET_PRECISION = get_env("CALIBRATION_TARGET_PRECISION", 0.98, cast=float)
CALIBRATION_MIN_REVIEWED = get_env("CALIBRATION_MIN_REVIEWED", 30, cast=int)
# The worker reads class thresholds and flag categories at most this often
# per process (0: on every upload, as before), like the taxonomy and models.
POLICY_CACHE_SECONDS = get_env("POLICY_CACHE_SECONDS", 5.0, cast=float)
# The re-encoded public copy (moderation.services.renditions) is served only
# for uploads of signed-in people; a partner's upload is seen by moderators
# (the original) and nobody else, so by default the worker makes no copy of it
# (1: make one anyway, as before; the image view still makes one on demand).
PUBLIC_COPY_PARTNER_UPLOADS = get_env("PUBLIC_COPY_PARTNER_UPLOADS", False, cast=bool)
# Threads each worker process gives one model call (LiteRT / onnxruntime).
INFERENCE_THREADS = get_env("INFERENCE_THREADS", 1, cast=int)
# The adult-content model runs in a thread beside the other models of the same
# upload (0: after them, as before): an upload's verdict comes sooner whenever a
# core is free, and a busy machine does the same work either way.
INFERENCE_PARALLEL_MODELS = get_env("INFERENCE_PARALLEL_MODELS", True, cast=bool)
# An animation's frames go through each model as one batch, except Open-NSFW,
# which costs less per image run this many at a time (0: all frames at once).
INFERENCE_ADULT_MAX_BATCH = get_env("INFERENCE_ADULT_MAX_BATCH", 1, cast=int)
# Open-NSFW's per-channel bias and batch-norm layers folded into its
# convolutions when a worker loads it (classifier.ml.nsfw): the same scores to
# 3e-7, 15 % less time (0: the graph as published).
INFERENCE_ADULT_FOLDED = get_env("INFERENCE_ADULT_FOLDED", True, cast=bool)
# LiteRT interpreters kept per model and process, one per recent batch size
# (a still is a batch of 1, an animation a batch of its frames); 1: one
# interpreter, re-allocated whenever the batch size changes.
INFERENCE_BATCH_SIZES_KEPT = get_env("INFERENCE_BATCH_SIZES_KEPT", 2, cast=int)
# Benchmarks only (bench.pipeline's naive configuration): off, every task loads
# its models afresh and decodes JPEGs at full size.
INFERENCE_CACHE_MODELS = get_env("INFERENCE_CACHE_MODELS", True, cast=bool)
INFERENCE_REDUCED_DECODE = get_env("INFERENCE_REDUCED_DECODE", True, cast=bool)
# Which pretrained models `install_models` serves in their int8 version: "1"
# (all), "0" (none: float), or roles ("adult,imagenet"). Float and int8 are both
# registered either way, so either is one click away in the admin. Default: none,
# as neither passed the fidelity bar (docs/benchmarks.md, "int8 models").
INFERENCE_INT8 = get_env("INFERENCE_INT8", "0")
# Which adult-content model serves: "open_nsfw" (Yahoo's Open-NSFW, PyPI) or
# "nsfwjs" (nsfwjs's MobileNetV2, npm, converted to TFLite by install_models when
# npm is available). install_models registers both and switches to this one
# unless a person chose the active adult version in the admin. Default
# open_nsfw: nsfwjs did not pass the bar (docs/benchmarks.md, "A lighter adult model").
INFERENCE_ADULT_MODEL = get_env("INFERENCE_ADULT_MODEL", "open_nsfw")
# How often a worker checks whether a hash bank changed.
BANK_CHECK_SECONDS = get_env("BANK_CHECK_SECONDS", 5.0, cast=float)
# The banks' index snapshot, shared by the processes of a host (memory-mapped);
# entries added since it was built are kept in a small per-process index until
# there are this many, then a worker rebuilds the snapshot.
HASH_INDEX_DIR = Path(get_env("HASH_INDEX_DIR", str(VAR_DIR / "hash_index")))
HASH_INDEX_DELTA_MAX = get_env("HASH_INDEX_DELTA_MAX", 20_000, cast=int)
# Uploads read per step of a retroactive bank search (progress is saved after each).
BANK_RETRO_CHUNK = get_env("BANK_RETRO_CHUNK", 50_000, cast=int)
# Webhooks: callback URLs that resolve to loopback/private addresses are refused
# unless this is on (local runs and tests only).
WEBHOOK_ALLOW_PRIVATE_ADDRESSES = get_env("WEBHOOK_ALLOW_PRIVATE_ADDRESSES", False, cast=bool)
# One attempt, all of it (resolve, connect, TLS, send, read the answer's head).
WEBHOOK_TIMEOUT_SECONDS = get_env("WEBHOOK_TIMEOUT_SECONDS", 5.0, cast=float)
# The delivery task's limits: a backstop well past the attempt's deadline.
WEBHOOK_TASK_SOFT_TIME_LIMIT = get_env("WEBHOOK_TASK_SOFT_TIME_LIMIT", int(WEBHOOK_TIMEOUT_SECONDS) + 30, cast=int)
WEBHOOK_TASK_TIME_LIMIT = WEBHOOK_TASK_SOFT_TIME_LIMIT + 15
WEBHOOK_MAX_ENDPOINTS_PER_PARTNER = get_env("WEBHOOK_MAX_ENDPOINTS_PER_PARTNER", 5, cast=int)
# After a rotation the previous secret still signs (beside the new) this long.
WEBHOOK_SECRET_GRACE_HOURS = get_env("WEBHOOK_SECRET_GRACE_HOURS", 24.0, cast=float)
# Review: how long opening an item holds it for one moderator; QA sampling.
# Opening an item holds it this long; the open page renews the claim every
# REVIEW_HEARTBEAT_SECONDS while the moderator uses it (a key, a click, the
# mouse in the last two minutes, the tab in view), so an abandoned item is
# free for another moderator within a minute.
REVIEW_CLAIM_SECONDS = get_env("REVIEW_CLAIM_SECONDS", 60, cast=int)
REVIEW_HEARTBEAT_SECONDS = get_env("REVIEW_HEARTBEAT_SECONDS", 20, cast=int)
# A moderator may undo their last decision for this long (review_undo); its
# webhooks wait as long, so that a partner never hears of an undone verdict.
REVIEW_UNDO_SECONDS = get_env("REVIEW_UNDO_SECONDS", 30, cast=int)
QA_SAMPLE_RATE = get_env("QA_SAMPLE_RATE", 0.02, cast=float)  # of automatic approvals, reviewed blind
SECOND_REVIEW_RATE = get_env("SECOND_REVIEW_RATE", 0.05, cast=float)  # of moderator decisions
CLASSIFY_MAX_RETRIES = get_env("CLASSIFY_MAX_RETRIES", 5, cast=int)
# Uploads still pending/processing this long after their last attempt are re-queued.
SWEEP_STUCK_AFTER_SECONDS = get_env("SWEEP_STUCK_AFTER_SECONDS", 300, cast=int)
SWEEP_MAX_ATTEMPTS = get_env("SWEEP_MAX_ATTEMPTS", 5, cast=int)

# Logs: one JSON object a line (LOG_FORMAT=json, the production default) or plain text.
LOG_FORMAT = get_env("LOG_FORMAT", "plain")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {"()": "config.logging.JsonFormatter"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT}},
    "root": {"handlers": ["console"], "level": get_env("LOG_LEVEL", "INFO")},
}
