"""The partner API's input and output shapes. The upload's output shape is
the platform's one representation of an upload (`moderation.representation`),
shared with the webhooks."""

from drf_spectacular.drainage import set_override
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.fields import empty

from moderation.models import Upload, WebhookEndpoint
from moderation.representation import (
    AppealOutputSerializer,
    BoundedIntegerField,
    CategorySerializer,
    FlagSerializer,
    ImageNetTagSerializer,
    ModelVersionRefSerializer,
    OpenSetSerializer,
    TagSerializer,
    UploadOutputSerializer,
)

__all__ = [
    "AppealInputSerializer",
    "AppealOutputSerializer",
    "CategorySerializer",
    "ErrorSerializer",
    "FlagSerializer",
    "ImageNetTagSerializer",
    "ModelVersionRefSerializer",
    "OpenSetSerializer",
    "TagSerializer",
    "UploadAcceptedOutputSerializer",
    "UploadInputSerializer",
    "UploadOutputSerializer",
    "UploadPageSerializer",
    "WebhookInputSerializer",
    "WebhookOutputSerializer",
    "WebhookSecretOutputSerializer",
]


class ErrorBodySerializer(serializers.Serializer):
    code = serializers.CharField(help_text="stable machine code, listed in docs/api.md")
    message = serializers.CharField(help_text="for people")
    detail = serializers.JSONField(allow_null=True)


class ErrorSerializer(serializers.Serializer):
    error = ErrorBodySerializer()


class ServiceCheckedText(serializers.CharField):
    """Text the service checks itself, so that a bad value gets the service's
    own error code (`appeal_message_missing`, `invalid_webhook_url`,
    `caption_too_long`, …) rather than the generic `invalid_input`. The schema
    still states the limits. A missing or null value reaches the service as "".
    `required` only marks the field so in the schema: the service says what a
    missing value means."""

    def __init__(
        self, *, max_length: int, required: bool = False, fmt: str | None = None, help_text: str | None = None
    ) -> None:
        super().__init__(required=required, allow_blank=True, trim_whitespace=False, help_text=help_text)
        schema: dict = {"type": "string", "maxLength": max_length}
        if required:
            schema["minLength"] = 1
        if fmt:
            schema["format"] = fmt
        set_override(self, "field", schema)

    def validate_empty_values(self, data):
        if data is empty or data is None:
            return True, ""
        return super().validate_empty_values(data)

    def to_internal_value(self, data):
        # A number or a list is not text: DRF's CharField would take 123 as
        # "123" (and an appeal's only chance with it). Form fields are always str.
        if not isinstance(data, str):
            raise serializers.ValidationError(f"Expected a string, got {_json_type(data)}.")
        return super().to_internal_value(data)


def _json_type(value) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


class AppealInputSerializer(serializers.Serializer):
    message = ServiceCheckedText(
        max_length=2000, required=True, help_text="why the rejection is wrong (400 appeal_message_missing if empty)"
    )


class WebhookInputSerializer(serializers.Serializer):
    url = ServiceCheckedText(max_length=500, required=True, fmt="uri", help_text="an http(s) URL on a public address")


class WebhookOutputSerializer(serializers.ModelSerializer):
    """An endpoint as listed: never its secret."""

    id = BoundedIntegerField(minimum=1, maximum=None)

    class Meta:
        model = WebhookEndpoint
        fields = ["id", "url", "active", "created_at", "previous_secret_expires_at"]


class WebhookSecretOutputSerializer(WebhookOutputSerializer):
    """An endpoint just created or with a new secret: the secret, shown this once."""

    signing_secret = serializers.CharField(
        source="secret", help_text="HMAC-SHA256 key; store it now, it is not shown again."
    )

    class Meta(WebhookOutputSerializer.Meta):
        fields = [*WebhookOutputSerializer.Meta.fields, "signing_secret"]


class UploadInputSerializer(serializers.Serializer):
    image = serializers.FileField(
        allow_empty_file=True,  # the service answers `empty_file`
        help_text="JPEG, PNG, WebP, GIF or BMP; animations are judged on every frame a viewer sees.",
    )
    external_id = ServiceCheckedText(
        max_length=200,
        help_text="your id for the image, unique per partner (409 duplicate_external_id); empty or absent: none",
    )
    caption = ServiceCheckedText(max_length=2000, help_text="the listing's text")
    declared_category = ServiceCheckedText(
        max_length=100,
        help_text="What the listing shows: a product class (e.g. `Sneaker`) or a taxonomy category (e.g. "
        "`footwear`), matched without regard to case. An image that does not show it gets a "
        "`listing_mismatch` flag. Unknown values: 400 `unknown_declared_category`.",
    )


class QueueHintSerializer(serializers.Serializer):
    depth = BoundedIntegerField(
        help_text="uploads waiting for classification, counted at most UPLOAD_BACKLOG_CHECK_SECONDS ago"
    )
    verdicts_per_second = serializers.FloatField(help_text="the pace verdicts came at over the last 30 s")
    expected_delay_seconds = serializers.FloatField(
        allow_null=True, help_text="depth / pace; null when uploads wait and none settled lately"
    )


class UploadAcceptedOutputSerializer(UploadOutputSerializer):
    """An upload not settled yet (202): with the queue it joined (also the
    Retry-After header: when polling for its verdict is worth it)."""

    queue = serializers.SerializerMethodField()

    class Meta(UploadOutputSerializer.Meta):
        fields = [*UploadOutputSerializer.Meta.fields, "queue"]

    @extend_schema_field(QueueHintSerializer)
    def get_queue(self, upload: Upload) -> dict:
        return self.context["queue"]


class UploadPageSerializer(serializers.Serializer):
    next = serializers.URLField(allow_null=True, help_text="the next page, or null")
    previous = serializers.URLField(allow_null=True)
    results = UploadOutputSerializer(many=True)
