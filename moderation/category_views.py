"""The lead's pages for custom categories (issue 15), under /lead/categories/.
Thin doors: parse, call one service, render. The services check the lead's
permission themselves; the decorators only keep others off the pages."""

from __future__ import annotations

import itertools
import time

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods

from classifier.facade import suggest_threshold
from moderation.errors import ApplicationError, InvalidInput
from moderation.models import CategoryKind, ExampleSource, UploadStatus
from moderation.services import categories as svc

PERMISSION = svc.CATEGORY_PERMISSION


def _category_or_404(slug: str):
    from django.http import Http404

    try:
        return svc.category_get(slug=slug)
    except ApplicationError:
        raise Http404 from None


def _back(request: HttpRequest, fallback: str) -> HttpResponse:
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return redirect(target)
    return redirect(fallback)


@permission_required(PERMISSION)
@require_http_methods(["GET", "POST"])
def category_list(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        try:
            category = svc.category_create(
                actor=request.user,
                name=request.POST.get("name", ""),
                description=request.POST.get("description", ""),
                kind=request.POST.get("kind", CategoryKind.REVIEW),
                threshold=request.POST.get("threshold", "0.8"),
                reject_threshold=request.POST.get("reject_threshold") or None,
            )
        except ApplicationError as exc:
            messages.error(request, exc.message)
            return redirect("category-list")
        messages.success(request, f"Category {category.name!r} created: now give it examples.")
        return redirect("category-detail", slug=category.slug)
    from moderation.models import CustomCategory

    rows = CustomCategory.objects.select_related("active_head", "live_head").order_by("name")
    return render(request, "moderation/categories/list.html", {"categories": rows, "kinds": CategoryKind.choices})


@permission_required(PERMISSION)
@require_http_methods(["GET", "POST"])
def category_detail(request: HttpRequest, slug: str) -> HttpResponse:
    category = _category_or_404(slug)
    if request.method == "POST":
        try:
            svc.category_update(
                actor=request.user,
                category=category,
                description=request.POST.get("description", ""),
                kind=request.POST.get("kind", category.kind),
                threshold=request.POST.get("threshold", category.threshold),
                reject_threshold=request.POST.get("reject_threshold") or None,
                enabled=request.POST.get("enabled") == "on",
            )
        except ApplicationError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, "Saved. A new threshold applies from the next head trained.")
        return redirect("category-detail", slug=slug)
    heads = list(category.heads.select_related("confirmed_by").order_by("-version")[:10])
    shown = category.active_head or (heads[0] if heads else None)
    figures = svc.head_figures(shown.metrics or {}) if shown else None
    curve = figures["curve"] if figures else []
    examples = list(category.examples.select_related("upload").order_by("-created_at")[:200])
    backfills = list(category.backfills.select_related("head").order_by("-created_at")[:5])
    matches = list(backfills[0].matches.select_related("upload")[:100]) if backfills else []
    return render(
        request,
        "moderation/categories/detail.html",
        {
            "category": category,
            "kinds": CategoryKind.choices,
            "heads": heads,
            "shown": shown,
            "chart": svc.pr_chart(curve),
            "figures": figures,
            "examples": examples,
            "positives": sum(1 for e in examples if e.positive),
            "negatives": sum(1 for e in examples if not e.positive),
            "backfills": backfills,
            "matches": matches,
            "max_days": settings.CUSTOM_CATEGORY_BACKFILL_MAX_DAYS,
            "live": svc.category_live_figures(category),
            "target": settings.CALIBRATION_TARGET_PRECISION,
            "suggested": suggest_threshold(curve, settings.CALIBRATION_TARGET_PRECISION) if curve else None,
            "dry_run": svc.dry_run_shown(category),
            "candidates": svc.category_candidates(category),
        },
    )


@permission_required(PERMISSION)
@require_http_methods(["POST"])
def category_train_view(request: HttpRequest, slug: str) -> HttpResponse:
    category = _category_or_404(slug)
    try:
        svc.category_train_request(actor=request.user, category=category)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "Training queued; the page shows the new head when it is done.")
    return redirect("category-detail", slug=slug)


@permission_required(PERMISSION)
@require_http_methods(["POST"])
def candidate_mark_view(request: HttpRequest, slug: str) -> HttpResponse:
    """Yes or no on a candidate (a key on the page submits it); the head
    retrains before the page comes back, so the next candidates are its own."""
    category = _category_or_404(slug)
    answer = request.POST.get("answer", "")
    started = time.perf_counter()
    try:
        if answer not in ("yes", "no"):
            raise InvalidInput("Answer yes or no.", code="invalid_answer")
        head = svc.candidate_mark(
            actor=request.user, category=category, upload_id=request.POST.get("upload", ""), positive=answer == "yes"
        )
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        seconds = time.perf_counter() - started
        said = "is" if answer == "yes" else "is not"
        if head is None:
            messages.success(request, f"Noted: it {said} {category.name}.")
        else:
            outcome = "newest head" if head.status == "active" else f"kept the newest head ({head.gate.get('reason')})"
            messages.success(
                request,
                f"Noted: it {said} {category.name}. Retrained in {seconds:.1f} s: v{head.version}, {outcome}.",
            )
    return redirect(reverse("category-detail", kwargs={"slug": slug}) + "#candidates")


@permission_required(PERMISSION)
@require_http_methods(["POST"])
def category_dry_run_view(request: HttpRequest, slug: str) -> HttpResponse:
    category = _category_or_404(slug)
    try:
        run = svc.head_dry_run(actor=request.user, category=category, days=request.POST.get("days", ""))
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Dry run of head v{run['version']}: it would have flagged {run['flagged']}.")
    return redirect(reverse("category-detail", kwargs={"slug": slug}) + "#go-live")


@permission_required(PERMISSION)
@require_http_methods(["POST"])
def category_confirm_view(request: HttpRequest, slug: str) -> HttpResponse:
    category = _category_or_404(slug)
    try:
        head = svc.category_confirm(actor=request.user, category=category, head_id=request.POST.get("head"))
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Head v{head.version} is live: it flags new uploads from now on.")
    return redirect("category-detail", slug=slug)


@permission_required(PERMISSION)
@require_http_methods(["POST"])
def category_backfill_view(request: HttpRequest, slug: str) -> HttpResponse:
    category = _category_or_404(slug)
    try:
        svc.backfill_start(actor=request.user, category=category, days=request.POST.get("days", ""))
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "Backfill queued; matches are listed below as it runs.")
    return redirect("category-detail", slug=slug)


@permission_required(PERMISSION)
@require_http_methods(["POST"])
def category_import_view(request: HttpRequest, slug: str) -> HttpResponse:
    category = _category_or_404(slug)
    uploaded = request.FILES.getlist("files")
    try:
        files = []
        for f in uploaded:
            if f.size > settings.UPLOAD_MAX_BYTES * 50:
                raise InvalidInput(f"{f.name} is too large.", code="image_too_large")
            data = f.read()
            # Zips are inflated lazily, as examples_import reads them against the import's byte budget.
            files.append(svc.zip_images(data) if f.name.lower().endswith(".zip") else [(f.name, data)])
        added = svc.examples_import(
            actor=request.user,
            category=category,
            files=itertools.chain.from_iterable(files),
            positive=request.POST.get("polarity") != "negative",
        )
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Imported {len(added)} examples.")
    return redirect("category-detail", slug=slug)


@permission_required(PERMISSION)
@require_http_methods(["GET"])
def category_search(request: HttpRequest, slug: str) -> HttpResponse:
    category = _category_or_404(slug)
    try:
        days = int(request.GET.get("days", "30"))
    except ValueError:
        days = 30
    status = request.GET.get("status", "")
    if status not in UploadStatus.values:
        status = ""
    q = request.GET.get("q", "")[:100]
    hits = svc.uploads_search(q=q, days=days, status=status, limit=120)
    taken = dict(category.examples.filter(upload__in=[h.upload for h in hits]).values_list("upload_id", "positive"))
    return render(
        request,
        "moderation/categories/search.html",
        {
            "category": category,
            "hits": [(h.upload, h.matches, taken.get(h.upload.pk)) for h in hits],
            "q": q,
            "days": days,
            "status": status,
            "statuses": UploadStatus.choices,
        },
    )


@permission_required(PERMISSION)
@require_http_methods(["POST"])
def examples_add_view(request: HttpRequest) -> HttpResponse:
    """Add uploads as examples: from the search page, the review page or the bulk grid."""
    source = request.POST.get("source", ExampleSource.SEARCH)
    fallback = reverse("category-list")
    try:
        category = svc.category_get(category_id=int(request.POST.get("category", "0") or 0))
        fallback = reverse("category-detail", kwargs={"slug": category.slug})
        ids = request.POST.getlist("selected") or request.POST.getlist("upload")
        added = svc.examples_add(
            actor=request.user,
            category=category,
            upload_ids=ids,
            positive=request.POST.get("polarity", "positive") != "negative",
            source=source,
        )
    except (ApplicationError, ValueError) as exc:
        messages.error(request, getattr(exc, "message", "Choose a category."))
    else:
        polarity = "negative" if request.POST.get("polarity") == "negative" else "positive"
        messages.success(request, f"Added {len(added)} {polarity} examples to {category.name!r}.")
    return _back(request, fallback)


@permission_required(PERMISSION)
@require_http_methods(["POST"])
def example_remove_view(request: HttpRequest, example_id: int) -> HttpResponse:
    try:
        svc.example_remove(actor=request.user, example_id=example_id)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "Example removed.")
    return _back(request, reverse("category-list"))


urlpatterns = [
    path("", category_list, name="category-list"),
    path("examples/add/", examples_add_view, name="category-examples-add"),
    path("examples/<int:example_id>/remove/", example_remove_view, name="category-example-remove"),
    path("<slug:slug>/", category_detail, name="category-detail"),
    path("<slug:slug>/train/", category_train_view, name="category-train"),
    path("<slug:slug>/backfill/", category_backfill_view, name="category-backfill"),
    path("<slug:slug>/dry-run/", category_dry_run_view, name="category-dry-run"),
    path("<slug:slug>/confirm/", category_confirm_view, name="category-confirm"),
    path("<slug:slug>/candidates/", candidate_mark_view, name="category-candidate-mark"),
    path("<slug:slug>/import/", category_import_view, name="category-import"),
    path("<slug:slug>/search/", category_search, name="category-search"),
]
