import pytest
from django.conf import settings
from django.test import Client

from tests.browser.checks import AXE


@pytest.fixture
def signed_in_context(browser, live_server):
    """A fresh browser context, signed in as `user` (or a visitor for None)
    through a real session cookie: the sign-in form is exercised once, by
    test_sign_in_page_signs_in, not before every page."""
    contexts = []

    def make(user=None):
        context = browser.new_context(viewport={"width": 1440, "height": 900})
        if user is not None:
            client = Client()
            client.force_login(user)
            cookie = client.cookies[settings.SESSION_COOKIE_NAME]
            context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": cookie.value, "url": live_server.url}])
        contexts.append(context)
        return context

    yield make
    for context in contexts:
        context.close()


@pytest.fixture(scope="session")
def axe_available():
    if not AXE.exists():
        pytest.skip("axe-core is not installed: run `npm ci --no-audit --no-fund` (make test does)")
