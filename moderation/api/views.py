"""The partner REST API: thin views over the upload, appeal and webhook services."""

import uuid

from django.http import JsonResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.pagination import CursorPagination
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from moderation.api.errors import error_body
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
from moderation.errors import InvalidInput, NotFound
from moderation.filters import uploads_filter
from moderation.models import Upload, UploadStatus, WebhookEndpoint
from moderation.selectors import uploads_visible_to
from moderation.services.appeals import appeal_open
from moderation.services.backpressure import backlog_hint, backlog_retry_after
from moderation.services.submissions import MAX_WAIT_SECONDS, upload_submit
from moderation.services.webhooks import webhook_endpoint_create, webhook_endpoint_delete, webhook_secret_rotate

ERRORS = {
    code: OpenApiResponse(ErrorSerializer, description="error") for code in (400, 401, 404, 406, 409, 413, 415, 429)
}
UPLOAD_DESCRIPTION = """The image goes as the multipart field `image` (JPEG, PNG, WebP, GIF or BMP,
judged by content), with an optional `caption`, `external_id` and `declared_category`.
It is checked (size, pixels, frames, decoding) before anything is stored: a refused
upload leaves no row and no file. The answer is `202` with the upload `pending` and
the queue it joined (`Retry-After`: when polling is worth it), or `201` when `?wait=`
seconds were enough for its verdict. A final verdict is also sent to your webhooks
(`upload.decided`, see WebhookEvent). A request body over the size cap is refused
from its `Content-Length` before it is read (`413 file_too_large`); a chunked body
is `411 length_required`. Idempotency-Key: the same key with the same request
returns the same upload for 24 hours."""
UPLOAD_ID = OpenApiParameter("upload_id", OpenApiTypes.UUID, location=OpenApiParameter.PATH)


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
    if not 0 <= wait <= MAX_WAIT_SECONDS:  # NaN too
        raise InvalidInput("wait must be a number of seconds from 0 to 10.", code="invalid_wait")
    return wait


class UploadListCreateApi(APIView):
    parser_classes = [MultiPartParser, FormParser]
    counts_as_upload = True  # a POST here counts against the upload limits (throttling.RateLimitThrottle)

    @extend_schema(
        parameters=[
            OpenApiParameter("status", str, enum=UploadStatus.values),
            OpenApiParameter("created_after", OpenApiTypes.DATETIME),
            OpenApiParameter("created_before", OpenApiTypes.DATETIME),
            OpenApiParameter("label", str, description="product label of the upload"),
            OpenApiParameter("flag", str, description="flag kind (adult, prohibited_goods, hash_match, …) or category"),
            OpenApiParameter("text", str, description="the text read in the image contains this (case-insensitive)"),
            OpenApiParameter("limit", int, description="page size, at most 200"),
            OpenApiParameter("cursor", str),
        ],
        responses={200: UploadPageSerializer, **ERRORS},
        summary="List your uploads, newest first (cursor pagination)",
        operation_id="uploads_list",
    )
    def get(self, request):
        queryset = uploads_filter(uploads_visible_to(**_caller(request)), request.query_params)
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
            411: OpenApiResponse(ErrorSerializer, description="length_required: a body without Content-Length"),
            503: OpenApiResponse(ErrorSerializer, description="queue_full: too many uploads wait; see Retry-After"),
        },
        summary="Submit an image for moderation",
        description=UPLOAD_DESCRIPTION,
        operation_id="uploads_create",
    )
    def post(self, request):
        wait = _parse_wait(request)
        image = request.FILES.get("image")
        if image is None:
            raise InvalidInput("Send the image as the multipart field `image`.", code="missing_image")
        serializer = UploadInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        api_key = request.auth if getattr(request.auth, "partner", None) is not None else None
        submission = upload_submit(
            data=image.read(),
            filename=image.name or "",
            caption=serializer.validated_data["caption"],
            external_id=serializer.validated_data["external_id"],
            declared_category=serializer.validated_data["declared_category"],
            api_key=api_key,
            user=None if api_key else request.user,
            idempotency_key=request.headers.get("Idempotency-Key"),
            wait=wait,
        )
        if submission.settled:
            response = Response(UploadOutputSerializer(submission.upload).data, status=status.HTTP_201_CREATED)
        else:
            queue = backlog_hint(submission.backlog)
            output = UploadAcceptedOutputSerializer(submission.upload, context={"queue": queue})
            response = Response(output.data, status=status.HTTP_202_ACCEPTED)
            response["Retry-After"] = str(backlog_retry_after(submission.backlog))
        if submission.replayed:
            response["Idempotent-Replayed"] = "true"
        return response


def _upload_id(raw) -> uuid.UUID:
    """The path's upload id; anything but a UUID is no upload (a JSON 404, never a 500 or HTML)."""
    try:
        return uuid.UUID(str(raw))
    except ValueError:
        raise NotFound("No upload with this id.", code="upload_not_found") from None


class UploadDetailApi(APIView):
    @extend_schema(
        parameters=[UPLOAD_ID],
        responses={200: UploadOutputSerializer, **ERRORS},
        summary="Read an upload's status, tags, flags and verdict",
        operation_id="uploads_read",
    )
    def get(self, request, upload_id):
        upload = uploads_visible_to(**_caller(request)).filter(pk=_upload_id(upload_id)).first()
        if upload is None:
            raise NotFound("No upload with this id.", code="upload_not_found")
        return Response(UploadOutputSerializer(upload).data)


class UploadAppealApi(APIView):
    parser_classes = [JSONParser, FormParser, MultiPartParser]

    @extend_schema(
        request=AppealInputSerializer,
        parameters=[UPLOAD_ID],
        responses={201: AppealOutputSerializer, **ERRORS},
        summary="Appeal a rejection (once per upload)",
        operation_id="uploads_appeal",
    )
    def post(self, request, upload_id):
        serializer = AppealInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        caller = _caller(request)
        appeal = appeal_open(
            upload_id=_upload_id(upload_id),
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


def api_not_found(request, *args, **kwargs) -> JsonResponse:
    """Any path under /api/v1/ that names no endpoint: the API's JSON 404, with
    DEBUG on as well (Django's debug 404 page is HTML)."""
    return JsonResponse(error_body("not_found", "No such resource."), status=404)
