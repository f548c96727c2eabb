"""Server-rendered pages. Each view parses input, calls one service or
selector, and renders the result."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required, permission_required
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from moderation import selectors
from moderation.errors import ApplicationError
from moderation.forms import DecisionForm, SignUpForm
from moderation.models import Upload, UploadStatus
from moderation.services.explain import upload_heatmap
from moderation.services.review import REVIEW_PERMISSION, review_decide
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
        user = form.save()
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        return redirect("upload")
    return render(request, "registration/signup.html", {"form": form})


@login_required
def upload_page(request: HttpRequest) -> HttpResponse:
    return render(request, "moderation/upload.html")


@login_required
def my_posts(request: HttpRequest) -> HttpResponse:
    posts = selectors.uploads_visible_to(user=request.user).order_by("-created_at")[:100]
    return render(request, "moderation/my_posts.html", {"posts": posts})


def feed(request: HttpRequest) -> HttpResponse:
    return render(request, "moderation/feed.html", {"posts": selectors.feed()})


def upload_image(request: HttpRequest, upload_id) -> FileResponse:
    """The only way an image leaves the platform: approved posts are public;
    otherwise only the uploader and moderators may see it."""
    upload = Upload.objects.filter(pk=upload_id).select_related("uploader").first()
    if upload is None:
        raise Http404
    allowed = (
        (upload.status == UploadStatus.APPROVED and upload.uploader_id is not None)
        or (request.user.is_authenticated and upload.uploader_id == request.user.pk)
        or request.user.has_perm(REVIEW_PERMISSION)
    )
    if not allowed:
        raise Http404
    response = FileResponse(upload.image.open("rb"), content_type=upload.content_type)
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["Cache-Control"] = "private, max-age=300"
    return response


@permission_required(REVIEW_PERMISSION)
def review_queue(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "moderation/review_queue.html",
        {"items": selectors.review_queue(limit=50), "queue_size": selectors.review_queue_size()},
    )


@permission_required(REVIEW_PERMISSION)
@require_http_methods(["GET", "POST"])
def review_detail(request: HttpRequest, upload_id) -> HttpResponse:
    upload = selectors.upload_for_review(upload_id)
    if upload is None:
        raise Http404
    by_role = upload.predictions_by_role()
    prediction = by_role.get("product")
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
            messages.success(request, f"Upload {str(upload.pk)[:8]}: {form.cleaned_data['verdict']}d.")
            following = selectors.review_queue(limit=1)
            if following:
                return redirect("review-detail", upload_id=following[0].pk)
            return redirect("review-queue")
    return render(
        request,
        "moderation/review_detail.html",
        {
            "upload": upload,
            "prediction": prediction,
            "imagenet": by_role.get("imagenet"),
            "adult": by_role.get("adult"),
            "form": form,
            "decisions": upload.decisions.select_related("moderator"),
        },
    )


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
            messages.success(request, f"Applied calibrated thresholds to {len(changed)} classes: {', '.join(changed) or 'none changed'}.")
        return redirect("thresholds")
    rows = [{"p": p, "points": _curve_points(p.curve)} for p in proposals]
    return render(request, "moderation/thresholds.html", {
        "rows": rows,
        "target": settings.CALIBRATION_TARGET_PRECISION,
        "min_reviewed": settings.CALIBRATION_MIN_REVIEWED,
        "applicable": any(p.proposed is not None for p in proposals),
    })


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
