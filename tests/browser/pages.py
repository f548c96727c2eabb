"""The registry of every page the site has, for the browser suite: how to
reach it, as whom, on which scene, and what status it answers. URL names that
are not pages (images, JSON, POST-only actions, the API) are listed in
NOT_PAGES with the reason; test_every_page_is_registered keeps both lists
complete as urls.py grows."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest

from tests.browser import world as scenes

# Marks a dashboard/lead page whose own layout fails a check at a size; the
# review engineer (wip/review) restructures those templates.
DASHBOARD_LAYOUT = pytest.mark.xfail(reason="dashboard layout: wip/review", strict=False)


@dataclass(frozen=True)
class PageCase:
    name: str  # the URL name (or a name for a state of a page: 403, 404, lockout)
    url: Callable[[scenes.World], str]
    role: str | None = None  # a user of the scene, signed in; None: a visitor
    scene: str = "users"  # users | posts | dashboard (tests/browser/world.py)
    status: int = 200
    visit: str = "goto"  # goto | lockout (fail sign-in until locked, then sign in)
    # axe rules this page is excused from, each with the reason in AXE_EXCUSES
    axe_ignore: tuple[str, ...] = ()


def _reset_confirm(world: scenes.World) -> str:
    from django.contrib.auth.tokens import default_token_generator
    from django.utils.encoding import force_bytes
    from django.utils.http import urlsafe_base64_encode

    user = world.users["poster"]
    return f"/accounts/reset/{urlsafe_base64_encode(force_bytes(user.pk))}/{default_token_generator.make_token(user)}/"


def _known_bad() -> int:
    from moderation.models import HashBank

    # made by migration 0003; made again when a transactional test's flush
    # dropped it and no serialized copy was restored
    return HashBank.objects.get_or_create(name="known-bad")[0].pk


PAGES = [
    # Everyone
    PageCase("feed", lambda w: "/feed/", scene="posts"),
    PageCase("login", lambda w: "/accounts/login/"),
    PageCase("signup", lambda w: "/accounts/signup/"),
    PageCase("password_reset", lambda w: "/accounts/password_reset/"),
    PageCase("password_reset_done", lambda w: "/accounts/password_reset/done/"),
    PageCase("password_reset_confirm", _reset_confirm),
    PageCase("password_reset_complete", lambda w: "/accounts/reset/done/"),
    PageCase("api-docs", lambda w: "/api/docs/", axe_ignore=("nested-interactive",)),
    PageCase("not-found", lambda w: "/no-such-page/", status=404),
    PageCase("lockout", lambda w: "/accounts/login/", status=429, visit="lockout"),
    # Uploaders
    PageCase("upload", lambda w: "/upload/", role="poster"),
    PageCase("my-posts", lambda w: "/posts/", role="poster", scene="posts"),
    PageCase("notifications", lambda w: "/notifications/", role="poster", scene="posts"),
    PageCase("password_change", lambda w: "/accounts/password_change/", role="poster"),
    PageCase("password_change_done", lambda w: "/accounts/password_change/done/", role="poster"),
    PageCase("forbidden-uploader", lambda w: "/review/", role="poster", status=403),
    # Moderators
    PageCase("review-queue", lambda w: "/review/", role="mod1", scene="dashboard"),
    PageCase("review-next", lambda w: "/review/next/", role="mod1", scene="dashboard"),
    PageCase("review-detail", lambda w: f"/review/{w.posts['held'].pk}/", role="mod1", scene="dashboard"),
    PageCase("review-grid", lambda w: "/review/grid/", role="mod1", scene="dashboard"),
    PageCase("review-qa", lambda w: "/review/qa/", role="mod1", scene="dashboard"),
    PageCase("review-preferences", lambda w: "/review/preferences/", role="mod1"),
    PageCase("forbidden-moderator", lambda w: "/lead/metrics/", role="mod1", status=403),
    # Leads
    PageCase("audit-log", lambda w: "/lead/audit/", role="lead", scene="dashboard"),
    PageCase("metrics", lambda w: "/lead/metrics/", role="lead", scene="dashboard"),
    PageCase("thresholds", lambda w: "/lead/thresholds/", role="lead", scene="dashboard"),
    PageCase("verdict-thresholds", lambda w: "/lead/verdict-thresholds/", role="lead", scene="dashboard"),
    PageCase("banks", lambda w: "/lead/banks/", role="lead", scene="dashboard"),
    PageCase("bank-page", lambda w: f"/lead/banks/{_known_bad()}/", role="lead", scene="dashboard"),
    PageCase("category-list", lambda w: "/lead/categories/", role="lead", scene="dashboard"),
    PageCase("text-lists", lambda w: "/lead/text/", role="lead", scene="dashboard"),
    PageCase("category-detail", lambda w: "/lead/categories/vape-pens/", role="lead", scene="dashboard"),
    PageCase("category-search", lambda w: "/lead/categories/vape-pens/search/", role="lead", scene="dashboard"),
]

# Why a page is excused from an axe rule (third-party markup we serve as is).
AXE_EXCUSES = {
    (
        "api-docs",
        "nested-interactive",
    ): "Swagger UI nests its copy button in the operation summary button (upstream markup)",
}

# Page cases that stand for no URL name of their own.
STATES = {"not-found", "lockout", "forbidden-uploader", "forbidden-moderator"}

# URL names that are not HTML pages a person opens, and why.
NOT_PAGES = {
    "health": "JSON for probes",
    "favicon": "an icon (tests/moderation/test_uploader_pages.py::test_favicon_is_served)",
    "prometheus-metrics": "Prometheus text",
    "logout": "POST only",
    "home": "redirects to feed, upload or the review queue",
    "upload-image": "an image (checked as <img> on the pages that show it)",
    "post-appeal": "POST only",
    "review-undo": "POST only (tests/moderation/test_review_undo.py)",
    "bank-entry-remove": "POST only (tests/moderation/test_bank_pages.py)",
    "review-claim": "JSON the review page posts (tests/moderation/test_review_dashboard.py)",
    "post-status": "JSON the pages poll (tests/moderation/test_uploader_pages.py)",
    "review-heatmap": "an image (checked as <img> on review-detail)",
    "review-frame": "an image (checked as <img> on review-detail of an animation)",
    "bank-entry-confirm": "POST only",
    "bank-export": "a file download (CSV or a signal file)",
    "category-examples-add": "POST only",
    "category-example-remove": "POST only",
    "category-train": "POST only",
    "category-backfill": "POST only",
    "category-import": "POST only (the form is on category-detail)",
    "category-dry-run": "POST only (the form is on category-detail)",
    "category-confirm": "POST only (the form is on category-detail, after a dry run)",
    "category-candidate-mark": "POST only (the candidates' forms are on category-detail)",
    "api-schema": "the OpenAPI document (tests/e2e/test_api_contract.py)",
}
# Whole namespaces and prefixes that are not ours to style.
NOT_PAGE_PREFIXES = {
    "admin:": "Django's admin, styled by Django",
    "api-": "the partner API (JSON), except api-docs",
}


def cases() -> list:
    """pytest params of every page case, with the marks a case carries."""
    return [pytest.param(case, id=case.name, marks=MARKS.get(case.name, ())) for case in PAGES]


# Cases expected to fail a check for now, and why (see the report in issue 17).
MARKS: dict[str, tuple] = {}
