"""Every page of the site, at 1440×900 and at 390×844, in Debian's Chromium:
no horizontal overflow, no console error, no broken image, no serious or
critical axe-core violation. Screenshots: test-artifacts/screenshots/<page>-<size>.png.

The registry (tests/browser/pages.py) names each page, who opens it and on
which scene; test_every_page_is_registered fails when urls.py gains a page
the registry does not know."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from tests.browser.checks import SIZES, check_current_page, watch_console
from tests.browser.pages import NOT_PAGE_PREFIXES, NOT_PAGES, PAGES, STATES, cases
from tests.browser.world import PASSWORDS, SCENES


def _visit(page, case, base: str, world) -> int | None:
    url = base + case.url(world)
    if case.visit == "lockout":
        # The sign-in attempts before the lock come from the test client (the
        # same address as the browser, 127.0.0.1); the browser then signs in
        # with the right password and meets the lock.
        client = Client()
        for _ in range(settings.AXES_FAILURE_LIMIT):
            client.post("/accounts/login/", {"username": "poster", "password": "wrong"})
        page.goto(url)
        page.fill("input[name=username]", "poster")
        page.fill("input[name=password]", PASSWORDS["poster"])
        with page.expect_navigation() as navigation:
            page.click("button[type=submit]")
        return navigation.value.status if navigation.value else None
    response = page.goto(url)
    return response.status if response else None


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.parametrize("case", cases())
def test_page_at_both_sizes(case, browser, live_server, signed_in_context, axe_available):
    world = SCENES[case.scene]()
    context = signed_in_context(world.users[case.role] if case.role else None)
    page = context.new_page()
    page.set_default_timeout(20_000)
    console = watch_console(page)
    failures = []
    for size, (width, height) in SIZES.items():
        page.set_viewport_size({"width": width, "height": height})
        console.clear()
        if case.visit == "lockout" and size != "desktop":
            page.reload()  # the lock holds: the same 429 page again
            status = 429 if "Sign-in locked" in page.content() else None
        else:
            status = _visit(page, case, live_server.url, world)
        if status != case.status:
            failures.append(f"{size}: status {status}, expected {case.status}")
        report = check_current_page(
            page, name=case.name, size=size, console=console, status=case.status, axe_ignore=case.axe_ignore
        )
        failures += [f"{size} {width}×{height}: {problem}" for problem in report.problems]
    assert not failures, f"{case.name}:\n" + "\n".join(failures)


def _names(patterns, prefix: str = "") -> set[str]:
    found = set()
    for entry in patterns:
        if isinstance(entry, URLResolver):
            namespace = f"{entry.namespace}:" if entry.namespace else ""
            found |= _names(entry.url_patterns, prefix + namespace)
        elif isinstance(entry, URLPattern) and entry.name:
            found.add(prefix + entry.name)
    return found


def test_every_page_is_registered():
    """Each named URL is a page of the registry or listed as not a page."""
    registered = {case.name for case in PAGES} - STATES
    names = {
        name
        for name in _names(get_resolver().url_patterns)
        if not any(name.startswith(p) for p in NOT_PAGE_PREFIXES) or name in registered
    }
    missing = names - registered - set(NOT_PAGES)
    assert not missing, f"pages missing from tests/browser/pages.py: {sorted(missing)}"
    stale = (registered | set(NOT_PAGES)) - _names(get_resolver().url_patterns)
    assert not stale, f"registered names that no URL has: {sorted(stale)}"


def test_every_axe_excuse_has_a_reason():
    from tests.browser.pages import AXE_EXCUSES

    assert {(case.name, rule) for case in PAGES for rule in case.axe_ignore} == set(AXE_EXCUSES)
