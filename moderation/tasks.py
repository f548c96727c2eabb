"""Celery tasks: thin doors that take ids and call one service.

Each task is safe to run twice, and runs with late acknowledgement so that a
worker that dies mid-task leaves its message to be delivered again.
"""

from __future__ import annotations

import logging
import random

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import DatabaseError, InterfaceError, OperationalError

from classifier.contracts import NoActiveModel
from moderation.services.bank_retro import bank_retro_search_run
from moderation.services.banks import hash_index_rebuild
from moderation.services.uploads import upload_classify, upload_fail, uploads_requeue_stuck
from moderation.services.webhooks import webhook_attempt_interrupted, webhook_deliver, webhooks_retry_due

logger = logging.getLogger(__name__)

# Worth another try: the database or storage blinked, or no model is active yet.
TRANSIENT_ERRORS = (OperationalError, InterfaceError, ConnectionError, TimeoutError, NoActiveModel)


def retry_delay(retries: int) -> float:
    """Exponential backoff with jitter: 2, 4, 8 … seconds, at most 5 minutes."""
    return min(300.0, 2.0 ** (retries + 1)) * random.uniform(0.8, 1.2)


@shared_task(name="moderation.classify_upload", bind=True, acks_late=True, reject_on_worker_lost=True)
def classify_upload(self, upload_id: str) -> None:
    try:
        upload_classify(upload_id=upload_id)
    except TRANSIENT_ERRORS as exc:
        if self.request.retries >= settings.CLASSIFY_MAX_RETRIES:
            _fail_quietly(upload_id, f"gave up after {self.request.retries + 1} attempts: {exc!r}")
            return
        logger.warning("upload %s: transient error, retrying: %r", upload_id, exc)
        raise self.retry(
            exc=exc, countdown=retry_delay(self.request.retries), max_retries=settings.CLASSIFY_MAX_RETRIES
        ) from exc
    except Exception as exc:  # noqa: BLE001 - anything else will fail again: record it, don't loop.
        logger.exception("upload %s: classification failed", upload_id)
        _fail_quietly(upload_id, f"classification failed: {exc!r}")


def _fail_quietly(upload_id: str, reason: str) -> None:
    try:
        upload_fail(upload_id=upload_id, reason=reason)
    except DatabaseError:
        # The sweeper will find the upload still processing and try again.
        logger.exception("upload %s: could not record the failure", upload_id)


# Routed to its own queue (CELERY_WEBHOOK_QUEUE): a slow receiver never takes a
# classification worker. The time limits are a backstop: the attempt's own
# deadline (WEBHOOK_TIMEOUT_SECONDS) ends it long before.
@shared_task(
    name="moderation.deliver_webhook",
    acks_late=True,
    soft_time_limit=settings.WEBHOOK_TASK_SOFT_TIME_LIMIT,
    time_limit=settings.WEBHOOK_TASK_TIME_LIMIT,
)
def deliver_webhook(delivery_id: int) -> None:
    try:
        webhook_deliver(delivery_id=delivery_id)
    except SoftTimeLimitExceeded:
        webhook_attempt_interrupted(delivery_id=delivery_id)


@shared_task(name="moderation.sweep_stuck_uploads")
def sweep_stuck_uploads() -> dict[str, int]:
    result = uploads_requeue_stuck()
    result["webhooks_requeued"] = webhooks_retry_due()
    if any(result.values()):
        logger.info("sweeper: %s", result)
    return result


@shared_task(name="moderation.bank_retro_search", acks_late=True, reject_on_worker_lost=True)
def bank_retro_search(search_id: int) -> None:
    bank_retro_search_run(search_id=search_id)


@shared_task(name="moderation.rebuild_hash_index", acks_late=True)
def rebuild_hash_index() -> int:
    return hash_index_rebuild()


# Custom categories' tasks (training, backfill) live in their own module.
from moderation.category_tasks import run_backfill, train_category  # noqa: E402, F401
