from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from moderation.models import Appeal, Upload, WebhookEndpoint


class ErrorBodySerializer(serializers.Serializer):
    code = serializers.CharField(help_text="stable machine code, listed in docs/api.md")
    message = serializers.CharField(help_text="for people")
    detail = serializers.JSONField(allow_null=True)


class ErrorSerializer(serializers.Serializer):
    error = ErrorBodySerializer()


class AppealInputSerializer(serializers.Serializer):
    message = serializers.CharField(max_length=2000)


class AppealOutputSerializer(serializers.ModelSerializer):
    upload = serializers.UUIDField(source="upload_id")

    class Meta:
        model = Appeal
        fields = ["upload", "status", "message", "created_at", "decided_at"]


class WebhookInputSerializer(serializers.Serializer):
    url = serializers.URLField(max_length=500)


class WebhookOutputSerializer(serializers.ModelSerializer):
    """An endpoint as listed: never its secret."""

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
        help_text="JPEG, PNG, WebP, GIF or BMP; animations are judged on every frame a viewer sees."
    )
    external_id = serializers.CharField(required=False, allow_blank=True, default="", max_length=200)
    caption = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)
    declared_category = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        trim_whitespace=True,
        help_text="What the listing shows: a product class (e.g. `Sneaker`) or a taxonomy category (e.g. "
        "`footwear`), matched without regard to case. An image that does not show it gets a "
        "`listing_mismatch` flag. Unknown values: 400 `unknown_declared_category`.",
    )


class TagSerializer(serializers.Serializer):
    label = serializers.CharField()  # type: ignore[assignment]  # a field named like Field.label
    score = serializers.FloatField()


class FlagSerializer(serializers.Serializer):
    kind = serializers.CharField()
    category = serializers.CharField()
    score = serializers.FloatField()
    action = serializers.CharField()
    reason = serializers.CharField()
    frame = serializers.SerializerMethodField(help_text="the animation frame that raised it (null for a still image)")
    timestamp_ms = serializers.SerializerMethodField(help_text="when that frame plays, in ms (null: not played)")

    def get_frame(self, flag) -> int | None:
        return (flag.detail or {}).get("frame")

    def get_timestamp_ms(self, flag) -> int | None:
        return (flag.detail or {}).get("timestamp_ms")


class ModelVersionRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    architecture = serializers.CharField()


class OpenSetSerializer(serializers.Serializer):
    in_distribution = serializers.BooleanField(help_text="false: not the kind of image the product model knows")
    score = serializers.FloatField(help_text="out-of-distribution score (higher: further from every product class)")
    threshold = serializers.FloatField(help_text="scores above this are out of distribution")
    method = serializers.CharField(help_text="how the score is computed (docs/models.md)")
    reason = serializers.CharField(help_text="why tags is empty, for people; empty when in distribution")


class ImageNetTagSerializer(serializers.Serializer):
    name = serializers.CharField()
    score = serializers.FloatField()


# What partners and uploaders read when processing failed; the cause itself
# (an exception's text can name hosts, paths or versions) stays on the row
# for staff, in the admin.
GENERIC_FAILURE_REASON = "The image could not be processed. Try another file, or contact support with the upload id."


class CategorySerializer(serializers.Serializer):
    name = serializers.CharField(help_text="a taxonomy category, e.g. `food and drink`")
    score = serializers.FloatField(help_text="the summed probability of its ImageNet classes")


class UploadOutputSerializer(serializers.ModelSerializer):
    failure_reason = serializers.SerializerMethodField()
    tags = serializers.SerializerMethodField()
    tags_open_set = serializers.SerializerMethodField()
    imagenet_tags = serializers.SerializerMethodField()
    categories = serializers.SerializerMethodField()
    adult_score = serializers.SerializerMethodField()
    flags = serializers.SerializerMethodField()
    verdict = serializers.SerializerMethodField()
    model_version = serializers.SerializerMethodField()
    appeal = serializers.SerializerMethodField()

    class Meta:
        model = Upload
        fields = [
            "id",
            "status",
            "verdict",
            "external_id",
            "caption",
            "declared_category",
            "tags",
            "categories",
            "tags_open_set",
            "imagenet_tags",
            "adult_score",
            "flags",
            "model_version",
            "policy_verdict",
            "failure_reason",
            "image_format",
            "width",
            "height",
            "byte_size",
            "appeal",
            "created_at",
            "verdict_at",
        ]

    def _prediction(self, upload, role: str = "product"):
        return upload.predictions_by_role().get(role)  # prefetched

    def get_tags(self, upload) -> list[dict]:
        """The product classes, best first; empty when the image is not of the
        kind the product model knows (tags_open_set says why)."""
        prediction = self._prediction(upload)
        if prediction is None:
            return []
        tags = [{"label": label, "score": score} for label, score in prediction.tags(5)]
        return list(TagSerializer(tags, many=True).data)

    @extend_schema_field(OpenSetSerializer(allow_null=True))
    def get_tags_open_set(self, upload) -> dict | None:
        """The open-set gate's check of the product tags; null when none was made."""
        prediction = self._prediction(upload)
        if prediction is None or not prediction.open_set:
            return None
        return dict(OpenSetSerializer({**prediction.open_set, "reason": prediction.withheld_reason}).data)

    def get_imagenet_tags(self, upload) -> list[dict]:
        """The top five ImageNet classes, with readable names."""
        prediction = self._prediction(upload, "imagenet")
        if prediction is None:
            return []
        return list(ImageNetTagSerializer([{"name": n, "score": s} for n, s in prediction.top(5)], many=True).data)

    def get_failure_reason(self, upload) -> str:
        """Empty unless processing failed; then a generic message."""
        return GENERIC_FAILURE_REASON if upload.failure_reason else ""

    @extend_schema_field(CategorySerializer(many=True))
    def get_categories(self, upload) -> list[dict]:
        """The top three taxonomy categories of the photo, best first."""
        return list(CategorySerializer([{"name": n, "score": s} for n, s in upload.top_categories], many=True).data)

    def get_adult_score(self, upload) -> float | None:
        prediction = self._prediction(upload, "adult")
        return prediction.score if prediction else None

    def get_flags(self, upload) -> list[dict]:
        return list(FlagSerializer(upload.flags.all(), many=True).data)

    def get_verdict(self, upload) -> str | None:
        """approved / rejected once final, else null."""
        return upload.status if upload.status in ("approved", "rejected") else None

    def get_appeal(self, upload) -> dict | None:
        try:
            appeal = upload.appeal  # select_related by the selectors
        except Appeal.DoesNotExist:
            return None
        return AppealOutputSerializer(appeal).data

    def get_model_version(self, upload) -> dict | None:
        prediction = self._prediction(upload)
        if prediction is None:
            return None
        version = prediction.model_version
        return {"id": version.pk, "name": version.name, "architecture": version.architecture}


class QueueHintSerializer(serializers.Serializer):
    depth = serializers.IntegerField(
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
