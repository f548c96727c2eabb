from __future__ import annotations

import hashlib
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from django.conf import settings

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"

# Playwright's sync API runs an event loop in this thread; the ORM calls the
# browser tests make between page actions are still plain synchronous code.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

# Tests that need TensorFlow or a trained model carry the `tf` marker: by hand
# on tests that build Keras models themselves, and automatically on every test
# whose fixtures train or load one. `make test-fast` deselects them (and the
# browser tests) and sets TEST_WITHOUT_TENSORFLOW=1, under which importing
# TensorFlow or Keras fails, naming the test that needs the marker.
TRAINED_MODEL_FIXTURES = frozenset({"tiny_trained_model", "photo_model_artifacts"})


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    for item in items:
        if TRAINED_MODEL_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.tf)
        if "browser" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.browser)


def pytest_unconfigure(config):
    """The session's temporary folder (media, SQLite database, broker, made by
    config/settings/test.py) goes with the session: left behind, each run
    kept up to 1.6 GB in /tmp. A folder named in TEST_SESSION_DIR by hand is
    kept."""
    folder = Path(os.environ.get("TEST_SESSION_DIR", ""))
    if folder.name.startswith("modtest-") and folder.parent == Path(tempfile.gettempdir()):
        shutil.rmtree(folder, ignore_errors=True)


class _NoTensorFlow:
    """An import hook that refuses TensorFlow and Keras (test-fast only)."""

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("tensorflow", "keras", "tf_keras"):
            raise ImportError(
                f"{name} imported in a test without the `tf` marker (make test-fast runs without TensorFlow)"
            )
        return None


if os.environ.get("TEST_WITHOUT_TENSORFLOW") == "1":
    sys.meta_path.insert(0, _NoTensorFlow())


# The migrated SQLite test database, kept between runs under a hash of what
# builds it: 64 migrations took 16 s of every run on a quiet machine (over
# 30 s on the shared one), copying the result takes milliseconds. The hash
# covers the migrations, the code and data files their data migrations read,
# and Django's version, so a new migration builds (and keeps) a new one.
# `--create-db` builds afresh; PostgreSQL runs are unchanged.
def _sqlite_test_db_template() -> Path | None:
    if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.sqlite3":
        return None
    import django

    digest = hashlib.sha256(django.get_version().encode())
    sources = [
        *ROOT.glob("*/migrations/*.py"),
        ROOT / "moderation" / "audit_guard.py",
        *(ROOT / "classifier" / "ml").glob("taxonomy*.py"),
        *(ROOT / "classifier" / "ml" / "data").rglob("*"),
    ]
    for path in sorted(p for p in sources if p.is_file()):
        digest.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes())
    return Path(tempfile.gettempdir()) / f"moderation-test-db-{digest.hexdigest()[:20]}.sqlite3"


@pytest.fixture(scope="session")
def django_db_keepdb(request, django_db_modify_db_settings) -> bool:
    # After pytest-django has named this process's database (xdist: "_gw0"…).
    keep = bool(request.config.getvalue("reuse_db"))
    template = _sqlite_test_db_template()
    if keep or request.config.getvalue("create_db") or template is None or not template.exists():
        return keep
    shutil.copyfile(template, settings.DATABASES["default"]["TEST"]["NAME"])
    return True  # Django finds the copy migrated and only runs post_migrate


@pytest.fixture(scope="session")
def django_db_setup(request, django_db_setup, django_db_keepdb):
    """pytest-django's, then (when it built the database) a copy kept as the
    template; a database copied from the template goes when the session ends."""
    template = _sqlite_test_db_template()
    if template is not None and not django_db_keepdb:
        partial = template.with_name(f"{template.name}.{os.getpid()}.partial")
        with sqlite3.connect(settings.DATABASES["default"]["NAME"]) as source, sqlite3.connect(partial) as copy:
            source.backup(copy)  # consistent even with writes still in the WAL
        source.close()
        copy.close()
        os.replace(partial, template)
    yield
    if template is not None and django_db_keepdb and not request.config.getvalue("reuse_db"):
        name = settings.DATABASES["default"]["NAME"]
        for leftover in (name, f"{name}-wal", f"{name}-shm"):
            Path(leftover).unlink(missing_ok=True)


@pytest.fixture(autouse=True)
def fresh_rate_counters(settings):
    # Local-memory rate counters outlive a test's rolled-back rows, whose ids
    # SQLite reuses. (With Redis, ids come from sequences and never repeat.)
    if "LocMem" in settings.CACHES["default"]["BACKEND"]:
        from django.core.cache import cache

        cache.clear()


@pytest.fixture(scope="session")
def tiny_trained_model():
    """A seed-cnn trained for one epoch on 600 real images: seconds, not minutes."""
    from classifier.ml.datasets import FASHION_MNIST_CLASSES, load_split
    from classifier.ml.training import train

    train_split = load_split("train").head(600)
    test_split = load_split("test").head(200)
    return train(
        architecture="seed-cnn",
        class_names=FASHION_MNIST_CLASSES,
        train_pixels=train_split.images,
        train_labels=train_split.labels,
        test_pixels=test_split.images,
        test_labels=test_split.labels,
        epochs=1,
        progress=False,
    )


@pytest.fixture
def active_model(db, tiny_trained_model):
    from classifier.inference import forget_loaded_models
    from classifier.registry import model_version_activate, model_version_register

    version = model_version_register(trained=tiny_trained_model, training_info={"base_examples": 600})
    version = model_version_activate(version=version)
    forget_loaded_models()
    yield version
    forget_loaded_models()


@pytest.fixture
def partner_key(db):
    """A factory of (partner, raw API key)."""
    from moderation.services.partners import partner_create

    counter = iter(range(1, 10_000))

    def make(name: str | None = None):
        partner, key = partner_create(name=name or f"partner-{next(counter)}")
        # Generous limits: the suite posts in bursts; the limit tests set their own.
        type(partner).objects.filter(pk=partner.pk).update(
            burst_limit=10_000, sustained_limit=100_000, upload_burst_limit=10_000, upload_hourly_limit=100_000
        )
        partner.refresh_from_db()
        return partner, key

    return make


@pytest.fixture
def moderator(db):
    from moderation.services.accounts import moderator_create
    from moderation.setup import ensure_roles_and_schedules

    # The groups post_migrate makes, again where a transactional test before this one flushed them.
    ensure_roles_and_schedules()
    user, _ = moderator_create(username="mod1", password="mod-pass-123")
    return user


@pytest.fixture
def lead(db):
    """A member of the leads group."""
    from django.contrib.auth.models import Group, User

    from moderation.setup import ensure_roles_and_schedules

    ensure_roles_and_schedules()
    user = User.objects.create_user("lead", password="pw-lead-123")
    user.groups.add(Group.objects.get(name="leads"))
    return user


@pytest.fixture
def second_moderator(db):
    from moderation.services.accounts import moderator_create

    user, _ = moderator_create(username="mod2", password="mod-pass-456")
    return user


@pytest.fixture
def api_client():
    from rest_framework.test import APIClient

    return APIClient()


def media_files() -> list[Path]:
    root = Path(settings.MEDIA_ROOT)
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


_LOGS_BEGUN: set[Path] = set()


def process_log(kind: str) -> Path:
    """The log of the workers (or web servers) this test process starts: one
    per pytest-xdist process, begun anew by the session's first."""
    return ARTIFACTS / f"{kind}-{os.environ.get('PYTEST_XDIST_WORKER') or 'main'}.log"


def start_process(
    kind: str,
    *,
    env: dict | None = None,
    port: int | None = None,
    include: tuple[str, ...] = (),
    queues: tuple[str, ...] = (),
) -> subprocess.Popen:
    """A real worker or web server on the suite's test database, in its own
    process group so that a test can stop or kill it. `include` names modules
    a worker imports at start (test seams such as tests/e2e/slow_classify.py);
    `queues` the queues it consumes (default: the suite's default queue).
    A worker finds the hash banks' search loops compiled in the on-disk cache,
    as install_models leaves them in production, so its first upload does not
    wait for the compiler (seconds on a fresh clone)."""
    if kind == "worker":
        from classifier.ml import hash_index

        hash_index.warm()  # compiles once per clone; afterwards a load from the cache
    full_env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.test", "USE_TEST_DATABASE": "1", **(env or {})}
    ARTIFACTS.mkdir(exist_ok=True)
    path = process_log(kind)
    log = open(path, "ab" if path in _LOGS_BEGUN else "wb")
    _LOGS_BEGUN.add(path)
    if kind == "worker":
        command = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "--loglevel",
            "INFO",
            "--concurrency",
            "2",
            "--without-gossip",
            "--without-mingle",
            "--hostname",
            f"test-{os.getpid()}-{time.monotonic_ns()}@%h",
        ]
        command += [f"--include={module}" for module in include]
        if queues:
            command += ["--queues", ",".join(queues)]
    else:
        command = [
            sys.executable,
            "-m",
            "gunicorn",
            "config.wsgi",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "1",
            "--threads",
            "8",
            "--timeout",
            "60",
        ]
    return subprocess.Popen(
        command, cwd=ROOT, env=full_env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )


def stop_process(proc: subprocess.Popen, sig: int = signal.SIGKILL) -> None:
    """Stop a process group start_process began. By default the test is over
    and the group is killed at once: a Celery worker's warm shutdown took 8 to
    20 s per test (its whole group got SIGTERM, and the main process then
    waited out the timeout) and tests nothing. Pass another signal to test
    how a process takes it."""
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, sig)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


@pytest.fixture
def celery_worker(transactional_db):
    """A real Celery worker process on the suite's broker and test database."""
    proc = start_process("worker")
    yield proc
    stop_process(proc)


def wait_for(predicate, timeout: float = 60.0, interval: float = 0.2):
    """Poll until predicate() is truthy; return its value or fail with the last one."""
    deadline = time.monotonic() + timeout
    value = predicate()
    while not value and time.monotonic() < deadline:
        time.sleep(interval)
        value = predicate()
    return value


@pytest.fixture(scope="session")
def photo_model_artifacts():
    """The pretrained photo models as they serve: EfficientNet-Lite0 exported to
    TFLite (built once per session) and the Open-NSFW ONNX file."""
    from classifier.ml.efficientnet_lite import load_pretrained
    from classifier.ml.imagenet import imagenet_class_names
    from classifier.ml.nsfw import model_bytes
    from classifier.ml.training import export_tflite

    return {"backbone": export_tflite(load_pretrained()), "names": list(imagenet_class_names()), "adult": model_bytes()}


@pytest.fixture
def photo_models(db, photo_model_artifacts, active_model):
    """Active ImageNet tagger and adult scorer (and the tiny product model)."""
    from classifier.inference import forget_loaded_models
    from classifier.models import ModelRole
    from classifier.registry import model_version_activate, model_version_create
    from moderation.services.banks import forget_bank_indexes

    backbone = model_version_activate(
        version=model_version_create(
            role=ModelRole.IMAGENET,
            architecture="efficientnet-lite0",
            class_names=photo_model_artifacts["names"],
            artifact=photo_model_artifacts["backbone"],
        )
    )
    adult = model_version_activate(
        version=model_version_create(
            role=ModelRole.ADULT,
            architecture="open-nsfw",
            class_names=["safe", "adult"],
            artifact=photo_model_artifacts["adult"],
            artifact_name="model.onnx",
        )
    )
    forget_loaded_models()
    forget_bank_indexes()
    yield {"backbone": backbone, "adult": adult, "product": active_model}
    forget_loaded_models()
    forget_bank_indexes()


def skimage_jpeg(name: str, quality: int = 92) -> bytes:
    """One of scikit-image's sample photos as JPEG bytes."""
    from PIL import Image
    from skimage import data

    from tests.helpers import encode

    return encode(Image.fromarray(getattr(data, name)()).convert("RGB"), "JPEG", quality=quality)


@pytest.fixture(scope="session")
def open_set_gate_artifact(photo_model_artifacts):
    """An open-set gate fitted on a small slice (100 training images, raw and
    rendered; 40 test images of each kind and four real photos to calibrate):
    the figures are computed once per session, the version per test."""
    import numpy as np

    from classifier.ml.datasets import fashion_photo, load_split
    from classifier.ml.open_set import fit_gate
    from classifier.ml.preprocessing import photo_input
    from classifier.ml.real_photos import real_photos
    from classifier.ml.runtime import LiteModel

    backbone = LiteModel(photo_model_artifacts["backbone"])

    def embed(images):
        return backbone.output_by_width(backbone.predict_all(np.stack([photo_input(i) for i in images])), 1280)

    train, test = load_split("train"), load_split("test")
    fit = [fashion_photo(p) for p in train.images[:100]] + [fashion_photo(p, 256) for p in train.images[:100]]
    gate, figures = fit_gate(
        fit_embeddings=embed(fit),
        fit_labels=np.concatenate([train.labels[:100], train.labels[:100]]),
        classes=10,
        positives={
            "28 px": embed([fashion_photo(p) for p in test.images[:40]]),
            "256 px": embed([fashion_photo(p, 256) for p in test.images[:40]]),
        },
        negatives={"photos": embed([p.image for p in real_photos(side="calibration", limit=4, crops=False)])},
    )
    return gate, figures


def activate_open_set_gate(photo_models, artifact):
    """Register and activate the session's gate for this test's backbone version."""
    from dataclasses import replace

    from classifier.inference import forget_loaded_models
    from classifier.ml.datasets import FASHION_MNIST_CLASSES
    from classifier.models import ModelRole
    from classifier.registry import model_version_activate, model_version_create

    gate, figures = artifact
    gate = replace(gate, backbone_version_id=photo_models["backbone"].pk)
    version = model_version_activate(
        version=model_version_create(
            role=ModelRole.OPEN_SET,
            architecture=gate.method,
            class_names=list(FASHION_MNIST_CLASSES),
            artifact=gate.to_bytes(),
            artifact_name="open_set.npz",
            metrics=figures,
            training={"backbone_version": photo_models["backbone"].pk},
        )
    )
    forget_loaded_models()
    return version


@pytest.fixture
def open_set_models(photo_models, open_set_gate_artifact):
    """The photo models plus an active open-set gate fitted on their backbone."""
    from classifier.inference import forget_loaded_models

    yield {**photo_models, "open_set": activate_open_set_gate(photo_models, open_set_gate_artifact)}
    forget_loaded_models()


# The one Chromium of a test session, for every test that drives a browser
# (tests/e2e and the security tests alike): Playwright's sync API allows one
# running instance per thread.
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium driven by Playwright (never a downloaded browser)."""
    executable = shutil.which("chromium")
    if executable is None:
        pytest.skip("Debian's chromium is not installed (make test installs it where apt is usable)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


@pytest.fixture
def real_photo_models(open_set_models):
    """The photo models, the open-set gate and an active real-photo product
    model trained on a few of the shipped photos of each kind (the test
    settings' PHOTO_MODEL_SEED_PER_LABEL)."""
    from classifier.inference import forget_loaded_models
    from classifier.retraining import photo_model_train

    version = photo_model_train(activate="always")
    forget_loaded_models()
    yield {**open_set_models, "photo": version}
    forget_loaded_models()
