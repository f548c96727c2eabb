"""Health check and Prometheus metrics of the platform's own state.

The metrics are read from the database when Prometheus scrapes, so they are
right whichever process (web or worker) did the work."""

from __future__ import annotations

import hmac
import time
import uuid

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import connection
from django.db.models import Count
from django.http import HttpRequest, HttpResponse, JsonResponse
from prometheus_client.core import GaugeMetricFamily


def _check_database() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return "ok"


def _check_broker() -> str:
    from config.celery import app

    with app.connection_for_write(settings.CELERY_BROKER_URL) as conn:
        # One immediate retry: kombu's default waits 2 s first, which a probe
        # (and every health test with the broker down) paid on each hit.
        conn.ensure_connection(max_retries=1, interval_start=0, timeout=3)
        # Redis connects lazily: ask it something to know it is there.
        client = getattr(conn.default_channel, "client", None)
        if client is not None and hasattr(client, "ping"):
            client.ping()
    return "ok"


def _probe_storage() -> str:
    name = default_storage.save(f"health/{uuid.uuid4().hex}.txt", ContentFile(b"ok"))
    try:
        with default_storage.open(name, "rb") as fh:
            if fh.read() != b"ok":
                return "read back something else"
    finally:
        default_storage.delete(name)
    return "ok"


_storage_probe: dict[str, float | str] = {}


def _check_storage() -> str:
    """A write-read-delete probe at most once per HEALTH_STORAGE_PROBE_SECONDS
    per process; between probes its last answer is repeated, so a flood of
    health checks writes nothing."""
    now = time.monotonic()
    if _storage_probe and now - float(_storage_probe["at"]) < settings.HEALTH_STORAGE_PROBE_SECONDS:
        result = str(_storage_probe["result"])
    else:
        try:
            result = _probe_storage()
        except Exception as exc:  # noqa: BLE001 - reported by health()
            result = f"failed: {type(exc).__name__}: {str(exc)[:200]}"
        _storage_probe.update(at=now, result=result)
    return result


def bearer_token_matches(request: HttpRequest, token: str) -> bool:
    """The request carries `Authorization: Bearer <token>`; never true for an empty token."""
    sent = request.headers.get("Authorization", "")
    return bool(token) and hmac.compare_digest(sent.encode(), f"Bearer {token}".encode())


def health(request: HttpRequest) -> HttpResponse:
    """200 when database, broker and storage all answer, else 503. Anyone
    learns only ok/fail; which check failed, and why, needs HEALTH_TOKEN."""
    checks, started = {}, time.perf_counter()
    for name, check in (("database", _check_database), ("broker", _check_broker), ("storage", _check_storage)):
        try:
            checks[name] = check()
        except Exception as exc:  # noqa: BLE001 - a health check reports, it does not raise
            checks[name] = f"failed: {type(exc).__name__}: {str(exc)[:200]}"
    healthy = all(value == "ok" for value in checks.values())
    body = {"status": "ok" if healthy else "fail"}
    if bearer_token_matches(request, settings.HEALTH_TOKEN):
        body.update(checks=checks, seconds=round(time.perf_counter() - started, 3))
    response = JsonResponse(body, status=200 if healthy else 503)
    response["Cache-Control"] = "no-store"
    return response


class PlatformCollector:
    """uploads by state, review queue depth, verdict latency, model versions in service."""

    def describe(self):
        # Names only, so that registering does not query the database.
        yield GaugeMetricFamily("moderation_uploads", "Uploads by state", labels=["state"])
        yield GaugeMetricFamily("moderation_review_queue_depth", "Items waiting for a moderator")
        yield GaugeMetricFamily("moderation_classification_backlog", "Uploads waiting for the models")
        yield GaugeMetricFamily("moderation_classification_verdicts_per_second", "Verdict pace over the last 30 s")
        yield GaugeMetricFamily(
            "moderation_classification_expected_delay_seconds", "Backlog / pace: a new upload's wait for its verdict"
        )
        yield GaugeMetricFamily("moderation_verdict_latency_seconds", "Upload-to-verdict time", labels=["quantile"])
        yield GaugeMetricFamily(
            "moderation_model_version_in_service",
            "Active model version by role",
            labels=["role", "version", "architecture"],
        )

    def collect(self):
        from classifier.facade import ModelVersion, ModelVersionStatus
        from moderation.models import Upload
        from moderation.selectors import classification_backlog, review_queue_size

        try:
            backlog = classification_backlog()
            by_state = dict(Upload.objects.values_list("status").annotate(n=Count("id")).order_by())
            queue_depth = review_queue_size()
            recent = list(
                Upload.objects.filter(verdict_at__isnull=False)
                .order_by("-verdict_at")
                .values_list("created_at", "verdict_at")[:1000]
            )
            active = list(
                ModelVersion.objects.filter(status=ModelVersionStatus.ACTIVE).values_list("role", "pk", "architecture")
            )
        except Exception:  # noqa: BLE001 - no database (e.g. before migrate): export nothing
            return
        uploads = GaugeMetricFamily("moderation_uploads", "Uploads by state", labels=["state"])
        for state, count in sorted(by_state.items()):
            uploads.add_metric([state], count)
        yield uploads
        yield GaugeMetricFamily("moderation_review_queue_depth", "Items waiting for a moderator", value=queue_depth)
        yield GaugeMetricFamily(
            "moderation_classification_backlog", "Uploads waiting for the models", value=backlog.depth
        )
        yield GaugeMetricFamily(
            "moderation_classification_verdicts_per_second",
            "Verdict pace over the last 30 s",
            value=backlog.verdicts_per_second,
        )
        delay = backlog.expected_delay_seconds
        if delay is not None:  # unknown (uploads wait, nothing settled lately): no sample
            yield GaugeMetricFamily(
                "moderation_classification_expected_delay_seconds",
                "Backlog / pace: a new upload's wait for its verdict",
                value=delay,
            )
        latency = GaugeMetricFamily(
            "moderation_verdict_latency_seconds",
            "Upload-to-verdict time over the last 1000 verdicts",
            labels=["quantile"],
        )
        seconds = sorted((verdict - created).total_seconds() for created, verdict in recent)
        for quantile in (0.5, 0.95, 0.99):
            if seconds:
                latency.add_metric([str(quantile)], seconds[min(len(seconds) - 1, int(quantile * len(seconds)))])
        yield latency
        versions = GaugeMetricFamily(
            "moderation_model_version_in_service",
            "Active model version by role",
            labels=["role", "version", "architecture"],
        )
        for role, pk, architecture in active:
            versions.add_metric([role, str(pk), architecture], pk)
        yield versions


def metrics_allowed(request: HttpRequest) -> bool:
    """Only with METRICS_TOKEN as a bearer token (no token set: nobody)."""
    return bearer_token_matches(request, settings.METRICS_TOKEN)
