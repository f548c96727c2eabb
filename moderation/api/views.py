"""The partner REST API: thin views over the upload, appeal and webhook services."""

from datetime import UTC

from django.conf import settings
from django.db.models import Exists, OuterRef, Q
from django.utils.dateparse import parse_datetime
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.pagination import CursorPagination
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from moderation.api.serializers import (
    AppealInputSerializer,
    AppealOutputSerializer,
    ErrorSerializer,
    UploadAcceptedOutputSerializer,
    UploadInputSerializer,
    UploadOutputSerializer,
    UploadPageSerializer,
    WebhookInputSerializer,
    WebhookOutputSerializer,
    WebhookSecretOutputSerializer,
)
from moderation.errors import InvalidInput, NotFound, PayloadTooLarge
from moderation.models import SETTLED_STATUSES, Flag, Prediction, Upload, UploadStatus, WebhookEndpoint
from moderation.selectors import upload_just_created, uploads_visible_to
from moderation.services.appeals import appeal_open
from moderation.services.backpressure import backlog_current, backlog_hint, backlog_retry_after
from moderation.services.notify import wait_until_settled
from moderation.services.ratelimit import check_daily_quota, check_user_upload
from moderation.services.uploads import upload_create, upload_create_idempotent
from moderation.services.webhooks import webhook_endpoint_create, webhook_endpoint_delete, webhook_secret_rotate

ERRORS = {code: OpenApiResponse(ErrorSerializer, description="error") for code in (400, 401, 404, 409, 413, 415, 429)}
MAX_WAIT_SECONDS = 10.0


def _caller(request) -> dict:
    """The owner filter for this request: a partner (API key) or a person (session)."""
    partner = getattr(request.auth, "partner", None)
    return {"partner": partner} if partner is not None else {"user": request.user}


def _partner(request):
    partner = getattr(request.auth, "partner", None)
    if partner is None:
        raise NotFound("Webhooks belong to partners: authenticate with an API key.", code="partner_only")
    return partner


class UploadCursorPagination(CursorPagination):
    ordering = ("-created_at", "-id")
    page_size = 50
    page_size_query_param = "limit"
    max_page_size = 200


def _parse_wait(request) -> float:
    raw = request.query_params.get("wait")
    if raw in (None, ""):
        return 0.0
    try:
        wait = float(raw)
    except ValueError:
        raise InvalidInput("wait must be a number of seconds from 0 to 10.", code="invalid_wait") from None
    if not 0 <= wait <= MAX_WAIT_SECONDS:
        raise InvalidInput("wait must be a number of seconds from 0 to 10.", code="invalid_wait")
    return wait


def _moment(name: str, value: str):
    """An ISO 8601 date-time as UTC (databases disagree on odd offsets such as +16:36)."""
    try:
        moment = parse_datetime(value)
        if moment is not None:
            moment = moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    except (ValueError, OverflowError):
        moment = None
    if moment is None:
        raise InvalidInput(f"{name} must be an ISO 8601 date-time.", code="invalid_filter")
    return moment


def _filter(queryset, params):
    if value := params.get("status"):
        if value not in UploadStatus.values:
            raise InvalidInput(
                f"Unknown status {value!r}.", code="invalid_filter", detail={"status": UploadStatus.values}
            )
        queryset = queryset.filter(status=value)
    for name, lookup in (("created_after", "created_at__gte"), ("created_before", "created_at__lt")):
        if value := params.get(name):
            queryset = queryset.filter(**{lookup: _moment(name, value)})
    for name in ("label", "flag"):
        if "\x00" in params.get(name, ""):
            raise InvalidInput(f"{name} may not contain NUL characters.", code="invalid_filter")
    if value := params.get("label"):
        # A label withheld by the open-set gate is no tag: a cat is not a "Bag".
        queryset = queryset.filter(
            Exists(
                Prediction.objects.filter(
                    Q(open_set__in_distribution=True) | Q(open_set__in_distribution__isnull=True),
                    upload=OuterRef("pk"),
                    model_version__role="product",
                    label=value,
                )
            )
        )
    if value := params.get("flag"):
        queryset = queryset.filter(
            Exists(Flag.objects.filter(upload=OuterRef("pk"), kind=value))
            | Exists(Flag.objects.filter(upload=OuterRef("pk"), category=value))
        )
    return queryset


class UploadListCreateApi(APIView):
    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(
        parameters=[
            OpenApiParameter("status", str, enum=UploadStatus.values),
            OpenApiParameter("created_after", OpenApiTypes.DATETIME),
            OpenApiParameter("created_before", OpenApiTypes.DATETIME),
            OpenApiParameter("label", str, description="product label of the upload"),
            OpenApiParameter("flag", str, description="flag kind (adult, prohibited_goods, hash_match, …) or category"),
            OpenApiParameter("limit", int, description="page size, at most 200"),
            OpenApiParameter("cursor", str),
        ],
        responses={200: UploadPageSerializer, **ERRORS},
        summary="List your uploads, newest first (cursor pagination)",
        operation_id="uploads_list",
    )
    def get(self, request):
        queryset = _filter(uploads_visible_to(**_caller(request)), request.query_params)
        paginator = UploadCursorPagination()
        page: list[Upload] | None = paginator.paginate_queryset(queryset, request, view=self)
        return paginator.get_paginated_response(UploadOutputSerializer(page, many=True).data)

    @extend_schema(
        request={"multipart/form-data": UploadInputSerializer},
        parameters=[
            OpenApiParameter("wait", float, description="seconds (0-10) to wait for the verdict"),
            OpenApiParameter(
                "Idempotency-Key",
                str,
                location=OpenApiParameter.HEADER,
                description="same key + same request = the same upload, for 24 hours",
            ),
        ],
        responses={
            201: UploadOutputSerializer,
            202: UploadAcceptedOutputSerializer,
            **ERRORS,
            503: OpenApiResponse(ErrorSerializer, description="queue_full: too many uploads wait; see Retry-After"),
        },
        summary="Submit an image for moderation",
        operation_id="uploads_create",
    )
    def post(self, request):
        wait = _parse_wait(request)
        if getattr(request.auth, "partner", None) is None:
            # A signed-in person: counted before the body is parsed, so a
            # flood costs no parsing, no decoding and no storage.
            check_user_upload(request.user)
        image = request.FILES.get("image")
        if image is None:
            raise InvalidInput("Send the image as the multipart field `image`.", code="missing_image")
        if image.size == 0:
            raise InvalidInput("The file is empty.", code="empty_file")
        if image.size > settings.UPLOAD_MAX_BYTES:
            raise PayloadTooLarge(
                f"The file is {image.size} bytes; the limit is {settings.UPLOAD_MAX_BYTES} bytes.",
                code="file_too_large",
                detail={"bytes": image.size, "max_bytes": settings.UPLOAD_MAX_BYTES},
            )
        serializer = UploadInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        caller = _caller(request)
        fields = {
            "data": image.read(),
            "filename": image.name or "",
            "caption": serializer.validated_data["caption"],
            "external_id": serializer.validated_data["external_id"],
            "declared_category": serializer.validated_data["declared_category"],
        }
        key = request.headers.get("Idempotency-Key")
        replayed = False
        if "partner" in caller:
            check_daily_quota(request.auth)
        if key is not None and "partner" in caller:
            upload, created = upload_create_idempotent(key=key, partner=caller["partner"], **fields)
            replayed = not created
        else:
            upload = upload_create(**fields, partner=caller.get("partner"), uploader=caller.get("user"))
        backlog = backlog_current()
        if wait and (delay := backlog.expected_delay_seconds) is not None and delay > wait:
            wait = 0.0  # the verdict cannot come in time: answer now rather than hold a web thread
        visible = uploads_visible_to(**caller)
        settled = wait > 0 and wait_until_settled(
            upload.pk, wait, lambda: visible.filter(pk=upload.pk, status__in=SETTLED_STATUSES).exists()
        )
        if settled or wait or replayed or settings.API_READ_BACK_ACCEPTED:
            upload = visible.get(pk=upload.pk)
        else:
            upload = upload_just_created(upload)  # nothing can be said of it yet: no queries
        settled = settled or upload.status in SETTLED_STATUSES
        if settled:
            response = Response(UploadOutputSerializer(upload).data, status=status.HTTP_201_CREATED)
        else:
            output = UploadAcceptedOutputSerializer(upload, context={"queue": backlog_hint(backlog)})
            response = Response(output.data, status=status.HTTP_202_ACCEPTED)
            response["Retry-After"] = str(backlog_retry_after(backlog))
        if replayed:
            response["Idempotent-Replayed"] = "true"
        return response


class UploadDetailApi(APIView):
    @extend_schema(
        responses={200: UploadOutputSerializer, **ERRORS},
        summary="Read an upload's status, tags, flags and verdict",
        operation_id="uploads_read",
    )
    def get(self, request, upload_id):
        upload = uploads_visible_to(**_caller(request)).filter(pk=upload_id).first()
        if upload is None:
            raise NotFound("No upload with this id.", code="upload_not_found")
        return Response(UploadOutputSerializer(upload).data)


class UploadAppealApi(APIView):
    parser_classes = [JSONParser, FormParser, MultiPartParser]

    @extend_schema(
        request=AppealInputSerializer,
        responses={201: AppealOutputSerializer, **ERRORS},
        summary="Appeal a rejection (once per upload)",
        operation_id="uploads_appeal",
    )
    def post(self, request, upload_id):
        serializer = AppealInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        caller = _caller(request)
        appeal = appeal_open(
            upload_id=upload_id,
            message=serializer.validated_data["message"],
            partner=caller.get("partner"),
            user=caller.get("user"),
        )
        return Response(AppealOutputSerializer(appeal).data, status=status.HTTP_201_CREATED)


class WebhookListCreateApi(APIView):
    parser_classes = [JSONParser, FormParser]

    @extend_schema(
        responses={200: WebhookOutputSerializer(many=True), **ERRORS},
        summary="Your webhook endpoints",
        operation_id="webhooks_list",
    )
    def get(self, request):
        partner = _partner(request)
        endpoints = WebhookEndpoint.objects.filter(partner=partner).order_by("created_at")
        return Response(WebhookOutputSerializer(endpoints, many=True).data)

    @extend_schema(
        request=WebhookInputSerializer,
        responses={201: WebhookSecretOutputSerializer, **ERRORS},
        summary="Register a callback URL for verdicts and appeal outcomes (its secret is shown once)",
        operation_id="webhooks_create",
    )
    def post(self, request):
        partner = _partner(request)
        serializer = WebhookInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        endpoint = webhook_endpoint_create(partner=partner, url=serializer.validated_data["url"])
        return Response(WebhookSecretOutputSerializer(endpoint).data, status=status.HTTP_201_CREATED)


def _partner_endpoint(request, webhook_id) -> WebhookEndpoint:
    endpoint = WebhookEndpoint.objects.filter(partner=_partner(request), pk=webhook_id).first()
    if endpoint is None:
        raise NotFound("No webhook endpoint with this id.", code="webhook_not_found")
    return endpoint


class WebhookDetailApi(APIView):
    @extend_schema(responses={204: None, **ERRORS}, summary="Remove a webhook endpoint", operation_id="webhooks_delete")
    def delete(self, request, webhook_id):
        webhook_endpoint_delete(endpoint=_partner_endpoint(request, webhook_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class WebhookRotateSecretApi(APIView):
    @extend_schema(
        request=None,
        responses={200: WebhookSecretOutputSerializer, **ERRORS},
        summary="A new signing secret (shown once); the old one also signs during the grace period",
        operation_id="webhooks_rotate_secret",
    )
    def post(self, request, webhook_id):
        endpoint = webhook_secret_rotate(endpoint=_partner_endpoint(request, webhook_id))
        return Response(WebhookSecretOutputSerializer(endpoint).data)
