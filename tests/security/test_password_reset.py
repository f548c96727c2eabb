"""Issue 28, item 4: password reset had no rate limit; 23 requests in seconds
wrote 23 mails. Requests are counted per client address and per e-mail
address (429 past either, whether or not an account has the address), and
mails per account (past it, none is sent and the page answers the same)."""

import itertools

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.test import Client

from moderation.services import ratelimit

pytestmark = pytest.mark.django_db


_HOURS = itertools.count()


@pytest.fixture(autouse=True)
def fixed_clock(monkeypatch):
    """The limits count in fixed windows: hold the clock inside one of them,
    another hour for each test (on Redis the counters outlive a test)."""
    now = 1_800_000_005.0 + 3600 * 24 * next(_HOURS)
    monkeypatch.setattr(ratelimit, "_now", lambda: now)


@pytest.fixture
def victim(db):
    return get_user_model().objects.create_user("victim", email="victim@example.com", password="a-long-pass-123")


def _ask(email: str, address: str = "198.51.100.7"):
    return Client(REMOTE_ADDR=address).post("/accounts/password_reset/", {"email": email})


def test_reset_mails_to_one_address_stop_at_its_limit(settings, victim):
    settings.PASSWORD_RESET_PER_EMAIL_HOURLY = 2
    answers = [_ask("victim@example.com", f"198.51.100.{i}") for i in range(1, 6)]  # from five clients
    assert [a.status_code for a in answers] == [302, 302, 429, 429, 429]
    assert b"password_reset_rate_limited" in answers[2].content and answers[2]["Retry-After"]
    assert len(mail.outbox) == 2
    # The address's case does not make it another address.
    assert _ask("VICTIM@example.com", "198.51.100.9").status_code == 429
    # An address without an account is refused alike: the refusal tells nothing.
    assert [_ask("nobody@example.com").status_code for _ in range(3)] == [302, 302, 429]


def test_one_client_is_limited_across_addresses(settings, victim):
    settings.PASSWORD_RESET_PER_ADDRESS_HOURLY = 3
    answers = [_ask(f"person{i}@example.com").status_code for i in range(4)]
    assert answers == [302, 302, 302, 429]
    assert _ask("victim@example.com").status_code == 429
    assert _ask("victim@example.com", "203.0.113.5").status_code == 302  # another client
    assert len(mail.outbox) == 1


def test_an_account_gets_no_more_mails_past_its_limit_and_the_page_answers_the_same(settings, victim):
    settings.PASSWORD_RESET_PER_ACCOUNT_HOURLY = 1
    first, second = _ask("victim@example.com"), _ask("victim@example.com", "203.0.113.5")
    assert first.status_code == second.status_code == 302 and first["Location"] == second["Location"]
    assert len(mail.outbox) == 1
