"""Signed webhooks: partners are told of final verdicts and appeal outcomes.

Signature: hex HMAC-SHA256 with the partner's webhook secret over
"<timestamp>." followed by the raw request body; sent as
`X-Moderation-Signature: sha256=<hex>` with `X-Moderation-Timestamp: <unix
seconds>`, so a receiver can verify the body and reject replays.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import logging
import secrets
import socket
import time
import urllib.error
import urllib.request
from datetime import timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from moderation.errors import InvalidInput
from moderation.models import (
    AuditAction,
    DeliveryStatus,
    Partner,
    Upload,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)
from moderation.services.audit import audit_record

logger = logging.getLogger(__name__)

GIVE_UP_AFTER = timedelta(hours=24)
SIGNATURE_HEADER = "X-Moderation-Signature"
TIMESTAMP_HEADER = "X-Moderation-Timestamp"


def sign(secret: str, timestamp: str, body: bytes) -> str:
    return hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def retry_delay(attempts: int) -> timedelta:
    """30 s, 1 min, 2 min … doubling, at most 6 hours between tries."""
    return timedelta(seconds=min(6 * 3600, 30 * 2 ** max(0, attempts - 1)))


def partner_webhook_secret(partner: Partner) -> str:
    if not partner.webhook_secret:
        partner.webhook_secret = secrets.token_hex(32)
        partner.save(update_fields=["webhook_secret"])
    return partner.webhook_secret


def validate_callback_url(url: str) -> None:
    """Refuse URLs that would make the platform call into private networks
    (server-side request forgery), unless a setting allows loopback/private."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput("The callback URL must be an http(s) URL with a host.", code="invalid_webhook_url")
    if parts.username or parts.password:
        raise InvalidInput("The callback URL may not carry credentials.", code="invalid_webhook_url")
    try:
        infos = socket.getaddrinfo(parts.hostname, parts.port or (443 if parts.scheme == "https" else 80),
                                   proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError):
        raise InvalidInput("The callback URL's host does not resolve.", code="invalid_webhook_url") from None
    for info in infos:
        address = ipaddress.ip_address(info[4][0].split("%")[0])
        allowed = settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES and (address.is_loopback or address.is_private)
        if not address.is_global and not allowed:
            raise InvalidInput(
                f"The callback URL resolves to a non-public address ({address}).", code="unsafe_webhook_url"
            )


@transaction.atomic
def webhook_endpoint_create(*, partner: Partner, url: str, actor=None) -> WebhookEndpoint:
    validate_callback_url(url)
    endpoint = WebhookEndpoint.objects.create(partner=partner, url=url)
    partner_webhook_secret(partner)
    audit_record(actor=actor, action=AuditAction.WEBHOOK_CHANGED, target=endpoint, data={"url": url, "op": "create"})
    return endpoint


@transaction.atomic
def webhook_endpoint_delete(*, endpoint: WebhookEndpoint, actor=None) -> None:
    audit_record(actor=actor, action=AuditAction.WEBHOOK_CHANGED, target=endpoint, data={"url": endpoint.url, "op": "delete"})
    endpoint.delete()


def upload_payload(upload: Upload, event: str) -> dict:
    flags = [{"kind": f.kind, "category": f.category, "score": f.score, "action": f.action} for f in upload.flags.all()]
    appeal = getattr(upload, "appeal", None) if hasattr(upload, "appeal") else None
    return {
        "event": event,
        "upload": {
            "id": str(upload.pk),
            "external_id": upload.external_id,
            "status": upload.status,
            "verdict": upload.status if upload.status in ("approved", "rejected") else None,
            "flags": flags,
            "declared_category": upload.declared_category,
            "categories": [{"name": name, "score": score} for name, score in upload.top_categories],
            "verdict_at": upload.verdict_at.isoformat() if upload.verdict_at else None,
        },
        "appeal": {"status": appeal.status} if appeal else None,
    }


def webhooks_notify(*, upload: Upload, event: str) -> list[WebhookDelivery]:
    """Queue a delivery of this event to each of the partner's endpoints (after commit)."""
    if upload.partner_id is None:
        return []
    endpoints = list(WebhookEndpoint.objects.filter(partner_id=upload.partner_id, active=True))
    if not endpoints:
        return []
    payload = upload_payload(upload, event)
    deliveries = [WebhookDelivery.objects.create(endpoint=e, upload=upload, event=event, payload=payload,
                                                 next_attempt_at=timezone.now()) for e in endpoints]
    for delivery in deliveries:
        transaction.on_commit(lambda pk=delivery.pk: _enqueue(pk))
    return deliveries


def _enqueue(delivery_id: int, countdown: float = 0) -> None:
    from moderation.tasks import deliver_webhook

    try:
        deliver_webhook.apply_async(args=[delivery_id], countdown=countdown)
    except Exception:  # noqa: BLE001 - the sweeper re-queues overdue deliveries
        logger.warning("could not queue webhook delivery %s", delivery_id, exc_info=True)


def webhook_deliver(*, delivery_id: int) -> WebhookDelivery | None:
    """One attempt. On failure the next is scheduled with backoff, for up to 24 hours."""
    with transaction.atomic():
        delivery = (WebhookDelivery.objects.select_for_update().select_related("endpoint__partner")
                    .filter(pk=delivery_id).first())
        if delivery is None or delivery.status != DeliveryStatus.PENDING:
            return delivery
        if delivery.next_attempt_at and delivery.next_attempt_at > timezone.now() + timedelta(seconds=1):
            return delivery  # an early duplicate message; the scheduled one will come
        delivery.attempts += 1
        delivery.next_attempt_at = timezone.now() + retry_delay(delivery.attempts)
        delivery.save(update_fields=["attempts", "next_attempt_at"])
    body = json.dumps(delivery.payload, separators=(",", ":"), sort_keys=True).encode()
    timestamp = str(int(time.time()))
    secret = partner_webhook_secret(delivery.endpoint.partner)
    status_code, error = None, ""
    started = time.perf_counter()
    try:
        validate_callback_url(delivery.endpoint.url)  # again: DNS may have changed since registration
        request = urllib.request.Request(delivery.endpoint.url, data=body, method="POST", headers={
            "Content-Type": "application/json",
            "User-Agent": "moderation-platform-webhooks/1",
            SIGNATURE_HEADER: f"sha256={sign(secret, timestamp, body)}",
            TIMESTAMP_HEADER: timestamp,
        })
        with urllib.request.urlopen(request, timeout=settings.WEBHOOK_TIMEOUT_SECONDS) as response:  # noqa: S310
            status_code = response.status
    except urllib.error.HTTPError as exc:
        status_code, error = exc.code, f"HTTP {exc.code}"
    except (urllib.error.URLError, OSError, InvalidInput) as exc:
        error = str(getattr(exc, "message", None) or exc)[:1000]
    latency = int((time.perf_counter() - started) * 1000)
    with transaction.atomic():
        WebhookAttempt.objects.create(delivery=delivery, status_code=status_code, latency_ms=latency, error=error)
        if status_code is not None and 200 <= status_code < 300:
            delivery.status, delivery.delivered_at = DeliveryStatus.DELIVERED, timezone.now()
        elif timezone.now() - delivery.created_at >= GIVE_UP_AFTER:
            delivery.status = DeliveryStatus.FAILED
        delivery.save(update_fields=["status", "delivered_at"])
    if delivery.status == DeliveryStatus.PENDING:
        _enqueue(delivery.pk, countdown=(delivery.next_attempt_at - timezone.now()).total_seconds())
    return delivery


def webhook_replay(*, delivery: WebhookDelivery, actor=None) -> None:
    """Send a delivery again by hand (also one that was delivered or given up)."""
    with transaction.atomic():
        WebhookDelivery.objects.filter(pk=delivery.pk).update(status=DeliveryStatus.PENDING, next_attempt_at=timezone.now(),
                                                               created_at=timezone.now())
        transaction.on_commit(lambda: _enqueue(delivery.pk))


def webhooks_retry_due() -> int:
    """Re-queue deliveries whose next attempt is overdue (their message was lost)."""
    overdue = WebhookDelivery.objects.filter(status=DeliveryStatus.PENDING,
                                             next_attempt_at__lt=timezone.now() - timedelta(minutes=5))
    ids = list(overdue.values_list("pk", flat=True)[:500])
    for pk in ids:
        _enqueue(pk)
    return len(ids)
