"""Webhooks as an attacker would use them (issue 16, items 2, 4 and 7).

Only the partner's receiver is fake, as real HTTP servers on loopback; the
platform's side is the real service, sockets and (where the attack needs
one) a real Celery worker. To show the address guard at work while the
platform may not call private addresses, the one receiver playing the
partner is made "public" through an exact (address, port) seam; every other
address, a redirect target on loopback included, is checked as in production.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import signal
import socket
import ssl
import threading
import time
from datetime import timedelta

import pytest
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings as django_settings
from django.utils import timezone

from moderation.models import (
    AttemptOutcome,
    AuditEvent,
    DeliveryStatus,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)
from moderation.services import webhook_transport
from moderation.services.webhooks import webhook_deliver, webhook_endpoint_create
from tests.conftest import start_process, stop_process, wait_for
from tests.helpers import FakeReceiver

pytestmark = pytest.mark.django_db


def auth(key):
    return {"HTTP_AUTHORIZATION": f"Api-Key {key}"}


class DripReceiver:
    """Reads the request, then answers a valid 200 one byte a second (about 40 s in all)."""

    ANSWER = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nX-Slow: 1\r\n\r\n"

    def __init__(self):
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.2)
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}/hook"
        self.bytes_sent = 0
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while not self.stopping.is_set():
            try:
                connection, _ = self.listener.accept()
            except TimeoutError:
                continue
            threading.Thread(target=self._drip, args=(connection,), daemon=True).start()

    def _drip(self, connection):
        with connection:
            connection.settimeout(5)
            request = b""
            while b"\r\n\r\n" not in request:
                chunk = connection.recv(65536)
                if not chunk:
                    return
                request += chunk
            for byte in self.ANSWER:
                if self.stopping.is_set():
                    return
                try:
                    connection.sendall(bytes([byte]))
                except OSError:
                    return  # the platform hung up: what we want
                self.bytes_sent += 1
                time.sleep(1)

    def close(self):
        self.stopping.set()
        self.thread.join()
        self.listener.close()


@pytest.fixture
def receivers():
    made = []

    def make(cls=FakeReceiver, **kwargs):
        made.append(cls(**kwargs))
        return made[-1]

    yield make
    for receiver in made:
        receiver.close()


@pytest.fixture
def partner(partner_key):
    return partner_key()[0]


@pytest.fixture
def public(monkeypatch):
    """Treat exactly these (address, port) pairs as public addresses."""

    def allow(*sockets):
        monkeypatch.setattr(webhook_transport, "TEST_PUBLIC_SOCKETS", frozenset(sockets))

    return allow


@pytest.fixture
def resolver(monkeypatch):
    """A DNS that answers from a script, one answer per lookup; records the lookups."""
    state = {"answers": [], "lookups": []}

    def resolve(host, port):
        state["lookups"].append(host)
        answers = state["answers"]
        return answers.pop(0) if len(answers) > 1 else answers[0]

    monkeypatch.setattr(webhook_transport, "resolve", resolve)
    return state


def make_delivery(endpoint: WebhookEndpoint, **fields) -> WebhookDelivery:
    payload = {"event": "upload.decided", "upload": {"id": "u-1", "verdict": "rejected"}, "appeal": None}
    return WebhookDelivery.objects.create(
        endpoint=endpoint, event="upload.decided", payload=payload, next_attempt_at=timezone.now(), **fields
    )


def endpoint_for(partner, url: str) -> WebhookEndpoint:
    return webhook_endpoint_create(partner=partner, url=url)


def verify(secret: str, headers: dict, body: bytes, seen: dict, tolerance: int = 300) -> bool:
    """The receiver's side exactly as docs/api.md documents it."""
    timestamp = headers["X-Moderation-Timestamp"]
    if abs(time.time() - int(timestamp)) > tolerance:
        return False
    expected = "sha256=" + hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    if not any(hmac.compare_digest(expected, value.strip()) for value in headers["X-Moderation-Signature"].split(",")):
        return False
    event_id = json.loads(body)["event_id"]
    if event_id in seen:
        return False  # a replay within the tolerance window
    seen[event_id] = time.time()
    return True


# --- 2. SSRF ---------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_to_loopback_is_not_followed(settings, partner, receivers, public, status):
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = False
    internal = receivers()  # a service on loopback the platform must never reach
    redirecting = receivers(status=status, headers={"Location": f"http://127.0.0.1:{internal.port}/admin/delete"})
    public(("127.0.0.1", redirecting.port))
    # The target really is refused by the guard (it is not the seam letting it through) …
    assert webhook_transport.address_refusal(ipaddress.ip_address("127.0.0.1"), port=internal.port) is not None

    delivery = make_delivery(endpoint_for(partner, redirecting.url))
    webhook_deliver(delivery_id=delivery.pk)

    # … and it was never called: the 3xx is a failed attempt, recorded, to be retried.
    assert len(redirecting.requests) == 1 and internal.requests == []
    attempt = WebhookAttempt.objects.get(delivery=delivery)
    assert attempt.outcome == AttemptOutcome.REDIRECT and attempt.status_code == status
    assert f"127.0.0.1:{internal.port}" in attempt.error and "not followed" in attempt.error
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.PENDING and delivery.next_attempt_at > timezone.now()


def test_redirects_are_not_followed_even_where_private_addresses_are_allowed(settings, partner, receivers):
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = True  # local development
    internal = receivers()
    redirecting = receivers(status=302, headers={"Location": internal.url})
    delivery = make_delivery(endpoint_for(partner, redirecting.url))
    webhook_deliver(delivery_id=delivery.pk)
    assert internal.requests == []
    assert WebhookAttempt.objects.get(delivery=delivery).outcome == AttemptOutcome.REDIRECT


def test_dns_rebinding_connects_to_the_address_that_was_checked(settings, partner, receivers, public, resolver):
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = False
    vetted = receivers(host="127.0.0.1")  # plays the partner's public address
    internal = None
    for _ in range(20):  # the same port on another loopback address: the rebinding target
        try:
            internal = receivers(host="127.0.0.2", port=vetted.port)
            break
        except OSError:
            vetted.close()
            vetted = receivers(host="127.0.0.1")
    assert internal is not None
    public(("127.0.0.1", vetted.port))
    # Registration and the attempt's own lookup see the public address; any
    # second lookup would be answered with the internal one.
    resolver["answers"] = [["127.0.0.1"], ["127.0.0.1"], ["127.0.0.2"]]
    endpoint = endpoint_for(partner, f"http://partner.example:{vetted.port}/hook")
    delivery = make_delivery(endpoint)

    webhook_deliver(delivery_id=delivery.pk)

    assert internal.requests == []
    [(headers, _)] = vetted.requests
    assert headers["Host"] == f"partner.example:{vetted.port}"  # the host name still travels
    assert resolver["lookups"] == ["partner.example", "partner.example"]  # one per registration, one per attempt
    assert WebhookAttempt.objects.get(delivery=delivery).outcome == AttemptOutcome.DELIVERED


def _certificate_authority(tmp_path):
    """A CA of the test's own, and a function issuing server certificates for a name."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)

    def certificate(name, key, issuer_name, issuer_key, *, ca):
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
            .issuer_name(issuer_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if not ca:
            builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        return builder.sign(issuer_key, hashes.SHA256())

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test CA")])
    ca_cert = certificate("test CA", ca_key, ca_name, ca_key, ca=True)
    ca_file = tmp_path / "ca.pem"
    ca_file.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))

    def server_context(name: str, seen_names: list) -> ssl.SSLContext:
        key = ec.generate_private_key(ec.SECP256R1())
        pem = tmp_path / f"{name}.pem"
        pem.write_bytes(
            certificate(name, key, ca_name, ca_key, ca=False).public_bytes(serialization.Encoding.PEM)
            + key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(pem)
        context.sni_callback = lambda sock, server_name, ctx: seen_names.append(server_name)
        return context

    return str(ca_file), server_context


def test_tls_goes_to_the_vetted_address_with_the_host_name_for_sni_and_certificate(
    settings, partner, receivers, public, resolver, monkeypatch, tmp_path
):
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = False
    ca_file, server_context = _certificate_authority(tmp_path)
    # Certificates are verified as in production, against this test's CA instead of the system's.
    monkeypatch.setattr(webhook_transport, "tls_context", lambda: ssl.create_default_context(cafile=ca_file))
    names: list = []
    good = receivers(tls=server_context("partner.example", names))
    wrong = receivers(tls=server_context("other.example", names))
    public(("127.0.0.1", good.port), ("127.0.0.1", wrong.port))
    resolver["answers"] = [["127.0.0.1"]]

    delivery = make_delivery(endpoint_for(partner, f"https://partner.example:{good.port}/hook"))
    webhook_deliver(delivery_id=delivery.pk)
    assert WebhookAttempt.objects.get(delivery=delivery).outcome == AttemptOutcome.DELIVERED
    assert names == ["partner.example"]
    assert good.requests[0][0]["Host"] == f"partner.example:{good.port}"

    # The address is right but the certificate is for another name: refused by TLS.
    delivery = make_delivery(endpoint_for(partner, f"https://partner.example:{wrong.port}/hook"))
    webhook_deliver(delivery_id=delivery.pk)
    attempt = WebhookAttempt.objects.get(delivery=delivery)
    assert attempt.outcome == AttemptOutcome.CONNECTION_ERROR and "certificate" in attempt.error.lower()
    assert wrong.requests == []


def test_every_resolved_address_is_checked(settings, partner, resolver):
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = False
    resolver["answers"] = [["93.184.216.34"]]
    endpoint = endpoint_for(partner, "https://partner.example/hook")
    resolver["answers"] = [["93.184.216.34", "10.0.0.7"]]  # one public, one private answer
    delivery = make_delivery(endpoint)
    webhook_deliver(delivery_id=delivery.pk)
    attempt = WebhookAttempt.objects.get(delivery=delivery)
    assert attempt.outcome == AttemptOutcome.REFUSED_ADDRESS and "10.0.0.7" in attempt.error


REFUSED_ALWAYS = [
    "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
    "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
    "64:ff9b::5db8:d822",  # NAT64 even of a public address: we cannot see where it goes
    "64:ff9b:1::a00:1",  # NAT64 local-use prefix
    "192.0.0.9",
    "192.0.0.10",
    "192.0.0.170",
    "192.0.0.1",
    "100.64.0.1",
    "100.127.255.254",  # carrier-grade NAT
    "169.254.169.254",
    "fe80::1",
    "0.0.0.0",
    "::",
    "0.1.2.3",
    "224.0.0.1",
    "ff02::1",
    "255.255.255.255",
    "240.0.0.1",
    "198.18.0.1",
    "192.0.2.1",
    "2001:db8::1",
    "::ffff:169.254.169.254",  # IPv4-mapped
    "::169.254.169.254",  # IPv4-compatible
    "2002:a9fe:a9fe::1",  # 6to4 embedding 169.254.169.254
    "2002:0a00:0001::1",  # 6to4 embedding 10.0.0.1
    "2001:0:4136:e378:8000:63bf:3fff:fdd2",  # Teredo
    # Issue 28, item 3: every other form that embeds an IPv4 address.
    "::ffff:0:a9fe:a9fe",  # IPv4-translated (RFC 2765) 169.254.169.254, through a stateless translator
    "::ffff:0:7f00:1",  # IPv4-translated 127.0.0.1
    "::ffff:0:5db8:d822",  # IPv4-translated even of a public address: we cannot see the translator
    "::7f00:1",  # IPv4-compatible 127.0.0.1
    "2002:7f00:1::1",  # 6to4 embedding 127.0.0.1
    "2002:c058:6301::1",  # 6to4 embedding the 6to4 relay anycast 192.88.99.1
    "2001:470:1f0b:1::5efe:a9fe:a9fe",  # ISATAP embedding 169.254.169.254
    "2001:470:1f0b:1:200:5efe:a00:1",  # ISATAP (universal bit) embedding 10.0.0.1
    "fec0::1",
    "100::1",
]
REFUSED_UNLESS_PRIVATE_ALLOWED = [
    "127.0.0.1",
    "10.1.2.3",
    "172.16.0.1",
    "192.168.1.1",
    "::1",
    "fd00::1",
    "::ffff:127.0.0.1",
    "::ffff:10.0.0.1",
]
PUBLIC = [
    "93.184.216.34",
    "2606:2800:220:1:248:1893:25c8:1946",
    "2002:5db8:d822::1",  # 6to4 of a public address
    "2001:470:1f0b:1::5efe:5db8:d822",  # ISATAP of a public address
    "1.1.1.1",
]


@pytest.mark.parametrize("address", REFUSED_ALWAYS)
def test_nat64_and_special_ranges_are_refused_even_in_development(address):
    for allow_private in (False, True):
        assert webhook_transport.address_refusal(ipaddress.ip_address(address), allow_private=allow_private), address


@pytest.mark.parametrize("address", REFUSED_UNLESS_PRIVATE_ALLOWED)
def test_private_addresses_only_in_development(address):
    assert webhook_transport.address_refusal(ipaddress.ip_address(address))
    assert webhook_transport.address_refusal(ipaddress.ip_address(address), allow_private=True) is None


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_pass(address):
    assert webhook_transport.address_refusal(ipaddress.ip_address(address)) is None


@pytest.mark.parametrize("host", ["[::ffff:0:a9fe:a9fe]", "[::ffff:0:7f00:1]", "[2001:470:1f0b:1::5efe:a9fe:a9fe]"])
def test_a_literal_url_embedding_an_ipv4_address_is_refused_at_registration(settings, api_client, partner_key, host):
    # Issue 28, item 3: http://[::ffff:0:a9fe:a9fe]/ was accepted (and reached
    # the metadata address through a stateless translator).
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = True  # refused even in local development
    _, key = partner_key()
    response = api_client.post("/api/v1/webhooks/", {"url": f"http://{host}/"}, format="json", **auth(key))
    assert response.status_code == 400 and response.json()["error"]["code"] == "unsafe_webhook_url"
    assert not WebhookEndpoint.objects.exists()


@pytest.mark.parametrize("address", ["64:ff9b::a9fe:a9fe", "192.0.0.9", "100.64.0.1"])
def test_nat64_and_192_0_0_are_refused_at_registration_and_delivery(
    settings, api_client, partner_key, resolver, address
):
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = False
    partner, key = partner_key()
    resolver["answers"] = [[address]]
    response = api_client.post("/api/v1/webhooks/", {"url": "https://partner.example/hook"}, format="json", **auth(key))
    assert response.status_code == 400 and response.json()["error"]["code"] == "unsafe_webhook_url"
    assert not WebhookEndpoint.objects.exists()
    # Registered while the name pointed elsewhere: the attempt refuses it too.
    resolver["answers"] = [["93.184.216.34"], [address]]
    delivery = make_delivery(endpoint_for(partner, "https://partner.example/hook"))
    webhook_deliver(delivery_id=delivery.pk)
    assert WebhookAttempt.objects.get(delivery=delivery).outcome == AttemptOutcome.REFUSED_ADDRESS


# --- 4. Own queue, deadlines, every ending recorded -------------------------------------------


def test_a_drip_feeding_receiver_is_cut_off_at_the_deadline_and_recorded(settings, partner, receivers):
    settings.WEBHOOK_TIMEOUT_SECONDS = 2.0
    drip = receivers(DripReceiver)
    delivery = make_delivery(endpoint_for(partner, drip.url))
    started = time.monotonic()
    webhook_deliver(delivery_id=delivery.pk)
    elapsed = time.monotonic() - started
    assert elapsed < 3.5, elapsed  # not the ~40 s the receiver would take to finish its answer
    attempt = WebhookAttempt.objects.get(delivery=delivery)
    assert attempt.outcome == AttemptOutcome.TIMEOUT and attempt.status_code is None
    assert 1.9 <= attempt.latency_ms / 1000 < 3.5
    assert drip.bytes_sent < 6
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.PENDING and delivery.attempts == 1


def _closed_port() -> int:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        return listener.getsockname()[1]


def test_every_other_ending_is_recorded_and_the_give_up_fires(partner, receivers, monkeypatch):
    failing = receivers(status=500)
    endings = {
        AttemptOutcome.HTTP_ERROR: failing.url,
        AttemptOutcome.CONNECTION_ERROR: f"http://127.0.0.1:{_closed_port()}/hook",
        AttemptOutcome.EXCEPTION: failing.url,
    }
    for outcome, url in endings.items():
        delivery = make_delivery(endpoint_for(partner, url))
        WebhookDelivery.objects.filter(pk=delivery.pk).update(created_at=timezone.now() - timedelta(hours=25))
        if outcome == AttemptOutcome.EXCEPTION:  # a bug in our own code, not the receiver
            monkeypatch.setattr(webhook_transport, "post", lambda *a, **k: 1 / 0)
        webhook_deliver(delivery_id=delivery.pk)
        attempt = WebhookAttempt.objects.get(delivery=delivery)
        assert attempt.outcome == outcome, (outcome, attempt.error)
        delivery.refresh_from_db()
        assert delivery.status == DeliveryStatus.FAILED, outcome


def test_the_soft_time_limit_ending_is_recorded_and_the_give_up_fires(settings, partner, receivers):
    """Celery ends an overlong task by raising SoftTimeLimitExceeded from a
    signal handler (SIGUSR1 in the worker); SIGALRM does the same here."""
    from moderation.tasks import deliver_webhook

    settings.WEBHOOK_TIMEOUT_SECONDS = 30.0  # the deadline would come too late: the limit ends it
    drip = receivers(DripReceiver)
    delivery = make_delivery(endpoint_for(partner, drip.url))
    WebhookDelivery.objects.filter(pk=delivery.pk).update(created_at=timezone.now() - timedelta(hours=25))

    def soft_limit(signum, frame):
        raise SoftTimeLimitExceeded()

    previous = signal.signal(signal.SIGALRM, soft_limit)
    signal.setitimer(signal.ITIMER_REAL, 1.5)
    try:
        deliver_webhook(delivery.pk)  # the task itself, run here
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    attempt = WebhookAttempt.objects.get(delivery=delivery)
    assert attempt.outcome == AttemptOutcome.SOFT_TIME_LIMIT
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.FAILED  # 25 hours old: given up


@pytest.mark.django_db(transaction=True, serialized_rollback=True)  # the worker reads committed rows
def test_a_real_worker_records_its_soft_time_limit(settings, partner_key, receivers):
    """A webhook worker (only the webhooks queue) whose deadline comes too late,
    a 2 s soft limit and a drip-feeding receiver: the ending is an attempt row,
    not a lost task."""
    from moderation.tasks import deliver_webhook

    partner, _ = partner_key()
    drip = receivers(DripReceiver)
    delivery = make_delivery(endpoint_for(partner, drip.url))
    # The worker's default queue is this session's webhook queue: it consumes that alone.
    worker = start_process(
        "worker", env={"CELERY_QUEUE": settings.CELERY_WEBHOOK_QUEUE, "WEBHOOK_TIMEOUT_SECONDS": "60"}
    )
    try:
        # The sender's time limits travel with the message; the worker enforces them.
        deliver_webhook.apply_async(args=[delivery.pk], soft_time_limit=2)
        attempt = wait_for(lambda: WebhookAttempt.objects.filter(delivery=delivery).first(), timeout=90)
    finally:
        stop_process(worker)
    assert attempt and attempt.outcome == AttemptOutcome.SOFT_TIME_LIMIT
    assert 0 < drip.bytes_sent < 10


def test_deliveries_have_their_own_queue_and_worker():
    from config.celery import app
    from moderation.management.commands.run_platform import platform_commands

    route = app.amqp.router.route({}, "moderation.deliver_webhook")
    assert route["queue"].name == django_settings.CELERY_WEBHOOK_QUEUE != django_settings.CELERY_TASK_DEFAULT_QUEUE
    assert (
        app.amqp.router.route({}, "moderation.classify_upload")["queue"].name
        == django_settings.CELERY_TASK_DEFAULT_QUEUE
    )
    commands = platform_commands(bind="127.0.0.1:8000", web_workers=1, concurrency=2, webhook_concurrency=2)
    queues = {
        name: command[command.index("--queues") + 1].split(",")
        for name, (command, _) in commands.items()
        if "--queues" in command
    }
    assert queues["webhooks"] == [django_settings.CELERY_WEBHOOK_QUEUE]
    assert django_settings.CELERY_WEBHOOK_QUEUE not in queues["worker"]


def test_endpoints_per_partner_are_capped(settings, api_client, partner_key, receivers):
    settings.WEBHOOK_MAX_ENDPOINTS_PER_PARTNER = 2
    receiver = receivers()
    _, key = partner_key()
    _, other_key = partner_key()
    for _ in range(2):
        assert (
            api_client.post("/api/v1/webhooks/", {"url": receiver.url}, format="json", **auth(key)).status_code == 201
        )
    response = api_client.post("/api/v1/webhooks/", {"url": receiver.url}, format="json", **auth(key))
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "webhook_limit_reached"
    assert response.json()["error"]["detail"] == {"limit": 2}
    assert WebhookEndpoint.objects.count() == 2
    assert (
        api_client.post("/api/v1/webhooks/", {"url": receiver.url}, format="json", **auth(other_key)).status_code == 201
    )


# --- 7. Secrets, rotation, event ids ----------------------------------------------------------


def test_the_secret_is_shown_on_creation_only(api_client, partner_key, receivers):
    receiver = receivers()
    _, key = partner_key()
    created = api_client.post("/api/v1/webhooks/", {"url": receiver.url}, format="json", **auth(key)).json()
    secret = created["signing_secret"]
    assert len(secret) == 64
    listed = api_client.get("/api/v1/webhooks/", **auth(key))
    assert listed.status_code == 200 and [w["url"] for w in listed.json()] == [receiver.url]
    assert secret not in listed.content.decode() and "signing_secret" not in listed.json()[0]
    # A second endpoint has a secret of its own: creating one reveals nothing of the first.
    second = api_client.post("/api/v1/webhooks/", {"url": receiver.url}, format="json", **auth(key)).json()
    assert second["signing_secret"] != secret


def test_rotation_signs_with_both_secrets_during_the_grace_period(settings, api_client, partner_key, receivers):
    settings.WEBHOOK_SECRET_GRACE_HOURS = 24
    receiver = receivers()
    partner, key = partner_key()
    created = api_client.post("/api/v1/webhooks/", {"url": receiver.url}, format="json", **auth(key)).json()
    old = created["signing_secret"]
    rotated = api_client.post(f"/api/v1/webhooks/{created['id']}/rotate-secret/", **auth(key))
    assert rotated.status_code == 200
    new = rotated.json()["signing_secret"]
    assert new != old and rotated.json()["previous_secret_expires_at"]
    assert new not in api_client.get("/api/v1/webhooks/", **auth(key)).content.decode()
    _, other_key = partner_key()
    assert (
        api_client.post(f"/api/v1/webhooks/{created['id']}/rotate-secret/", **auth(other_key)).status_code == 404
    )  # not theirs
    assert AuditEvent.objects.filter(action="webhook.changed", data__op="rotate_secret").count() == 1

    endpoint = WebhookEndpoint.objects.get()
    webhook_deliver(delivery_id=make_delivery(endpoint).pk)
    headers, body = receiver.requests[-1]
    assert len(headers["X-Moderation-Signature"].split(",")) == 2
    assert verify(old, headers, body, seen={}) and verify(new, headers, body, seen={})

    # The grace period ends (the clock is the one thing moved by hand).
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
        previous_secret_expires_at=timezone.now() - timedelta(seconds=1)
    )
    webhook_deliver(delivery_id=make_delivery(endpoint).pk)
    headers, body = receiver.requests[-1]
    assert not verify(old, headers, body, seen={}) and verify(new, headers, body, seen={})


def test_admin_action_rotates_and_shows_the_secret_once(admin_client, partner, receivers):
    endpoint = endpoint_for(partner, receivers().url)
    old = endpoint.secret
    response = admin_client.post(
        "/admin/moderation/webhookendpoint/",
        {"action": "rotate_secret", "_selected_action": [endpoint.pk]},
        follow=True,
    )
    endpoint.refresh_from_db()
    assert endpoint.secret != old and endpoint.previous_secret == old and endpoint.previous_secret_expires_at
    assert endpoint.secret in response.content.decode()
    page = admin_client.get(f"/admin/moderation/webhookendpoint/{endpoint.pk}/change/").content.decode()
    assert endpoint.secret not in page and old not in page


def test_each_delivery_has_a_signed_event_id_and_timestamp(settings, partner, receivers):
    receiver = receivers(status=500)
    endpoint = endpoint_for(partner, receiver.url)
    delivery = make_delivery(endpoint)
    webhook_deliver(delivery_id=delivery.pk)  # 500: tried again later
    receiver.status = 200
    WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
    webhook_deliver(delivery_id=delivery.pk)
    (first_headers, first_body), (headers, body) = receiver.requests
    event_id = json.loads(body)["event_id"]
    assert headers["X-Moderation-Event-Id"] == event_id == str(delivery.event_id)
    assert json.loads(first_body)["event_id"] == event_id  # a retry is the same event
    assert abs(int(headers["X-Moderation-Timestamp"]) - time.time()) < 60

    seen: dict = {}
    assert verify(endpoint.secret, headers, body, seen=seen)
    # Within the tolerance, a replay of the very same request is told from a new event …
    assert not verify(endpoint.secret, headers, body, seen=seen)
    # … and neither the id nor the timestamp can be changed without breaking the signature.
    forged_body = body.replace(event_id.encode(), b"00000000-0000-0000-0000-000000000000")
    assert not verify(endpoint.secret, headers, forged_body, seen={})
    later = {**headers, "X-Moderation-Timestamp": str(int(headers["X-Moderation-Timestamp"]) + 1)}
    assert not verify(endpoint.secret, later, body, seen={})
    # Another delivery is another event.
    webhook_deliver(delivery_id=make_delivery(endpoint).pk)
    assert json.loads(receiver.requests[-1][1])["event_id"] != event_id
