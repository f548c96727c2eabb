"""A test seam loaded into a worker that a test starts
(`start_process("worker", include=("tests.e2e.hold_task",))`): a task that
waits until a file exists, so that the test can see how many tasks the
worker has taken from its broker while its processes are busy."""

import time
from pathlib import Path

from celery import shared_task


@shared_task(name="tests.hold")
def hold(release: str) -> None:
    deadline = time.monotonic() + 60
    while not Path(release).exists() and time.monotonic() < deadline:
        time.sleep(0.05)
