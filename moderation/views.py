"""Server-rendered pages. Each view parses input, calls one service or
selector, and renders the result."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from classifier.facade import ModelRole
from classifier.registry import training_runs_recent
from moderation import queue, selectors
from moderation.access import permission_required
from moderation.client_address import client_address
from moderation.errors import ApplicationError, NotFound, RateLimited
from moderation.filters import uploads_filter
from moderation.forms import AuditSearchForm, BankFileForm, BankImportForm, DecisionForm, PreferenceForm, SignUpForm
from moderation.models import ModeratorPreference, RejectReason, UploadFrame
from moderation.services.accounts import account_create
from moderation.services.appeals import appeal_open
from moderation.services.bank_files import (
    BANK_EXPORT_PERMISSION,
    BANK_MANAGE_PERMISSION,
    EXPORT_FORMATS,
    bank_export,
    bank_file_import,
    bank_hash_add_from_file,
)
from moderation.services.banks import CONFIRM_PERMISSION, bank_entry_confirm, quarantined_entries
from moderation.services.explain import upload_heatmap
from moderation.services.qa import qa_answer, qa_open_items
from moderation.services.queue import claim_live, queue_claim, queue_claim_next, queue_step
from moderation.services.ratelimit import check_signup
from moderation.services.renditions import upload_image_for_viewer
from moderation.services.review import REVIEW_PERMISSION, review_decide, review_decide_bulk
from moderation.services.thresholds import CALIBRATE_PERMISSION, thresholds_apply, thresholds_propose


def home(request: HttpRequest) -> HttpResponse:
    if request.user.has_perm(REVIEW_PERMISSION):
        return redirect("review-queue")
    if request.user.is_authenticated:
        return redirect("upload")
    return redirect("feed")


@require_http_methods(["GET", "POST"])
def signup(request: HttpRequest) -> HttpResponse:
    form = SignUpForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            check_signup(address=client_address(request))
        except RateLimited as exc:
            return rate_limited_page(request, exc)
        try:
            user = account_create(
                username=form.cleaned_data["username"],
                password=form.cleaned_data["password1"],
                email=form.cleaned_data["email"],
            )
        except ApplicationError as exc:  # a look-alike name taken since the form was checked
            form.add_error("username", exc.message)
            return render(request, "registration/signup.html", {"form": form}, status=400)
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        return redirect("upload")
    return render(request, "registration/signup.html", {"form": form})


def rate_limited_page(request: HttpRequest, exc: RateLimited) -> HttpResponse:
    """429 for a person in a browser: the message, the stable code, Retry-After."""
    response = render(request, "moderation/rate_limited.html", {"error": exc}, status=429)
    response["Retry-After"] = str(exc.retry_after)
    return response


@login_required
def upload_page(request: HttpRequest) -> HttpResponse:
    return render(request, "moderation/upload.html", {"max_bytes": settings.UPLOAD_MAX_BYTES})


@login_required
def my_posts(request: HttpRequest) -> HttpResponse:
    posts = uploads_filter(selectors.uploads_visible_to(user=request.user), request.GET, strict=False)
    posts = posts.prefetch_related("decisions").order_by("-created_at")[:100]  # decisions: the reject reason
    return render(request, "moderation/my_posts.html", {"posts": posts})


def feed(request: HttpRequest) -> HttpResponse:
    return render(request, "moderation/feed.html", {"posts": selectors.feed()})


def upload_image(request: HttpRequest, upload_id) -> FileResponse:
    """An upload's image, as `upload_image_for_viewer` allows this viewer to see it."""
    try:
        served = upload_image_for_viewer(upload_id=upload_id, user=request.user)
    except NotFound:
        raise Http404 from None
    response = FileResponse(served.file, content_type=served.content_type)
    response["X-Image-Rendition"] = served.rendition
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["Cache-Control"] = "private, max-age=300"
    response["Vary"] = "Cookie"
    return response


@permission_required(REVIEW_PERMISSION)
def review_frame(request: HttpRequest, upload_id, index: int) -> HttpResponse:
    """One judged frame of an animation as a viewer sees it (the review
    strip): a thumbnail the worker kept, so the page decodes nothing."""
    frame = UploadFrame.objects.filter(upload_id=upload_id, index=index).only("thumbnail").first()
    if frame is None or not frame.thumbnail:
        raise Http404
    response = HttpResponse(bytes(frame.thumbnail), content_type="image/jpeg")
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, max-age=3600"
    return response


def _queue_cursor(raw: str | None) -> tuple[float, str] | None:
    if not raw:
        return None
    try:
        rank, upload_id = raw.split("_", 1)
        return float(rank), str(uuid.UUID(upload_id))
    except ValueError:
        return None


def _preference(user) -> ModeratorPreference:
    return ModeratorPreference.objects.filter(user=user).first() or ModeratorPreference(user=user)


@permission_required(REVIEW_PERMISSION)
def review_queue(request: HttpRequest) -> HttpResponse:
    page_size = 50
    items = selectors.review_queue(limit=page_size + 1, after=_queue_cursor(request.GET.get("after")))
    more = len(items) > page_size
    items = items[:page_size]
    now = timezone.now()
    rows = [
        {
            "upload": item,
            "priority": queue.priority_now(item.review_rank, now),
            "claimed": claim_live(item, now=now),
        }
        for item in items
    ]
    return render(
        request,
        "moderation/review_queue.html",
        {
            "rows": rows,
            "queue_size": selectors.review_queue_size(),
            "next_cursor": f"{items[-1].review_rank!r}_{items[-1].pk}" if more else None,
            "explanation": queue.EXPLANATION,
            "preference": _preference(request.user),
        },
    )


def _upload_id(raw: str | None) -> str | None:
    try:
        return str(uuid.UUID(raw)) if raw else None
    except ValueError:
        return None


@permission_required(REVIEW_PERMISSION)
def review_next(request: HttpRequest) -> HttpResponse:
    """Claim an item and open it. `after=<id>` (J, and after a decision) is the
    next item in queue order from that one, `before=<id>` (K) the previous
    one; either releases the moderator's claim on that item at once. With
    neither: the top of the queue."""
    after, before = _upload_id(request.GET.get("after")), _upload_id(request.GET.get("before"))
    try:
        if before:
            upload = queue_step(moderator=request.user, current_id=before, direction="previous")
            if upload is None:
                messages.info(request, "This is the first item you can open: there is none before it.")
                return redirect("review-detail", upload_id=before)
        elif after:
            upload = queue_step(moderator=request.user, current_id=after, direction="next")
        else:
            skip = [s for s in request.GET.getlist("skip") if _upload_id(s)]
            upload = queue_claim_next(moderator=request.user, skip=skip)
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect("review-queue")
    if upload is None:
        messages.info(request, "The queue is empty. Well done.")
        return redirect("review-queue")
    return redirect("review-detail", upload_id=upload.pk)


# Every class gets a key: digits first, then the letters no command uses.
_LABEL_KEYS = "1234567890bcdefghilmnopqstuwxyz"
_DONE = {"approve": "approved", "reject": "rejected"}


def label_keys(labels: list[str]) -> list[tuple[str, str]]:
    """(key, label) for the review page's legend and its keyboard handler."""
    return [(_LABEL_KEYS[i] if i < len(_LABEL_KEYS) else "", name) for i, name in enumerate(labels)]


@permission_required(REVIEW_PERMISSION)
@require_http_methods(["GET", "POST"])
def review_detail(request: HttpRequest, upload_id) -> HttpResponse:
    upload = selectors.upload_for_review(upload_id)
    if upload is None:
        raise Http404
    claim_error = None
    try:
        queue_claim(moderator=request.user, upload_id=upload.pk)
    except ApplicationError as exc:
        claim_error = exc.message
    by_role = upload.predictions_by_role()
    prediction = by_role.get(ModelRole.PRODUCT)
    labels = list(prediction.model_version.class_names) if prediction else []
    form = DecisionForm(request.POST or None, labels=labels)
    if request.method == "POST" and form.is_valid():
        try:
            review_decide(
                upload_id=upload.pk,
                moderator=request.user,
                verdict=form.cleaned_data["verdict"],
                label=form.cleaned_data["label"],
                reason_code=form.cleaned_data["reason_code"],
                note=form.cleaned_data["note"],
                bank_id=form.cleaned_data["bank"].pk if form.cleaned_data["bank"] else None,
            )
        except ApplicationError as exc:
            messages.error(request, exc.message)
        else:
            verdict = form.cleaned_data["verdict"]
            outcome = f"Upload {str(upload.pk)[:8]}: {_DONE[verdict]}"
            if verdict == "reject":
                reason = RejectReason(form.cleaned_data["reason_code"] or RejectReason.OTHER).label
                chosen = "" if form.cleaned_data["reason_code"] else ", the default: no reason was chosen"
                outcome += f" (reason recorded: {reason}{chosen})"
            messages.success(request, outcome + ".")
            return redirect(f"{reverse('review-next')}?after={upload.pk}")
    preference = _preference(request.user)
    adult_flagged = any(f.kind == "adult" for f in upload.flags.all())
    appeal = getattr(upload, "appeal", None) if upload.status == "appealed" else None
    return render(
        request,
        "moderation/review_detail.html",
        {
            "upload": upload,
            "frames": list(upload.frames.defer("thumbnail")),
            "prediction": prediction,
            "labels": labels,
            "label_keys": label_keys(labels),
            "default_reason": RejectReason.OTHER.label,
            "imagenet": by_role.get(ModelRole.IMAGENET),
            "adult": by_role.get(ModelRole.ADULT),
            "form": form,
            "decisions": upload.decisions.select_related("moderator"),
            "claim_error": claim_error,
            "appeal": appeal,
            "blur": adult_flagged and preference.blur_flagged,
            "greyscale": adult_flagged and preference.greyscale_flagged,
        },
    )


@permission_required(REVIEW_PERMISSION)
@require_http_methods(["GET", "POST"])
def review_grid(request: HttpRequest) -> HttpResponse:
    """Many low-risk items at once: in review, no flag, not appeals."""
    if request.method == "POST":
        verdict = request.POST.get("verdict", "")
        selected = request.POST.getlist("selected")
        reason_code = request.POST.get("reason_code", "")
        if verdict == "reject" and selected and request.POST.get("confirmed") != "yes":
            # A bulk rejection is confirmed on its own page, with its reason.
            return render(
                request,
                "moderation/review_grid_confirm.html",
                {"selected": selected, "reasons": RejectReason.choices, "default_reason": RejectReason.OTHER},
            )
        try:
            outcome = review_decide_bulk(
                upload_ids=selected, moderator=request.user, verdict=verdict, reason_code=reason_code
            )
        except ApplicationError as exc:
            messages.error(request, exc.message)
            return redirect("review-grid")
        if outcome.decided:
            messages.success(request, f"{len(outcome.decided)} items {_DONE[verdict]}.")
        for upload_id, why in list(outcome.refused.items())[:10]:
            messages.error(request, f"{upload_id[:8]}: {why}")
        return redirect("review-grid")
    items = selectors.low_risk_items(moderator=request.user, limit=48)
    return render(request, "moderation/review_grid.html", {"items": items, "preference": _preference(request.user)})


@permission_required(REVIEW_PERMISSION)
@require_http_methods(["GET", "POST"])
def review_qa(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        try:
            qa_answer(
                item_id=int(request.POST.get("item", 0)),
                moderator=request.user,
                verdict=request.POST.get("verdict", ""),
                label=request.POST.get("label", ""),
            )
        except (ApplicationError, ValueError) as exc:
            messages.error(request, getattr(exc, "message", str(exc)))
        return redirect("review-qa")
    return render(request, "moderation/review_qa.html", {"items": qa_open_items(moderator=request.user, limit=20)})


@permission_required(REVIEW_PERMISSION)
@require_http_methods(["GET", "POST"])
def review_preferences(request: HttpRequest) -> HttpResponse:
    preference = _preference(request.user)
    form = PreferenceForm(request.POST or None, instance=preference)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, "Saved.")
        return redirect("review-queue")
    return render(request, "moderation/preferences.html", {"form": form})


@permission_required("moderation.view_auditevent")
def audit_log(request: HttpRequest) -> HttpResponse:
    form = AuditSearchForm(request.GET or None)
    events = selectors.audit_search(**(form.cleaned_data if form.is_valid() else {}))
    if request.GET.get("format") == "csv":
        response = StreamingHttpResponse(selectors.audit_csv_rows(events), content_type="text/csv")
        response["Content-Disposition"] = 'attachment; filename="audit.csv"'
        return response
    return render(
        request, "moderation/audit_log.html", {"form": form, "events": events[:200], "query": request.GET.urlencode()}
    )


def _as_percent(rate: float | None) -> float | None:
    return None if rate is None else round(rate * 100, 1)


@permission_required("moderation.view_metrics")
def metrics_page(request: HttpRequest) -> HttpResponse:
    summary = selectors.metrics_summary()
    chart_data = {
        "hours": summary["hours"],
        "uploads": summary["uploads_per_hour"],
        # Percentages, as the page prints them (65.6, not 0.656).
        "rates": [
            _as_percent(summary["auto_approve_rate"]),
            _as_percent(summary["auto_reject_rate"]),
            _as_percent(summary["review_rate"]),
        ],
        "moderators": [row["moderator__username"] for row in summary["decisions_per_moderator"]],
        "decisions": [row["n"] for row in summary["decisions_per_moderator"]],
        "versions": [f"v{v['id']} {v['architecture']}" for v in summary["model_versions"]],
        "test_accuracy": [_as_percent(v["metrics__accuracy"]) for v in summary["model_versions"]],
        "review_accuracy": [_as_percent(v["review_accuracy"]) for v in summary["model_versions"]],
    }
    return render(
        request,
        "moderation/metrics.html",
        {
            "m": summary,
            "chart_data": chart_data,
            "quarantined": list(quarantined_entries()[:50]),
            "can_confirm": request.user.has_perm(CONFIRM_PERMISSION),
            "training_runs": training_runs_recent(),
        },
    )


@permission_required(CONFIRM_PERMISSION)
@require_http_methods(["POST"])
def bank_entry_confirm_view(request: HttpRequest, entry_id: int) -> HttpResponse:
    try:
        bank_entry_confirm(entry_id=entry_id, actor=request.user)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "The bank entry acts again; the flood guard leaves it alone from now on.")
    return redirect("metrics")


@login_required
@require_http_methods(["POST"])
def post_appeal(request: HttpRequest, upload_id) -> HttpResponse:
    try:
        appeal_open(upload_id=upload_id, message=request.POST.get("message", ""), user=request.user)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "Your appeal was sent; a different moderator will look at it.")
    return redirect("my-posts")


def _curve_points(curve, width: int = 220, height: int = 120) -> str:
    """SVG polyline points: x = coverage (share auto-approved), y = precision 0.5..1."""
    if not curve:
        return ""
    top_coverage = max(point.coverage for point in curve) or 1.0
    return " ".join(
        f"{point.coverage / top_coverage * width:.1f},{(1 - (max(point.precision, 0.5) - 0.5) / 0.5) * height:.1f}"
        for point in sorted(curve, key=lambda p: p.coverage)
    )


@permission_required(CALIBRATE_PERMISSION)
@require_http_methods(["GET", "POST"])
def thresholds_page(request: HttpRequest) -> HttpResponse:
    proposals = thresholds_propose()
    if request.method == "POST":
        try:
            changed = thresholds_apply(actor=request.user, proposals=proposals)
        except ApplicationError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(
                request,
                f"Applied calibrated thresholds to {len(changed)} classes: {', '.join(changed) or 'none changed'}.",
            )
        return redirect("thresholds")
    rows = [{"p": p, "points": _curve_points(p.curve)} for p in proposals]
    return render(
        request,
        "moderation/thresholds.html",
        {
            "rows": rows,
            "target": settings.CALIBRATION_TARGET_PRECISION,
            "min_reviewed": settings.CALIBRATION_MIN_REVIEWED,
            "applicable": any(p.proposed is not None for p in proposals),
        },
    )


@permission_required(REVIEW_PERMISSION)
def review_heatmap(request: HttpRequest, upload_id) -> HttpResponse:
    """Occlusion heat map of the product tag, computed on first view and kept."""
    upload = selectors.upload_for_review(upload_id)
    prediction = upload.product_prediction if upload else None
    if prediction is None:
        raise Http404
    png = upload_heatmap(upload=upload, prediction=prediction)
    response = HttpResponse(png, content_type="image/png")
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, max-age=3600"
    return response


@permission_required(BANK_EXPORT_PERMISSION)
def banks_page(request: HttpRequest) -> HttpResponse:
    return render(request, "moderation/banks.html", {"banks": selectors.hash_banks_with_counts()})


@permission_required(BANK_EXPORT_PERMISSION)
@require_http_methods(["GET", "POST"])
def bank_page(request: HttpRequest, bank_id: int) -> HttpResponse:
    """One bank: add the hash of an image file, import a list, export it."""
    bank = selectors.hash_banks_with_counts().filter(pk=bank_id).first()
    if bank is None:
        raise Http404
    file_form = BankFileForm(request.POST or None, request.FILES or None, prefix="file")
    import_form = BankImportForm(request.POST or None, request.FILES or None, prefix="import")
    if request.method == "POST":
        action = request.POST.get("action")
        form = file_form if action == "add-file" else import_form
        if form.is_valid():
            try:
                if action == "add-file":
                    outcome = bank_hash_add_from_file(
                        bank_id=bank.pk, actor=request.user, data=form.image_bytes(), note=form.cleaned_data["note"]
                    )
                    messages.success(
                        request,
                        f"Added PDQ hash {outcome.pdq_hash[:16]}… (quality {outcome.quality}) to “{bank.name}”; "
                        "a retroactive search over recent uploads is queued.",
                    )
                else:
                    imported = bank_file_import(
                        bank_id=bank.pk, actor=request.user, text=form.text(), note=form.cleaned_data["note"]
                    )
                    skipped = f", {imported.skipped} rows of other signal types skipped" if imported.skipped else ""
                    messages.success(
                        request,
                        f"Imported {imported.added} new hashes into “{bank.name}” "
                        f"({imported.submitted} read as {imported.format}, "
                        f"{imported.submitted - imported.added} already there{skipped}).",
                    )
            except ApplicationError as exc:
                messages.error(request, exc.message)
            else:
                return redirect("bank-page", bank_id=bank.pk)
    return render(
        request,
        "moderation/bank.html",
        {
            "bank": bank,
            "entries": selectors.bank_entries_recent(bank_id=bank.pk),
            "file_form": file_form,
            "import_form": import_form,
            "formats": EXPORT_FORMATS,
            "can_manage": request.user.has_perm(BANK_MANAGE_PERMISSION),
        },
    )


@permission_required(BANK_EXPORT_PERMISSION)
def bank_export_view(request: HttpRequest, bank_id: int) -> HttpResponse:
    try:
        filename, content_type, lines = bank_export(
            bank_id=bank_id, actor=request.user, fmt=request.GET.get("format", "csv")
        )
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect("banks")
    response = StreamingHttpResponse(lines, content_type=f"{content_type}; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
