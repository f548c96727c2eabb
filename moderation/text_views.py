"""The lead's page for text in images (issue 27), under /lead/text/: the term
list and the domain block- and allow-lists. Thin doors: parse, call one
service, redirect. The services check the lead's permission and validate
every value themselves; the decorator only keeps others off the page."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path
from django.views.decorators.http import require_http_methods

from moderation.errors import ApplicationError
from moderation.models import DomainListing, DomainRule, TermMatch, TextTerm
from moderation.services import text as svc


def _term_id(request: HttpRequest) -> int:
    try:
        return int(request.POST.get("term_id", ""))
    except ValueError:
        return 0


@permission_required(svc.TERM_PERMISSION)
@require_http_methods(["GET", "POST"])
def text_lists(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        action, post = request.POST.get("action", ""), request.POST
        try:
            if action == "add-term":
                row = svc.text_term_create(
                    actor=request.user,
                    term=post.get("term", ""),
                    match=post.get("match", ""),
                    note=post.get("note", ""),
                )
                messages.success(request, f"Listed {row.term!r} ({row.get_match_display().lower()}).")
            elif action == "toggle-term":
                row = svc.text_term_update(
                    actor=request.user, term_id=_term_id(request), enabled=post.get("enabled") == "on"
                )
                messages.success(request, f"{row.term!r} is {'on' if row.enabled else 'off'}.")
            elif action == "remove-term":
                svc.text_term_delete(actor=request.user, term_id=_term_id(request))
                messages.success(request, "Term removed.")
            elif action == "set-domain":
                rule = svc.domain_rule_set(
                    actor=request.user,
                    domain=post.get("domain", ""),
                    listing=post.get("listing", ""),
                    note=post.get("note", ""),
                )
                messages.success(
                    request, f"{rule.domain} is {rule.get_listing_display().lower()} (and its subdomains)."
                )
            elif action == "remove-domain":
                svc.domain_rule_delete(actor=request.user, domain=post.get("domain", ""))
                messages.success(request, "Domain taken off its list.")
            else:
                messages.error(request, "Unknown action.")
        except ApplicationError as exc:
            messages.error(request, exc.message)
        return redirect("text-lists")
    return render(
        request,
        "moderation/text_lists.html",
        {
            "terms": TextTerm.objects.select_related("created_by"),
            "domains": DomainRule.objects.select_related("created_by"),
            "matches": TermMatch.choices,
            "listings": DomainListing.choices,
        },
    )


urlpatterns = [path("", text_lists, name="text-lists")]
