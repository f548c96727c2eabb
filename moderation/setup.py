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
RETRAIN_CHECK_NAME = "Retrain when enough new examples"
RETRAIN_NIGHTLY_NAME = "Nightly retraining"

LEADS_GROUP = "leads"
LEAD_PERMISSIONS = MODERATOR_PERMISSIONS + [
    ("moderation", "view_classpolicy"),
    ("moderation", "change_classpolicy"),
    # The verdict thresholds page (services.thresholds.thresholds_set checks them).
    ("moderation", "view_flagcategory"),
    ("moderation", "change_flagcategory"),
    ("moderation", "view_auditevent"),
    ("moderation", "view_metrics"),
    ("moderation", "calibrate_thresholds"),
    ("moderation", "confirm_bankedhash"),
    ("moderation", "manage_customcategory"),
    ("moderation", "view_hashbank"),
    ("moderation", "add_hashbank"),  # the banks page's "Create a bank"
    ("moderation", "view_bankedhash"),
    ("moderation", "add_bankedhash"),
    # Text in images: the term list and the domain lists.
    ("moderation", "view_textterm"),
    ("moderation", "add_textterm"),
    ("moderation", "change_textterm"),
    ("moderation", "delete_textterm"),
    ("moderation", "view_domainrule"),
    ("moderation", "add_domainrule"),
    ("moderation", "change_domainrule"),
    ("moderation", "delete_domainrule"),
    ("classifier", "promote_modelversion"),
    ("classifier", "view_trainingrun"),
    ("django_celery_beat", "view_periodictask"),
    ("django_celery_beat", "change_periodictask"),
    ("django_celery_beat", "view_crontabschedule"),
    ("django_celery_beat", "change_crontabschedule"),
    ("django_celery_beat", "view_intervalschedule"),
]


def ensure_roles_and_schedules(**kwargs) -> None:
    from django.contrib.auth.models import Group, Permission
    from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

    for name, permissions in ((MODERATORS_GROUP, MODERATOR_PERMISSIONS), (LEADS_GROUP, LEAD_PERMISSIONS)):
        group, _ = Group.objects.get_or_create(name=name)
        wanted = [
            Permission.objects.filter(content_type__app_label=app, codename=codename).first()
            for app, codename in permissions
        ]
        group.permissions.add(*[p for p in wanted if p is not None])

    # Schedules live in the database (django-celery-beat): a lead edits them
    # in the admin. Created once; later edits are kept.
    every_minute, _ = IntervalSchedule.objects.get_or_create(every=60, period=IntervalSchedule.SECONDS)
    every_ten_minutes, _ = IntervalSchedule.objects.get_or_create(every=10, period=IntervalSchedule.MINUTES)
    nightly, _ = CrontabSchedule.objects.get_or_create(
        minute="0", hour="3", day_of_week="*", day_of_month="*", month_of_year="*", timezone="UTC"
    )
    for name, task, schedule in (
        (SWEEP_TASK_NAME, "moderation.sweep_stuck_uploads", {"interval": every_minute}),
        (RETRAIN_CHECK_NAME, "classifier.retrain_check", {"interval": every_ten_minutes}),
        (RETRAIN_NIGHTLY_NAME, "classifier.retrain_scheduled", {"crontab": nightly}),
    ):
        PeriodicTask.objects.get_or_create(name=name, defaults={"task": task, "kwargs": json.dumps({}), **schedule})
