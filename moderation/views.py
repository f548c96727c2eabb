"""Server-rendered pages. Each view parses input, calls one service or
selector, and renders the result."""

from __future__ import annotations

import uuid
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from classifier.facade import NO_PRODUCT, ModelRole
from classifier.registry import training_runs_recent
from moderation import queue, selectors
from moderation.access import permission_required
from moderation.client_address import client_address
from moderation.errors import ApplicationError, InvalidInput, NotFound, RateLimited
from moderation.filters import review_queue_filter, uploads_filter
from moderation.forms import AuditSearchForm, BankFileForm, BankImportForm, DecisionForm, PreferenceForm, SignUpForm
from moderation.models import AppealStatus, BankAction, ModeratorPreference, RejectReason, UploadFrame, UploadStatus
from moderation.services.accounts import account_create
from moderation.services.appeals import appeal_open
from moderation.services.bank_files import (
    BANK_CREATE_PERMISSION,
    BANK_EXPORT_PERMISSION,
    BANK_MANAGE_PERMISSION,
    EXPORT_FORMATS,
    bank_create,
    bank_entry_remove,
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
from moderation.services.review import REVIEW_PERMISSION, review_decide, review_decide_bulk, review_labels
from moderation.services.review import review_undo as review_undo_service
from moderation.services.thresholds import (
    CALIBRATE_PERMISSION,
    THRESHOLD_FIELDS,
    VERDICT_THRESHOLDS_PERMISSION,
    thresholds_apply,
    thresholds_propose,
    thresholds_set,
)
from moderation.uploader_status import appeal_outcome


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
    waiting, applied = review_queue_filter(selectors.review_waiting(), request.GET)
    filter_query = urlencode({k: ("true" if v is True else v) for k, v in applied.items()})
    items = selectors.review_queue(limit=page_size + 1, after=_queue_cursor(request.GET.get("after")), waiting=waiting)
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
            "matching": waiting.count() if applied else None,
            "applied": applied,
            "choices": selectors.review_queue_choices(),
            "filter_query": filter_query,
            "next_cursor": f"{items[-1].review_rank!r}_{items[-1].pk}" if more else None,
            "explanation": queue.EXPLANATION,
            "preference": _preference(request.user),
            "undoable": _undoable(request),
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
    filtered, query = _queue_filter(request)
    within = filtered if query else None
    keep = f"?{query}" if query else ""
    try:
        if before:
            upload = queue_step(moderator=request.user, current_id=before, direction="previous", within=within)
            if upload is None:
                messages.info(request, "This is the first item you can open: there is none before it.")
                return redirect(reverse("review-detail", kwargs={"upload_id": before}) + keep)
        elif after:
            upload = queue_step(moderator=request.user, current_id=after, direction="next", within=within)
        else:
            skip = [s for s in request.GET.getlist("skip") if _upload_id(s)]
            upload = queue_claim_next(moderator=request.user, skip=skip, within=within)
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect(reverse("review-queue") + keep)
    if upload is None:
        messages.info(request, "No item is waiting here. Well done." if query else "The queue is empty. Well done.")
        return redirect(reverse("review-queue") + keep)
    return redirect(reverse("review-detail", kwargs={"upload_id": upload.pk}) + keep)


def _queue_filter(request: HttpRequest):
    """The queue page's filters this request carries: the filtered queue and
    their query string ("" when none applies), kept from the queue page
    through the review page, J/K and each decision."""
    waiting, applied = review_queue_filter(selectors.review_waiting(), request.GET)
    return waiting, urlencode({k: ("true" if v is True else v) for k, v in applied.items()})


# Every class gets a key: digits first, then the letters no command uses.
_LABEL_KEYS = "1234567890bcdefghilmopqstwxyz"  # not the commands a, r, j, k, v, u (undo), nor n (no product)
NO_PRODUCT_KEY = "n"
_DONE = {"approve": "approved", "reject": "rejected"}


def label_keys(labels: list[str]) -> list[tuple[str, str]]:
    """(key, label) for the review page's legend and its keyboard handler:
    "no product" on N, the product kinds in order on 1-9, 0, then letters."""
    keys = iter(_LABEL_KEYS)
    return [(NO_PRODUCT_KEY if name == NO_PRODUCT else next(keys, ""), name) for name in labels]


@permission_required(REVIEW_PERMISSION)
@require_http_methods(["POST"])
def review_claim(request: HttpRequest, upload_id) -> JsonResponse:
    """The review page's heartbeat while it is in use, and "Take over": claim
    (or renew the claim on) the item for REVIEW_CLAIM_SECONDS. 409 while
    someone else holds it; an abandoned item's claim has lapsed, so it is taken."""
    try:
        upload = queue_claim(moderator=request.user, upload_id=upload_id)
    except ApplicationError as exc:
        return JsonResponse(exc.as_dict(), status=exc.status)
    until = upload.claimed_until if upload.claimed_by_id == request.user.pk else None
    return JsonResponse({"claimed_until": until.isoformat() if until else None})


def _undoable(request: HttpRequest):
    """The moderator's last decision, while it may be undone (one query; no
    session write per decision)."""
    return selectors.undoable_decision(moderator=request.user)


@permission_required(REVIEW_PERMISSION)
@require_http_methods(["POST"])
def review_undo(request: HttpRequest, decision_id: int) -> HttpResponse:
    """Undo one's last decision (U): the item comes back, to be decided again."""
    try:
        decision = review_undo_service(decision_id=decision_id, moderator=request.user)
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect("review-queue")
    messages.info(request, f"Undone: upload {str(decision.upload_id)[:8]} is back in review; decide it again.")
    return redirect("review-detail", upload_id=decision.upload_id)


def reason_keys() -> list[tuple[str, str, str]]:
    """(key, code, label) of every reject reason: R, then its digit, rejects with it."""
    return [(str(i), value, label) for i, (value, label) in enumerate(RejectReason.choices, start=1)]


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
    prediction = upload.product_prediction
    labels = review_labels() if prediction else []
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
            if upload.status == UploadStatus.APPEALED:  # as read before the decision
                status = AppealStatus.OVERTURNED if verdict == "approve" else AppealStatus.UPHELD
                outcome = f"Upload {str(upload.pk)[:8]}: {appeal_outcome(status)}"
            elif verdict == "reject":
                reason = RejectReason(form.cleaned_data["reason_code"] or RejectReason.OTHER).label
                chosen = "" if form.cleaned_data["reason_code"] else ", the default: no reason was chosen"
                outcome += f" (reason recorded: {reason}{chosen})"
            messages.success(request, outcome + ".")
            _, query = _queue_filter(request)
            return redirect(f"{reverse('review-next')}?after={upload.pk}" + (f"&{query}" if query else ""))
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
            "reason_keys": reason_keys(),
            "undoable": _undoable(request),
            "filter_query": _queue_filter(request)[1],
            "undo_seconds": settings.REVIEW_UNDO_SECONDS,
            "heartbeat_seconds": settings.REVIEW_HEARTBEAT_SECONDS,
            "claim_seconds": settings.REVIEW_CLAIM_SECONDS,
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
    """Many low-risk items at once (selectors.low_risk_queryset), narrowed
    to one reason for review with `?reason=`."""
    reasons = selectors.bulk_reasons(moderator=request.user)
    known = {r.value for r in reasons}
    reason = request.POST.get("reason") or request.GET.get("reason", "")
    reason = reason if reason in known else ""
    here = f"{reverse('review-grid')}?{urlencode({'reason': reason})}" if reason else reverse("review-grid")
    if request.method == "POST":
        verdict = request.POST.get("verdict", "")
        selected = request.POST.getlist("selected")
        reason_code = request.POST.get("reason_code", "")
        if verdict == "reject" and selected and request.POST.get("confirmed") != "yes":
            # A bulk rejection is confirmed on its own page, with its reason.
            return render(
                request,
                "moderation/review_grid_confirm.html",
                {
                    "selected": selected,
                    "reasons": RejectReason.choices,
                    "default_reason": RejectReason.OTHER,
                    "reason": reason,
                },
            )
        try:
            outcome = review_decide_bulk(
                upload_ids=selected, moderator=request.user, verdict=verdict, reason_code=reason_code
            )
        except ApplicationError as exc:
            messages.error(request, exc.message)
            return redirect(here)
        if outcome.decided:
            messages.success(request, f"{len(outcome.decided)} items {_DONE[verdict]}.")
        for upload_id, why in list(outcome.refused.items())[:10]:
            messages.error(request, f"{upload_id[:8]}: {why}")
        return redirect(here)
    items = selectors.low_risk_items(moderator=request.user, reason=reason, limit=48)
    preference = _preference(request.user)
    return render(
        request,
        "moderation/review_grid.html",
        {
            "items": items,
            "reasons": reasons,
            "reason": reason,
            "blur": preference.blur_flagged,
            "greyscale": preference.greyscale_flagged,
        },
    )


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
    page_size = 200
    before = _audit_cursor(request.GET.get("before"))
    if before is not None:
        from django.db.models import Q

        events = events.filter(Q(created_at__lt=before[0]) | Q(created_at=before[0], id__lt=before[1]))
    page = list(events[: page_size + 1])
    older = page[page_size - 1] if len(page) > page_size else None
    query = request.GET.copy()
    query.pop("before", None)
    return render(
        request,
        "moderation/audit_log.html",
        {
            "form": form,
            "events": page[:page_size],
            "query": query.urlencode(),
            "older": f"{older.created_at.isoformat()}_{older.pk}" if older else None,
            "paged": before is not None,
        },
    )


def _audit_cursor(raw: str | None):
    """(created_at, id) of the last row shown: the next (older) page starts after it."""
    from django.utils.dateparse import parse_datetime

    if not raw or "_" not in raw:
        return None
    moment, _, pk = raw.rpartition("_")
    try:
        parsed = parse_datetime(moment)
    except ValueError:
        return None
    return (parsed, int(pk)) if parsed is not None and pk.isdigit() else None


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
            "outcomes": selectors.review_outcomes(),
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
    return redirect(f"{reverse('my-posts')}#post-{upload_id}")  # back at the post, not the top of the list


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
@require_http_methods(["GET", "POST"])
def banks_page(request: HttpRequest) -> HttpResponse:
    """The banks, and a lead's form to create one (its error shown beside it)."""
    create_error = None
    if request.method == "POST":
        try:
            distance = int(request.POST.get("max_distance") or 31)
        except ValueError:
            distance = -1  # refused by the service, with its message
        try:
            bank = bank_create(
                actor=request.user,
                name=request.POST.get("name", ""),
                action=request.POST.get("action", "reject"),
                max_distance=distance,
                description=request.POST.get("description", ""),
            )
        except ApplicationError as exc:
            create_error = exc.message
        else:
            messages.success(request, f"Bank “{bank.name}” created: add an image's hash or import a list.")
            return redirect("bank-page", bank_id=bank.pk)
    return render(
        request,
        "moderation/banks.html",
        {
            "banks": selectors.hash_banks_with_counts(),
            "can_create": request.user.has_perm(BANK_CREATE_PERMISSION),
            "actions": BankAction.choices,
            "create_error": create_error,
            "posted": request.POST if create_error else {},
        },
        status=400 if create_error else 200,
    )


@permission_required(BANK_MANAGE_PERMISSION)
@require_http_methods(["POST"])
def bank_entry_remove_view(request: HttpRequest, entry_id: int) -> HttpResponse:
    try:
        entry = bank_entry_remove(entry_id=entry_id, actor=request.user)
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect("banks")
    messages.success(request, f"Removed {entry.pdq_hash[:16]}… from “{entry.bank.name}”; it matches nothing now.")
    return redirect("bank-page", bank_id=entry.bank_id)


@permission_required(BANK_EXPORT_PERMISSION)
@require_http_methods(["GET", "POST"])
def bank_page(request: HttpRequest, bank_id: int) -> HttpResponse:
    """One bank: add the hash of an image file, import a list, export it."""
    bank = selectors.hash_banks_with_counts().filter(pk=bank_id).first()
    if bank is None:
        raise Http404
    action = request.POST.get("action")
    file_form = BankFileForm(
        request.POST if action == "add-file" else None, request.FILES if action == "add-file" else None, prefix="file"
    )
    import_form = BankImportForm(
        request.POST if action == "import" else None, request.FILES if action == "import" else None, prefix="import"
    )
    entries = Paginator(selectors.bank_entries(bank_id=bank.pk), 50).get_page(request.GET.get("page"))
    if request.method == "POST":
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
                form.add_error(None, exc.message)  # shown beside its own form
            else:
                return redirect("bank-page", bank_id=bank.pk)
    return render(
        request,
        "moderation/bank.html",
        {
            "bank": bank,
            "entries": entries,
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


def _threshold_values(model, post) -> dict:
    """The posted thresholds of one row: a score, empty for "never" where
    the field may be empty, a ticked box for the yes/no fields."""
    values: dict = {}
    for name in THRESHOLD_FIELDS[model]:
        field = model._meta.get_field(name)
        if field.get_internal_type() == "BooleanField":
            values[name] = post.get(name) == "on"
            continue
        raw = (post.get(name) or "").strip()
        if raw == "" and field.null:
            values[name] = None
            continue
        try:
            values[name] = float(raw)
        except ValueError:
            raise InvalidInput(
                f"{field.verbose_name.capitalize()}: a score between 0 and 1 is needed, not {raw[:20]!r}.",
                code="invalid_threshold",
            ) from None
    return values


@permission_required(VERDICT_THRESHOLDS_PERMISSION)
@require_http_methods(["GET", "POST"])
def verdict_thresholds_page(request: HttpRequest) -> HttpResponse:
    """Every threshold that decides a verdict, for leads to change (each
    change audited by thresholds_set): the flag categories (adult content,
    prohibited goods, listing mismatch), the product classes, and the
    custom categories (changed on their own pages)."""
    from moderation.category_models import CustomCategory
    from moderation.models import ClassPolicy, FlagCategory

    if request.method == "POST":
        kind, _, pk = request.POST.get("row", "").partition("-")
        model = {"flag": FlagCategory, "class": ClassPolicy}.get(kind)
        row = model.objects.filter(pk=pk).first() if model is not None and pk.isdigit() else None
        if row is None:
            messages.error(request, "No such threshold row.")
            return redirect("verdict-thresholds")
        try:
            thresholds_set(target=row, actor=request.user, values=_threshold_values(model, request.POST))
        except ApplicationError as exc:
            detail = exc.detail if isinstance(exc.detail, dict) else {}
            messages.error(request, f"{row}: {exc.message} " + " ".join(str(v) for v in detail.values()))
        else:
            messages.success(request, f"{row}: thresholds saved; new uploads are judged with them.")
        return redirect(f"{reverse('verdict-thresholds')}#{kind}-{pk}")
    return render(
        request,
        "moderation/verdict_thresholds.html",
        {
            "flags": FlagCategory.objects.select_related("taxonomy_category"),
            "classes": ClassPolicy.objects.all(),
            "categories": CustomCategory.objects.order_by("name"),
            "can_change_classes": request.user.has_perm("moderation.change_classpolicy"),
            "policy_cache_seconds": settings.POLICY_CACHE_SECONDS,
        },
    )
