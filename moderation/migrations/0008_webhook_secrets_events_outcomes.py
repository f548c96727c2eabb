"""Webhooks: a secret per endpoint (with a rotation grace period) instead of
one per partner, an event id per delivery, and an outcome per attempt.

Existing endpoints keep their partner's secret, so receivers keep verifying;
existing deliveries get distinct event ids; existing attempts get an outcome
read from their status code."""

import secrets
import uuid

from django.db import migrations, models

import moderation.models

OUTCOMES = [
    ("delivered", "Delivered (2xx)"),
    ("http_error", "HTTP error status"),
    ("redirect", "Redirect (not followed)"),
    ("timeout", "Deadline passed"),
    ("refused_address", "Address refused"),
    ("connection_error", "Connection or protocol error"),
    ("soft_time_limit", "Task time limit"),
    ("exception", "Unexpected error"),
]


def fill(apps, schema_editor):
    WebhookEndpoint = apps.get_model("moderation", "WebhookEndpoint")
    WebhookDelivery = apps.get_model("moderation", "WebhookDelivery")
    WebhookAttempt = apps.get_model("moderation", "WebhookAttempt")
    for endpoint in WebhookEndpoint.objects.select_related("partner").iterator():
        endpoint.secret = endpoint.partner.webhook_secret or secrets.token_hex(32)
        endpoint.save(update_fields=["secret"])
    for delivery in WebhookDelivery.objects.only("pk").iterator():
        WebhookDelivery.objects.filter(pk=delivery.pk).update(event_id=uuid.uuid4())
    WebhookAttempt.objects.filter(status_code__gte=200, status_code__lt=300).update(outcome="delivered")
    WebhookAttempt.objects.filter(status_code__gte=300, status_code__lt=400).update(outcome="redirect")
    WebhookAttempt.objects.filter(status_code__gte=400).update(outcome="http_error")
    WebhookAttempt.objects.filter(status_code__isnull=True).update(outcome="connection_error")


class Migration(migrations.Migration):

    dependencies = [
        ("moderation", "0007_audit_record"),
    ]

    operations = [
        migrations.AddField(
            model_name="webhookendpoint",
            name="secret",
            field=models.CharField(default=moderation.models.new_webhook_secret,
                                   help_text="Signs deliveries (HMAC-SHA256).", max_length=64),
        ),
        migrations.AddField(
            model_name="webhookendpoint",
            name="previous_secret",
            field=models.CharField(blank=True, max_length=64),
        ),
        migrations.AddField(
            model_name="webhookendpoint",
            name="previous_secret_expires_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="webhookdelivery",
            name="event_id",
            field=models.UUIDField(db_index=True, default=uuid.uuid4, editable=False),
        ),
        migrations.AddField(
            model_name="webhookattempt",
            name="outcome",
            field=models.CharField(choices=OUTCOMES, default="exception", max_length=20),
            preserve_default=False,
        ),
        migrations.RunPython(fill, migrations.RunPython.noop),
        migrations.RemoveField(
            model_name="partner",
            name="webhook_secret",
        ),
    ]
