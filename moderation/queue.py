"""How much a human answer is worth: the review queue's order, in one place.

    priority = 4 × (1 − margin between the top two product classes)
             + 3 × number of flags
             + 10 if it is an appeal
             + the partner's priority
             + 0.25 per hour the item has waited

An uncertain model (small margin) gains most from a person's label; flagged
items and appeals are what users wait on; older items must not starve.
QA samples are not in this queue: they have their own list
(`moderation.services.qa.qa_open_items`, oldest first).

Because the age term grows at the same rate for every item, ordering by
priority now is the same as ordering by `rank = static part − 0.25 × hours
since the epoch at creation`, which is stored on the upload when it enters
the queue; the queue is then one indexed ORDER BY with keyset pagination.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

UNCERTAINTY_WEIGHT = 4.0
FLAG_WEIGHT = 3.0
APPEAL_BONUS = 10.0
AGE_WEIGHT_PER_HOUR = 0.25

EXPLANATION = (
    "Priority = 4 × (1 − margin between the top two product classes) + 3 per flag + 10 for an appeal "
    "+ the partner's priority + 0.25 per hour waiting. Highest first."
)


def margin(scores: Mapping[str, float]) -> float:
    """Top class minus runner-up: 0 = torn between two, 1 = certain."""
    top = sorted(scores.values(), reverse=True)[:2]
    if not top:
        return 0.0
    return top[0] - (top[1] if len(top) > 1 else 0.0)


def static_priority(*, scores: Mapping[str, float], flags: int, appeal: bool, partner_priority: int) -> float:
    return (
        UNCERTAINTY_WEIGHT * (1.0 - margin(scores))
        + FLAG_WEIGHT * flags
        + (APPEAL_BONUS if appeal else 0.0)
        + partner_priority
    )


def rank(static: float, created_at: datetime) -> float:
    return static - AGE_WEIGHT_PER_HOUR * created_at.timestamp() / 3600.0


def priority_now(stored_rank: float, now: datetime) -> float:
    """The priority as explained on the page: static part + age term, now."""
    return stored_rank + AGE_WEIGHT_PER_HOUR * now.timestamp() / 3600.0
