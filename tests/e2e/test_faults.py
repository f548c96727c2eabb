"""Fault tests with real processes, bounded in time: a worker killed mid-task,
Redis restarted during a burst, the database connection dropped under a worker.
Each breaks only what the test itself started."""

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from datetime import timedelta

import pytest
from django.db import connection

from bench.stack import api_post_image
from moderation.models import SETTLED_STATUSES, Upload, UploadStatus
from moderation.services.uploads import upload_create, uploads_requeue_stuck
from tests.conftest import ROOT, process_log, start_process, stop_process, wait_for
from tests.helpers import fashion_png

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _settled(ids) -> int:
    return Upload.objects.filter(pk__in=ids, status__in=SETTLED_STATUSES).count()


def test_worker_killed_mid_task_then_the_upload_still_settles(active_model):
    worker = start_process("worker", env={"TEST_CLASSIFY_DELAY": "6"}, include=("tests.e2e.slow_classify",))
    try:
        upload = upload_create(data=fashion_png(0)[0], filename="a.png")
        assert wait_for(
            lambda: Upload.objects.filter(pk=upload.pk, status=UploadStatus.PROCESSING).exists(), timeout=60
        )
        time.sleep(0.5)
    finally:
        stop_process(worker, signal.SIGKILL)  # in the middle of the task
    upload.refresh_from_db()
    assert upload.status == UploadStatus.PROCESSING
    replacement = start_process("worker")
    try:
        # The sweeper finds it (the database is the source of truth) and queues it again.
        assert uploads_requeue_stuck(older_than=timedelta(0))["requeued"] == 1
        assert wait_for(lambda: _settled([upload.pk]) == 1, timeout=60)
    finally:
        stop_process(replacement)
    upload.refresh_from_db()
    assert upload.attempts >= 2 and upload.predictions.count() == 1


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server is not installed")
def test_redis_restarted_during_a_burst_loses_nothing(active_model, partner_key):
    port, web_port = _free_port(), _free_port()
    data_dir = tempfile.mkdtemp(prefix="redis-fault-")

    def start_redis():
        return subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                data_dir,
            ],
            stdout=subprocess.DEVNULL,
            start_new_session=True,
        )

    redis = start_redis()
    url = f"redis://127.0.0.1:{port}/0"
    env = {"CELERY_BROKER_URL": url, "REDIS_URL": url, "CELERY_QUEUE": f"fault-{uuid.uuid4().hex[:8]}"}
    worker = start_process("worker", env=env)
    web = start_process("web", env=env, port=web_port)
    _, key = partner_key()
    ids, statuses = [], []
    try:
        assert wait_for(lambda: _reachable(web_port), timeout=30)
        for i in range(24):
            if i == 8:
                stop_process(redis, signal.SIGKILL)  # the broker goes away mid-burst
            if i == 16:
                redis = start_redis()
                time.sleep(0.5)
            status, body = _post(web_port, key, fashion_png(i)[0])
            statuses.append(status)
            ids.append(body["id"])
        assert statuses == [202] * 24  # the API kept answering while Redis was down
        # The sweeper queues what never reached the broker; the worker reconnects.
        wait_for(lambda: _settled(ids) >= 8, timeout=60)
        uploads_requeue_stuck_via(env)
        assert wait_for(lambda: _settled(ids) == 24, timeout=120), list(
            Upload.objects.filter(pk__in=ids).values_list("status", flat=True)
        )
    finally:
        stop_process(web)
        stop_process(worker)
        stop_process(redis)
        shutil.rmtree(data_dir, ignore_errors=True)
    assert Upload.objects.filter(pk__in=ids).count() == 24


def uploads_requeue_stuck_via(env: dict) -> None:
    """Run the sweeper's body in a process of its own, on the private broker (as beat would)."""
    code = (
        "from datetime import timedelta; from moderation.services.uploads import uploads_requeue_stuck; "
        "print(uploads_requeue_stuck(older_than=timedelta(0)))"
    )
    full_env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.test", "USE_TEST_DATABASE": "1", **env}
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code],
        cwd=ROOT,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]


def _reachable(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/feed/", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def _post(port: int, key: str, data: bytes) -> tuple[int, dict]:
    return api_post_image(f"http://127.0.0.1:{port}", key, data, "x.png", timeout=30)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="pg_terminate_backend needs PostgreSQL")
def test_database_connection_dropped_under_a_worker_retries_and_succeeds(active_model):
    name = f"fault-worker-{uuid.uuid4().hex[:8]}"
    worker = start_process(
        "worker",
        env={"DATABASE_APPLICATION_NAME": name, "TEST_CLASSIFY_DELAY": "4", "DATABASE_CONN_MAX_AGE": "600"},
        include=("tests.e2e.slow_classify",),
    )
    logged = process_log("worker").stat().st_size  # this session's earlier workers wrote the rest
    try:
        upload = upload_create(data=fashion_png(3)[0], filename="c.png")
        assert wait_for(
            lambda: Upload.objects.filter(pk=upload.pk, status=UploadStatus.PROCESSING).exists(), timeout=60
        )
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s", [name])
            killed = cursor.fetchall()
        assert killed, "the worker's connection was not found"
        # The task fails on the dead connection, retries with backoff, and succeeds.
        assert wait_for(lambda: _settled([upload.pk]) == 1, timeout=90)
    finally:
        stop_process(worker)
    upload.refresh_from_db()
    assert upload.status in SETTLED_STATUSES and upload.predictions.count() == 1
    assert "transient error, retrying" in process_log("worker").read_bytes()[logged:].decode(errors="replace")
