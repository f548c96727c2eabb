"""A test seam loaded into a worker that a fault test starts
(`start_process("worker", include=("tests.e2e.slow_classify",))`): every
classification waits TEST_CLASSIFY_DELAY seconds after it claimed its upload
(status `processing`), so that the test can kill the worker, or its database
connection, in the middle of the task. Production code only checks the hook."""

import os
import time

from moderation.services import uploads


def _hold(upload) -> None:
    time.sleep(float(os.environ.get("TEST_CLASSIFY_DELAY", "5")))


uploads.before_analysis = _hold
