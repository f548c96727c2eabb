"""Signed webhooks: partners are told of final verdicts and appeal outcomes.

Each endpoint has its own secret, shown to the partner only when the endpoint
is created or the secret rotated. Signature: hex HMAC-SHA256 with the secret
over "<timestamp>." followed by the raw request body (which carries the
event's `id`); sent as `X-Moderation-Signature: sha256=<hex>` with
`X-Moderation-Timestamp: <unix seconds>` and `X-Moderation-Event-Id`. During a
rotation's grace period the header carries two values, comma-separated: one
for the new secret, one for the previous.

How an attempt reaches the partner (one resolution, no redirects, one
deadline) lives in `webhook_transport`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from datetime import timedelta
from functools import partial
from urllib.parse import urlsplit

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from moderation.errors import Conflict, InvalidInput
from moderation.models import (
    AttemptOutcome,
    AuditAction,
    DeliveryStatus,
    Partner,
    Upload,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    new_webhook_secret,
)
from moderation.representation import upload_representation
from moderation.services import webhook_transport
from moderation.services.audit import audit_record
from moderation.services.webhook_transport import AttemptResult, Unresolvable, UnsafeAddress

logger = logging.getLogger(__name__)

GIVE_UP_AFTER = timedelta(hours=24)
SIGNATURE_HEADER = "X-Moderation-Signature"
TIMESTAMP_HEADER = "X-Moderation-Timestamp"
EVENT_ID_HEADER = "X-Moderation-Event-Id"
# The events sent (services.lifecycle: a final verdict, an appeal's outcome).
WEBHOOK_EVENTS = ("upload.decided", "appeal.decided")
WEBHOOK_URL_MAX_LENGTH = WebhookEndpoint._meta.get_field("url").max_length or 500


def sign(secret: str, timestamp: str, body: bytes) -> str:
    return hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def endpoint_signing_secrets(endpoint: WebhookEndpoint, *, now=None) -> list[str]:
    """The secrets that sign now: the current one, and the previous one during its grace period."""
    now = now or timezone.now()
    result = [endpoint.secret]
    if endpoint.previous_secret and endpoint.previous_secret_expires_at and endpoint.previous_secret_expires_at > now:
        result.append(endpoint.previous_secret)
    return result


def signature_header(signing_secrets: list[str], timestamp: str, body: bytes) -> str:
    return ",".join(f"sha256={sign(secret, timestamp, body)}" for secret in signing_secrets)


def retry_delay(attempts: int) -> timedelta:
    """30 s, 1 min, 2 min … doubling, at most 6 hours between tries."""
    return timedelta(seconds=min(6 * 3600, 30 * 2 ** max(0, attempts - 1)))


def validate_callback_url(url: str) -> None:
    """Refuse URLs that would make the platform call into private networks
    (server-side request forgery), unless a setting allows loopback/private.
    Checked again, with the connection pinned, on every attempt."""
    if len(url) > WEBHOOK_URL_MAX_LENGTH:
        raise InvalidInput(
            f"The callback URL is longer than {WEBHOOK_URL_MAX_LENGTH} characters.", code="invalid_webhook_url"
        )
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. an unclosed IPv6 bracket
        raise InvalidInput("The callback URL cannot be parsed.", code="invalid_webhook_url") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput("The callback URL must be an http(s) URL with a host.", code="invalid_webhook_url")
    if parts.username or parts.password:
        raise InvalidInput("The callback URL may not carry credentials.", code="invalid_webhook_url")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise InvalidInput("The callback URL's port is not valid.", code="invalid_webhook_url") from None
    try:
        webhook_transport.vetted_addresses(parts.hostname, port, allow_private=settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES)
    except Unresolvable as exc:
        raise InvalidInput(f"The callback URL's host does not resolve: {exc}.", code="invalid_webhook_url") from None
    except UnsafeAddress as exc:
        raise InvalidInput(f"The callback URL is refused: {exc}.", code="unsafe_webhook_url") from None


@transaction.atomic
def webhook_endpoint_create(*, partner: Partner, url: str, actor=None) -> WebhookEndpoint:
    """Register a callback URL; the returned endpoint's `secret` is for the
    partner to see this once."""
    validate_callback_url(url)
    Partner.objects.select_for_update().filter(pk=partner.pk).first()  # one create at a time per partner
    limit = settings.WEBHOOK_MAX_ENDPOINTS_PER_PARTNER
    if WebhookEndpoint.objects.filter(partner=partner).count() >= limit:
        raise Conflict(
            f"A partner may register at most {limit} webhook endpoints; remove one first.",
            code="webhook_limit_reached",
            detail={"limit": limit},
        )
    endpoint = WebhookEndpoint.objects.create(partner=partner, url=url, secret=new_webhook_secret())
    audit_record(actor=actor, action=AuditAction.WEBHOOK_CHANGED, target=endpoint, data={"url": url, "op": "create"})
    return endpoint


@transaction.atomic
def webhook_secret_rotate(*, endpoint: WebhookEndpoint, actor=None) -> WebhookEndpoint:
    """A new secret for the endpoint; the old one keeps signing (beside the new)
    for WEBHOOK_SECRET_GRACE_HOURS, so the partner can switch without losing
    deliveries. The returned endpoint's `secret` is for the partner to see once."""
    endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
    endpoint.previous_secret = endpoint.secret
    endpoint.previous_secret_expires_at = timezone.now() + timedelta(hours=settings.WEBHOOK_SECRET_GRACE_HOURS)
    endpoint.secret = new_webhook_secret()
    endpoint.save(update_fields=["secret", "previous_secret", "previous_secret_expires_at"])
    audit_record(
        actor=actor,
        action=AuditAction.WEBHOOK_CHANGED,
        target=endpoint,
        data={
            "url": endpoint.url,
            "op": "rotate_secret",
            "previous_secret_expires_at": endpoint.previous_secret_expires_at.isoformat(),
        },
    )
    return endpoint


@transaction.atomic
def webhook_endpoint_delete(*, endpoint: WebhookEndpoint, actor=None) -> None:
    audit_record(
        actor=actor, action=AuditAction.WEBHOOK_CHANGED, target=endpoint, data={"url": endpoint.url, "op": "delete"}
    )
    endpoint.delete()


@transaction.atomic
def webhook_endpoint_update(*, endpoint_id: int, url: str, active: bool, actor=None) -> WebhookEndpoint:
    """Change an endpoint's URL (validated as when it was created) or switch it on or off; audited."""
    endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint_id)
    changes: dict[str, dict[str, object]] = {}
    if url != endpoint.url:
        validate_callback_url(url)
        changes["url"] = {"from": endpoint.url, "to": url}
    if active != endpoint.active:
        changes["active"] = {"from": endpoint.active, "to": active}
    if changes:
        endpoint.url, endpoint.active = url, active
        endpoint.save(update_fields=["url", "active"])
        audit_record(actor=actor, action=AuditAction.WEBHOOK_CHANGED, target=endpoint, data={"op": "change", **changes})
    return endpoint


def upload_payload(upload: Upload, event: str) -> dict:
    """An event's body: the upload as the API answers it (one representation,
    `moderation.representation`), and for an appeal's outcome the appeal."""
    upload_data = upload_representation(upload)
    return {"event": event, "upload": upload_data, "appeal": upload_data["appeal"]}


def webhooks_notify(*, upload: Upload, event: str, delay: float = 0.0) -> list[WebhookDelivery]:
    """Queue a delivery of this event to each of the partner's endpoints (after
    commit), `delay` seconds from now (a moderator's decision waits out its
    undo window: webhooks_cancel_unsent takes it back if it is undone)."""
    if upload.partner_id is None:
        return []
    endpoints = list(WebhookEndpoint.objects.filter(partner_id=upload.partner_id, active=True))
    if not endpoints:
        return []
    payload = upload_payload(upload, event)
    deliveries = [
        WebhookDelivery.objects.create(
            endpoint=e,
            upload=upload,
            event=event,
            payload=payload,
            next_attempt_at=timezone.now() + timedelta(seconds=delay),
        )
        for e in endpoints
    ]
    for delivery in deliveries:
        transaction.on_commit(partial(_enqueue, delivery.pk, countdown=delay))
    return deliveries


def webhooks_cancel_unsent(*, upload: Upload) -> int:
    """Drop the upload's deliveries that no attempt has sent yet (an undone
    decision's); returns how many."""
    deleted, _ = WebhookDelivery.objects.filter(upload=upload, status=DeliveryStatus.PENDING, attempts=0).delete()
    return deleted


def _enqueue(delivery_id: int, countdown: float = 0) -> None:
    from moderation.tasks import deliver_webhook

    try:
        deliver_webhook.apply_async(args=[delivery_id], countdown=countdown)
    except Exception:  # noqa: BLE001 - the sweeper re-queues overdue deliveries
        logger.warning("could not queue webhook delivery %s", delivery_id, exc_info=True)


def webhook_deliver(*, delivery_id: int) -> WebhookDelivery | None:
    """One attempt. On failure the next is scheduled with backoff, for up to 24
    hours. Every ending is recorded as an attempt, the task's soft time limit
    included, so the give-up always comes."""
    with transaction.atomic():
        delivery = WebhookDelivery.objects.select_for_update().select_related("endpoint").filter(pk=delivery_id).first()
        if delivery is None or delivery.status != DeliveryStatus.PENDING:
            return delivery
        if delivery.next_attempt_at and delivery.next_attempt_at > timezone.now() + timedelta(seconds=1):
            return delivery  # an early duplicate message; the scheduled one will come
        delivery.attempts += 1
        delivery.next_attempt_at = timezone.now() + retry_delay(delivery.attempts)
        delivery.save(update_fields=["attempts", "next_attempt_at"])
    endpoint = delivery.endpoint
    body = delivery_body(delivery)
    timestamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "moderation-platform-webhooks/1",
        SIGNATURE_HEADER: signature_header(endpoint_signing_secrets(endpoint), timestamp, body),
        TIMESTAMP_HEADER: timestamp,
        EVENT_ID_HEADER: str(delivery.event_id),
    }
    started = time.perf_counter()
    try:
        result = webhook_transport.post(
            endpoint.url,
            body=body,
            headers=headers,
            timeout=settings.WEBHOOK_TIMEOUT_SECONDS,
            allow_private=settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES,
        )
    except SoftTimeLimitExceeded:
        result = AttemptResult(AttemptOutcome.SOFT_TIME_LIMIT, error="the task's soft time limit ended the attempt")
    except Exception as exc:  # noqa: BLE001 - recorded like any ending, so the 24-hour give-up comes
        logger.exception("webhook delivery %s: unexpected error", delivery.pk)
        result = AttemptResult(AttemptOutcome.EXCEPTION, error=f"{type(exc).__name__}: {exc}"[:1000])
    return webhook_attempt_record(
        delivery=delivery, result=result, latency_ms=int((time.perf_counter() - started) * 1000)
    )


def delivery_body(delivery: WebhookDelivery) -> bytes:
    """The JSON sent: the event's payload with its event_id (the same on every attempt)."""
    return json.dumps(
        {**delivery.payload, "event_id": str(delivery.event_id)}, separators=(",", ":"), sort_keys=True
    ).encode()


def webhook_attempt_record(*, delivery: WebhookDelivery, result: AttemptResult, latency_ms: int = 0) -> WebhookDelivery:
    """Keep one attempt's ending; mark the delivery delivered, given up (24 hours
    after it was created) or due again (queued with its backoff)."""
    with transaction.atomic():
        WebhookAttempt.objects.create(
            delivery=delivery,
            outcome=result.outcome,
            status_code=result.status_code,
            latency_ms=latency_ms,
            error=result.error[:1000],
        )
        if result.outcome == AttemptOutcome.DELIVERED:
            delivery.status, delivery.delivered_at = DeliveryStatus.DELIVERED, timezone.now()
        elif timezone.now() - delivery.created_at >= GIVE_UP_AFTER:
            delivery.status = DeliveryStatus.FAILED
        delivery.save(update_fields=["status", "delivered_at"])
    if delivery.status == DeliveryStatus.PENDING and delivery.next_attempt_at is not None:
        _enqueue(delivery.pk, countdown=max(0.0, (delivery.next_attempt_at - timezone.now()).total_seconds()))
    return delivery


def webhook_attempt_interrupted(*, delivery_id: int) -> WebhookDelivery | None:
    """The task's soft time limit ended it outside the HTTP call (waiting for a
    lock, recording): keep that as an attempt, so the give-up still comes."""
    delivery = WebhookDelivery.objects.filter(pk=delivery_id, status=DeliveryStatus.PENDING).first()
    if delivery is None:
        return None
    delivery.next_attempt_at = timezone.now() + retry_delay(max(1, delivery.attempts))
    delivery.save(update_fields=["next_attempt_at"])
    return webhook_attempt_record(
        delivery=delivery,
        result=AttemptResult(AttemptOutcome.SOFT_TIME_LIMIT, error="the task's soft time limit ended the attempt"),
    )


def webhook_replay(*, delivery: WebhookDelivery, actor=None) -> None:
    """Send a delivery again by hand (also one that was delivered or given up)."""
    with transaction.atomic():
        WebhookDelivery.objects.filter(pk=delivery.pk).update(
            status=DeliveryStatus.PENDING, next_attempt_at=timezone.now(), created_at=timezone.now()
        )
        transaction.on_commit(lambda: _enqueue(delivery.pk))


def webhooks_retry_due() -> int:
    """Re-queue deliveries whose next attempt is overdue (their message was lost)."""
    overdue = WebhookDelivery.objects.filter(
        status=DeliveryStatus.PENDING, next_attempt_at__lt=timezone.now() - timedelta(minutes=5)
    )
    ids = list(overdue.values_list("pk", flat=True)[:500])
    for pk in ids:
        _enqueue(pk)
    return len(ids)
