"""The partner API to production standard: keys, limits, idempotency, lists,
appeals and signed webhooks against a real receiver on loopback."""

import hashlib
import hmac
import json
import threading
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from moderation.models import (
    ApiKey,
    Appeal,
    AuditEvent,
    IdempotencyRecord,
    Partner,
    Upload,
    UploadStatus,
    WebhookDelivery,
)
from moderation.services.partners import api_key_create, api_key_revoke, api_key_rotate
from moderation.services.review import review_decide
from moderation.services.uploads import upload_create
from moderation.services.webhooks import webhook_deliver
from tests.helpers import FakeReceiver, fashion_png

pytestmark = pytest.mark.django_db

URL = "/api/v1/uploads/"


def auth(key):
    return {"HTTP_AUTHORIZATION": f"Api-Key {key}"}


def post(client, key, index=0, headers=None, **fields):
    data = {"image": SimpleUploadedFile(f"{index}.png", fashion_png(index)[0]), **fields}
    return client.post(URL + fields.pop("query", ""), data, format="multipart", **auth(key), **(headers or {}))


def test_several_keys_revoke_and_rotate(api_client, partner_key):
    partner, first = partner_key()
    _, second = api_key_create(partner=partner, name="ci")
    assert post(api_client, first).status_code == 202 and post(api_client, second, 1).status_code == 202
    api_key_revoke(key=ApiKey.objects.get(partner=partner, name="ci"))
    assert post(api_client, second, 2).status_code == 401
    new_key, raw = api_key_rotate(key=ApiKey.objects.get(partner=partner, name="default"))
    assert post(api_client, first, 3).status_code == 401
    assert post(api_client, raw, 4).status_code == 202
    assert AuditEvent.objects.filter(action="api_key.revoked").count() == 2


def test_burst_limit_answers_429_with_retry_after(api_client, partner_key):
    partner, key = partner_key()
    Partner.objects.filter(pk=partner.pk).update(burst_limit=3)
    statuses = [api_client.get(URL, **auth(key)).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    response = api_client.get(URL, **auth(key))
    assert response.json()["error"]["code"] == "rate_limited"
    assert 1 <= int(response["Retry-After"]) <= 11
    # Another partner's key has its own counters.
    _, other = partner_key()
    assert api_client.get(URL, **auth(other)).status_code == 200


def test_uploads_and_reads_are_limited_apart(api_client, partner_key, monkeypatch):
    """Polling for verdicts never uses up the uploads' allowance, nor the
    other way round (docs/api.md, Limits)."""
    from moderation.services import ratelimit

    monkeypatch.setattr(ratelimit, "_now", lambda: 1_800_000_005.0)  # inside one window
    partner, key = partner_key()
    Partner.objects.filter(pk=partner.pk).update(upload_burst_limit=2, burst_limit=3)
    uploads = [post(api_client, key, i) for i in range(3)]
    assert [r.status_code for r in uploads] == [202, 202, 429]
    assert uploads[2].json()["error"]["code"] == "rate_limited" and "upload" in uploads[2].json()["error"]["message"]
    assert Upload.objects.count() == 2
    polls = [api_client.get(f"{URL}{uploads[0].json()['id']}/", **auth(key)).status_code for _ in range(4)]
    assert polls == [200, 200, 200, 429]
    Partner.objects.filter(pk=partner.pk).update(upload_burst_limit=4)  # three counted so far, the refused one too
    assert post(api_client, key, 5).status_code == 202  # reads over their limit; an upload still goes


def test_default_limits_fit_a_first_batch():
    """The defaults documented in docs/api.md: uploads 50 per 10 s and 1,000 an
    hour, other requests 100 per 10 s and 6,000 an hour, 10,000 uploads a day."""
    partner = Partner(name="new")
    assert (partner.upload_burst_limit, partner.upload_hourly_limit) == (50, 1_000)
    assert (partner.burst_limit, partner.sustained_limit) == (100, 6_000)
    assert partner.daily_quota == 10_000


def test_daily_quota(api_client, partner_key):
    partner, key = partner_key()
    Partner.objects.filter(pk=partner.pk).update(daily_quota=2)
    assert [post(api_client, key, i).status_code for i in range(2)] == [202, 202]
    response = post(api_client, key, 3)
    assert response.status_code == 429 and response.json()["error"]["code"] == "quota_exceeded"
    assert int(response["Retry-After"]) > 0
    assert Upload.objects.count() == 2


def test_idempotency_key(api_client, partner_key):
    _, key = partner_key()
    first = post(api_client, key, 5, headers={"HTTP_IDEMPOTENCY_KEY": "abc"}, external_id="x1")
    again = post(api_client, key, 5, headers={"HTTP_IDEMPOTENCY_KEY": "abc"}, external_id="x1")
    assert first.status_code == 202 and again.json()["id"] == first.json()["id"]
    assert again["Idempotent-Replayed"] == "true"
    different = post(api_client, key, 6, headers={"HTTP_IDEMPOTENCY_KEY": "abc"}, external_id="x1")
    assert different.status_code == 409 and different.json()["error"]["code"] == "idempotency_key_reused"
    assert Upload.objects.count() == 1
    # After 24 hours the key is free again.
    IdempotencyRecord.objects.update(created_at=timezone.now() - timedelta(hours=25))
    later = post(api_client, key, 7, headers={"HTTP_IDEMPOTENCY_KEY": "abc"})
    assert later.status_code == 202 and later.json()["id"] != first.json()["id"]


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_racing_identical_requests_make_one_upload(partner_key):
    from rest_framework.test import APIClient

    _, key = partner_key()
    barrier = threading.Barrier(4)
    ids, errors = [], []

    def send():
        from django.db import connection

        client = APIClient()
        barrier.wait()
        try:
            response = post(client, key, 9, headers={"HTTP_IDEMPOTENCY_KEY": "race"})
            ids.append((response.status_code, response.json().get("id")))
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=send) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert {status for status, _ in ids} <= {201, 202} and len({i for _, i in ids}) == 1
    assert Upload.objects.count() == 1


def test_wait_mode_without_a_worker_answers_202_in_time(api_client, partner_key):
    import time

    _, key = partner_key()
    started = time.monotonic()
    response = post(api_client, key, query="?wait=0.5")
    assert response.status_code == 202 and time.monotonic() - started < 5
    bad = post(api_client, key, 1, query="?wait=11")
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_wait"


def test_list_filters_and_cursor(api_client, partner_key):
    partner, key = partner_key()
    other, other_key = partner_key()
    uploads = [upload_create(data=fashion_png(i)[0], partner=partner) for i in range(5)]
    upload_create(data=fashion_png(9)[0], partner=other)
    Upload.objects.filter(pk=uploads[0].pk).update(status=UploadStatus.REJECTED)
    body = api_client.get(URL + "?limit=2", **auth(key)).json()
    assert len(body["results"]) == 2 and body["next"]
    seen = [r["id"] for r in body["results"]]
    while body["next"]:
        body = api_client.get(body["next"], **auth(key)).json()
        seen += [r["id"] for r in body["results"]]
    assert sorted(seen) == sorted(str(u.pk) for u in uploads)  # all mine, none of the other partner's
    rejected = api_client.get(URL + "?status=rejected", **auth(key)).json()["results"]
    assert [r["id"] for r in rejected] == [str(uploads[0].pk)]
    future = (timezone.now() + timedelta(hours=1)).isoformat().replace("+00:00", "Z")
    assert api_client.get(URL, {"created_after": future}, **auth(key)).json()["results"] == []
    assert api_client.get(URL + "?status=nope", **auth(key)).json()["error"]["code"] == "invalid_filter"
    assert api_client.get(URL + "?created_after=yesterday", **auth(key)).status_code == 400
    # Found by schemathesis on PostgreSQL: an offset it cannot store, a date past year 9999, a NUL.
    for query in (
        "created_after=6078-01-30T20:25:22.9706%2B16:36",
        "created_before=9999-12-31T23:59:59-05:00",
        "label=a%00b",
        "created_after=2026-02-30T00:00:00Z",
    ):
        assert api_client.get(f"{URL}?{query}", **auth(key)).status_code in (200, 400), query


def test_list_filters_by_label_and_flag(api_client, partner_key):
    from moderation.models import ClassPolicy
    from tests.factories import SURE, analysis, classified

    partner, key = partner_key()
    ClassPolicy.objects.all().update(prohibited=True, reject_threshold=0.0)
    upload = classified(upload_create(data=fashion_png(0)[0], partner=partner), analysis(SURE))
    label = upload.predictions.get().label
    assert [r["id"] for r in api_client.get(URL, {"label": label}, **auth(key)).json()["results"]] == [str(upload.pk)]
    assert api_client.get(URL, {"label": "Nothing"}, **auth(key)).json()["results"] == []
    assert len(api_client.get(URL, {"flag": "prohibited_class"}, **auth(key)).json()["results"]) == 1


def test_appeal_through_the_api_and_a_second_moderator_decides(api_client, partner_key, moderator, second_moderator):
    from moderation.errors import Forbidden
    from tests.factories import upload_in_review

    partner, key = partner_key()
    _, other_key = partner_key()
    upload = upload_in_review(partner=partner)
    url = f"{URL}{upload.pk}/appeal/"
    assert (
        api_client.post(url, {"message": "too early"}, format="json", **auth(key)).json()["error"]["code"]
        == "not_rejected"
    )
    review_decide(upload_id=upload.pk, moderator=moderator, verdict="reject", reason_code="spam")
    assert api_client.post(url, {"message": "x"}, format="json", **auth(other_key)).status_code == 404
    response = api_client.post(url, {"message": "It is my own bag."}, format="json", **auth(key))
    assert response.status_code == 201 and response.json()["status"] == "open"
    assert (
        api_client.post(url, {"message": "again"}, format="json", **auth(key)).json()["error"]["code"]
        == "already_appealed"
    )
    upload.refresh_from_db()
    assert upload.status == UploadStatus.APPEALED

    with pytest.raises(Forbidden):
        review_decide(upload_id=upload.pk, moderator=moderator, verdict="approve")
    review_decide(upload_id=upload.pk, moderator=second_moderator, verdict="approve")
    appeal = Appeal.objects.get(upload=upload)
    assert appeal.status == "overturned" and appeal.decided_by == second_moderator
    assert AuditEvent.objects.filter(action="appeal.decided", actor=second_moderator).exists()
    body = api_client.get(f"{URL}{upload.pk}/", **auth(key)).json()
    assert body["status"] == "approved" and body["appeal"]["status"] == "overturned"


@pytest.fixture
def receiver():
    r = FakeReceiver()
    yield r
    r.close()


def verify(secret: str, headers: dict, body: bytes) -> bool:
    """The receiver's side, as docs/api.md documents it."""
    timestamp = headers["X-Moderation-Timestamp"]
    expected = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(headers["X-Moderation-Signature"], f"sha256={expected}")


def test_private_callback_urls_are_refused_unless_allowed(api_client, partner_key, settings, receiver):
    _, key = partner_key()
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = False
    for url, code in (
        (receiver.url, "unsafe_webhook_url"),
        ("http://10.0.0.5/hook", "unsafe_webhook_url"),
        ("http://169.254.169.254/latest", "unsafe_webhook_url"),
        ("ftp://example.com/x", "invalid_webhook_url"),
        ("not a url", "invalid_webhook_url"),
        ("http://[::1/x", "invalid_webhook_url"),
        ("https://" + "a" * 500 + ".example/", "invalid_webhook_url"),
        ("", "invalid_webhook_url"),
    ):
        response = api_client.post("/api/v1/webhooks/", {"url": url}, format="json", **auth(key))
        assert response.status_code == 400, url
        assert response.json()["error"]["code"] == code, (url, response.json())
    response = api_client.post("/api/v1/webhooks/", {}, format="json", **auth(key))
    assert response.json()["error"]["code"] == "invalid_webhook_url"
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = True
    assert api_client.post("/api/v1/webhooks/", {"url": receiver.url}, format="json", **auth(key)).status_code == 201


def test_verdict_is_delivered_signed_and_retried(
    api_client, partner_key, moderator, receiver, django_capture_on_commit_callbacks
):
    from tests.factories import upload_in_review

    partner, key = partner_key()
    created = api_client.post("/api/v1/webhooks/", {"url": receiver.url}, format="json", **auth(key)).json()
    secret = created["signing_secret"]
    listed = api_client.get("/api/v1/webhooks/", **auth(key)).json()
    assert [w["url"] for w in listed] == [receiver.url]

    upload = upload_in_review(partner=partner, external_id="post-2")
    assert not WebhookDelivery.objects.exists()  # in review: not final yet
    receiver.status = 500
    with django_capture_on_commit_callbacks():
        review_decide(upload_id=upload.pk, moderator=moderator, verdict="reject", reason_code="spam")
    delivery = WebhookDelivery.objects.get()
    # A moderator's decision waits out its undo window before it is sent.
    webhook_deliver(delivery_id=delivery.pk)
    assert WebhookDelivery.objects.get(pk=delivery.pk).attempts == 0 and not receiver.requests
    WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
    webhook_deliver(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    assert delivery.status == "pending" and delivery.attempts == 1 and delivery.next_attempt_at > timezone.now()
    attempt = delivery.attempt_log.get()
    assert attempt.status_code == 500 and attempt.error == "HTTP 500"

    receiver.status = 200
    WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
    webhook_deliver(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    assert delivery.status == "delivered" and delivery.attempt_log.count() == 2
    headers, body = receiver.requests[-1]
    assert verify(secret, headers, body)
    assert not verify("wrong-secret", headers, body)
    payload = json.loads(body)
    assert payload["event"] == "upload.decided"
    assert payload["upload"] == {
        **payload["upload"],
        "id": str(upload.pk),
        "external_id": "post-2",
        "verdict": "rejected",
    }


def test_delivery_gives_up_after_24_hours(partner_key, receiver):
    from moderation.services.webhooks import webhook_endpoint_create, webhooks_notify

    partner, _ = partner_key()
    webhook_endpoint_create(partner=partner, url=receiver.url)
    receiver.status = 503
    upload = upload_create(data=fashion_png(0)[0], partner=partner)
    [delivery] = webhooks_notify(upload=upload, event="upload.decided")
    WebhookDelivery.objects.filter(pk=delivery.pk).update(created_at=timezone.now() - timedelta(hours=25))
    webhook_deliver(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    assert delivery.status == "failed" and delivery.attempt_log.get().status_code == 503
