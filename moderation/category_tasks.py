"""Custom categories' tasks. Both are sent to the training queue (the
services pass `queue=`), so a training or a backfill never sits in front of
uploads. They take ids, re-read the rows and are safe to run twice."""

from celery import shared_task

from moderation.services.categories import backfill_run, category_train_if_settled


@shared_task(name="moderation.train_category", acks_late=True)
def train_category(category_id: int, stamp: str | None = None) -> int | None:
    head = category_train_if_settled(category_id=category_id, stamp=stamp)
    return head.pk if head else None


@shared_task(name="moderation.category_backfill", acks_late=True, reject_on_worker_lost=True)
def run_backfill(backfill_id: int) -> None:
    backfill_run(backfill_id=backfill_id)
