"""The moderator's keyboard speed, measured in Chromium (issue 29): the time
from a key press to the next item's page, per decision, and the key presses
a rejection with a specific reason takes. The times are written to
test-artifacts/review-speed.json and printed, never asserted (a shared
machine's timings are not a pass/fail matter); what is asserted is that the
keys did what they say."""

from __future__ import annotations

import json
import statistics
import time

import pytest

from moderation.models import Decision
from tests.conftest import ARTIFACTS
from tests.e2e.test_review_keys_browser import DESK, _current, _ordered, open_page  # noqa: F401 - the fixture
from tests.factories import uploads_in_review
from tests.helpers import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

DECISIONS = 12


def _record(name: str, value) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / "review-speed.json"
    found = json.loads(path.read_text()) if path.exists() else {}
    found[name] = value
    path.write_text(json.dumps(found, indent=2, sort_keys=True))
    print(f"review speed: {name} = {value}")


def test_keyboard_time_per_decision(open_page, live_server, moderator):  # noqa: F811 - the fixture
    order = _ordered(uploads_in_review(DECISIONS + 1))
    page = open_page(DESK)
    sign_in(page, live_server.url, "mod1", "mod-pass-123")
    page.goto(f"{live_server.url}/review/{order[0]}/")
    times = []
    for i in range(DECISIONS):
        page.wait_for_selector("#approve")
        started = time.perf_counter()
        page.keyboard.press("a")
        page.wait_for_url(f"**/review/{order[i + 1]}/")
        page.wait_for_load_state("load")
        times.append(time.perf_counter() - started)
    assert Decision.objects.filter(verdict="approve").count() == DECISIONS
    _record("seconds_per_keyboard_decision_median", round(statistics.median(times), 3))


def test_key_presses_for_a_reject_with_a_specific_reason(open_page, live_server, moderator):  # noqa: F811
    order = _ordered(uploads_in_review(2))
    page = open_page(DESK)
    sign_in(page, live_server.url, "mod1", "mod-pass-123")
    page.goto(f"{live_server.url}/review/{order[0]}/")
    # By Tab, as without reason keys: to the reason field, a letter picks "Spam or scam", R rejects.
    tabs = 0
    while not page.evaluate("document.activeElement && document.activeElement.name === 'reason_code'"):
        page.keyboard.press("Tab")
        tabs += 1
        assert tabs < 60, "the reason field is not reachable by Tab"
    page.keyboard.press("s")
    page.keyboard.press("r")
    page.wait_for_url(f"**/review/{order[1]}/")
    assert Decision.objects.get(upload_id=order[0]).reason_code == "spam"
    _record("key_presses_reject_with_reason_by_tab", tabs + 2)


def test_a_reject_with_a_specific_reason_is_two_keys(open_page, live_server, moderator):  # noqa: F811
    """R, then the reason's digit (the notice lists them): two key presses."""
    order = _ordered(uploads_in_review(3))
    page = open_page(DESK)
    sign_in(page, live_server.url, "mod1", "mod-pass-123")
    page.goto(f"{live_server.url}/review/{order[0]}/")
    keys = ["r", "4"]  # 4: the fourth reason, "Spam or scam"
    page.keyboard.press(keys[0])
    assert page.is_visible("#reason-keys >> text=Spam or scam")
    assert not Decision.objects.exists()
    page.keyboard.press(keys[1])
    page.wait_for_url(f"**/review/{order[1]}/")
    assert Decision.objects.get(upload_id=order[0]).reason_code == "spam"
    # Escape takes the question back: no decision, and a digit picks a label again.
    page.keyboard.press("r")
    page.keyboard.press("Escape")
    assert page.is_hidden("#reason-notice")
    page.keyboard.press("2")
    assert page.input_value("select[name=label]") != "" and _current(page) == order[1]
    assert Decision.objects.count() == 1
    # Escape leaves the note field, so the keys work again.
    page.click("textarea[name=note]")
    page.keyboard.type("a note")
    page.keyboard.press("Escape")
    page.keyboard.press("r")
    page.keyboard.press("1")
    page.wait_for_url(f"**/review/{order[2]}/")
    decided = Decision.objects.get(upload_id=order[1])
    assert (decided.reason_code, decided.note) == ("prohibited_item", "a note")
    _record("key_presses_reject_with_reason_by_keys", len(keys))
