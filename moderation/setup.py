"""Rows the platform needs to exist, made idempotently after every migrate."""

from __future__ import annotations

import json

MODERATORS_GROUP = "moderators"

MODERATOR_PERMISSIONS = [
    ("moderation", "review_upload"),
    ("moderation", "view_upload"),
    ("moderation", "view_decision"),
    ("moderation", "view_prediction"),
    ("moderation", "view_flag"),
    ("classifier", "view_modelversion"),
    ("classifier", "view_trainingexample"),
]

SWEEP_TASK_NAME = "Re-queue stuck uploads"


def ensure_roles_and_schedules(**kwargs) -> None:
    from django.contrib.auth.models import Group, Permission
    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    group, _ = Group.objects.get_or_create(name=MODERATORS_GROUP)
    wanted = [
        Permission.objects.filter(content_type__app_label=app, codename=codename).first()
        for app, codename in MODERATOR_PERMISSIONS
    ]
    group.permissions.add(*[p for p in wanted if p is not None])

    every_minute, _ = IntervalSchedule.objects.get_or_create(every=60, period=IntervalSchedule.SECONDS)
    PeriodicTask.objects.get_or_create(
        name=SWEEP_TASK_NAME,
        defaults={"task": "moderation.sweep_stuck_uploads", "interval": every_minute, "kwargs": json.dumps({})},
    )
