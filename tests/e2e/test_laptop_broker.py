"""The broker a laptop runs without servers (kombu's filesystem transport),
with a real worker."""

import os
import re
from pathlib import Path

import pytest
from django.conf import settings

from config.settings.base import filesystem_broker_options
from tests.conftest import process_log, start_process, stop_process, wait_for
from tests.e2e.hold_task import hold

pytestmark = [pytest.mark.e2e]


def test_a_laptop_worker_is_not_held_to_one_task_per_process_by_the_filesystem_broker(tmp_path):
    """Celery polls the filesystem transport in blocking 2 s turns and sends
    acks between turns, so a worker allowed one unacknowledged task per process
    took two uploads every 2 s, however fast it judged them. With both of its
    processes held busy, the worker must still take the next queued task (the
    prefork pool then holds it until a process is free), and all end once
    released."""
    from config.celery import app

    # The folder config/settings/test.py gives the worker's filesystem broker.
    options = filesystem_broker_options(Path(os.environ["TEST_SESSION_DIR"]) / "broker")
    queue = f"{settings.CELERY_TASK_DEFAULT_QUEUE}-laptop"
    release = tmp_path / "release"
    worker = start_process(
        "worker",
        env={"CELERY_BROKER_URL": "filesystem://", "REDIS_URL": "", "CELERY_QUEUE": queue},
        include=("tests.e2e.hold_task",),
        queues=(queue,),
    )
    try:
        with app.connection_for_write(url="filesystem://", transport_options=options) as connection:
            sent = [hold.apply_async(args=[str(release)], queue=queue, connection=connection).id for _ in range(6)]

        def count(state: str) -> int:
            log = process_log("worker").read_text(errors="replace")
            return len({task for task in re.findall(rf"tests\.hold\[([0-9a-f-]+)\] {state}", log) if task in sent})

        assert wait_for(lambda: count("received") > 2, timeout=60), count("received")
        release.touch()
        assert wait_for(lambda: count("succeeded") == len(sent), timeout=60), count("succeeded")
    finally:
        stop_process(worker)
