from django.conf import settings
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from moderation.api.serializers import UploadInputSerializer, UploadOutputSerializer
from moderation.errors import InvalidInput, NotFound, PayloadTooLarge
from moderation.selectors import uploads_visible_to
from moderation.services.uploads import upload_create


def _caller(request) -> dict:
    """The owner filter for this request: a partner (API key) or a person (session)."""
    partner = getattr(request.auth, "partner", None)
    return {"partner": partner} if partner is not None else {"user": request.user}


class UploadCreateApi(APIView):
    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(
        request={"multipart/form-data": UploadInputSerializer},
        responses={202: UploadOutputSerializer, 400: OpenApiResponse(description="error"),
                   413: OpenApiResponse(description="error"), 415: OpenApiResponse(description="error")},
        summary="Submit an image for moderation",
    )
    def post(self, request):
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
        upload = upload_create(
            data=image.read(),
            filename=image.name or "",
            caption=serializer.validated_data["caption"],
            external_id=serializer.validated_data["external_id"],
            partner=caller.get("partner"),
            uploader=caller.get("user"),
        )
        upload = uploads_visible_to(**caller).get(pk=upload.pk)
        return Response(UploadOutputSerializer(upload).data, status=status.HTTP_202_ACCEPTED)


class UploadDetailApi(APIView):
    @extend_schema(responses={200: UploadOutputSerializer, 404: OpenApiResponse(description="error")},
                   summary="Read an upload's status, tags, flags and verdict")
    def get(self, request, upload_id):
        upload = uploads_visible_to(**_caller(request)).filter(pk=upload_id).first()
        if upload is None:
            raise NotFound("No upload with this id.", code="upload_not_found")
        return Response(UploadOutputSerializer(upload).data)
