"""The one representation of an upload that leaves the platform: the partner
API answers it (`GET /api/v1/uploads/{id}/`, lists, the upload's `201`/`202`)
and the webhooks send it (`services.webhooks.upload_payload`).

Every field is typed (for the OpenAPI schema and the clients generated from
it). To add a field to what partners see, add it to `UploadOutputSerializer`
(with `extend_schema_field` on a method field): the API, the webhooks and the
schema follow.

The serializers read the rows the selectors prefetch (`uploads_visible_to`):
no query per upload in a list."""

from __future__ import annotations

from typing import Any

from django.db.models import Prefetch, prefetch_related_objects
from drf_spectacular.drainage import set_override
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from classifier.facade import ModelRole
from moderation.humanize import frame_words
from moderation.models import Appeal, FlagKind, Prediction, Upload, UploadStatus

# The largest width, height or byte size an upload can have fits in 32 bits
# (UPLOAD_MAX_PIXELS, UPLOAD_MAX_BYTES): typed as int32, not as Python's
# unbounded int.
INT32_MAX = 2**31 - 1


def int_schema(*, minimum: int = 0, maximum: int | None = INT32_MAX, nullable: bool = False) -> dict:
    """An integer's OpenAPI schema with its format and bounds (drf-spectacular
    leaves the format out): int32 when it fits, else int64."""
    schema: dict[str, Any] = {"type": "integer", "format": "int32" if maximum is not None else "int64"}
    schema["minimum"] = minimum
    if maximum is not None:
        schema["maximum"] = maximum
    if nullable:
        schema["nullable"] = True
    return schema


class BoundedIntegerField(serializers.IntegerField):
    """A read-only integer with its format and bounds in the schema. (Set in
    __init__: a serializer deep-copies its fields from their arguments.)"""

    def __init__(self, *, minimum: int = 0, maximum: int | None = INT32_MAX, **kwargs) -> None:
        super().__init__(read_only=True, **kwargs)
        set_override(self, "field", int_schema(minimum=minimum, maximum=maximum))


# What partners and uploaders read when processing failed; the cause itself
# (an exception's text can name hosts, paths or versions) stays on the row
# for staff, in the admin.
GENERIC_FAILURE_REASON = "The image could not be processed. Try another file, or contact support with the upload id."

FINAL_VERDICT_STATUSES = (UploadStatus.APPROVED, UploadStatus.REJECTED)


def final_verdict(upload: Upload) -> str | None:
    """`approved` or `rejected` once the verdict is final, else None (the
    upload is pending, in review, appealed or failed)."""
    return str(upload.status) if upload.status in FINAL_VERDICT_STATUSES else None


class AppealOutputSerializer(serializers.ModelSerializer):
    upload = serializers.UUIDField(source="upload_id")

    class Meta:
        model = Appeal
        fields = ["upload", "status", "message", "created_at", "decided_at"]


class TagSerializer(serializers.Serializer):
    label = serializers.CharField(help_text="a product class")  # type: ignore[assignment]  # named like Field.label
    score = serializers.FloatField(min_value=0, max_value=1)


class ImageNetTagSerializer(serializers.Serializer):
    name = serializers.CharField(help_text="an ImageNet class, readable")
    score = serializers.FloatField(min_value=0, max_value=1)


class CategorySerializer(serializers.Serializer):
    name = serializers.CharField(help_text="a taxonomy category, e.g. `food and drink`")
    score = serializers.FloatField(help_text="the summed probability of its ImageNet classes")


class FlagSerializer(serializers.Serializer):
    """A flag as partners and uploaders see it. A hash match says only which
    bank it matched: its Hamming distance and the bank's threshold (on the
    row, and on the review pages) would let an image be nudged step by step
    until it no longer matches."""

    kind = serializers.ChoiceField(choices=FlagKind.choices)
    category = serializers.CharField(help_text="the flag category or taxonomy category that raised it; a bank's name")
    score = serializers.SerializerMethodField(help_text="the model's score; null for a hash match")
    action = serializers.ChoiceField(choices=[("review", "Review"), ("reject", "Reject")])
    reason = serializers.SerializerMethodField(help_text="why, for people")
    frame = serializers.SerializerMethodField(help_text="the animation frame that raised it (null for a still image)")
    timestamp_ms = serializers.SerializerMethodField(help_text="when that frame plays, in ms (null: not played)")

    @extend_schema_field(serializers.FloatField(allow_null=True))
    def get_score(self, flag) -> float | None:
        return None if flag.kind == FlagKind.HASH_MATCH else flag.score

    def get_reason(self, flag) -> str:
        if flag.kind != FlagKind.HASH_MATCH:
            return flag.reason
        detail = flag.detail or {}
        reason = f"matches an entry of bank {flag.category!r}"
        if detail.get("frame") is None:
            return reason
        return f"{frame_words(detail['frame'], detail.get('timestamp_ms'))}: {reason}"

    @extend_schema_field(int_schema(nullable=True))
    def get_frame(self, flag) -> int | None:
        return (flag.detail or {}).get("frame")

    @extend_schema_field(int_schema(nullable=True))
    def get_timestamp_ms(self, flag) -> int | None:
        return (flag.detail or {}).get("timestamp_ms")


class ModelVersionRefSerializer(serializers.Serializer):
    id = BoundedIntegerField(minimum=1, maximum=None)
    name = serializers.CharField()
    architecture = serializers.CharField()


class OpenSetSerializer(serializers.Serializer):
    in_distribution = serializers.BooleanField(help_text="false: not the kind of image the product model knows")
    score = serializers.FloatField(help_text="out-of-distribution score (higher: further from every product class)")
    threshold = serializers.FloatField(help_text="scores above this are out of distribution")
    method = serializers.CharField(help_text="how the score is computed (docs/models.md)")
    reason = serializers.CharField(help_text="why tags is empty, for people; empty when in distribution")


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
    width = BoundedIntegerField(help_text="pixels")
    height = BoundedIntegerField(help_text="pixels")
    byte_size = BoundedIntegerField(help_text="bytes of the file as sent")

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

    def _prediction(self, upload, role: str = ModelRole.PRODUCT):
        return upload.predictions_by_role().get(role)  # prefetched

    @extend_schema_field(TagSerializer(many=True))
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

    @extend_schema_field(ImageNetTagSerializer(many=True))
    def get_imagenet_tags(self, upload) -> list[dict]:
        """The top five ImageNet classes, with readable names."""
        prediction = self._prediction(upload, ModelRole.IMAGENET)
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
        prediction = self._prediction(upload, ModelRole.ADULT)
        return prediction.score if prediction else None

    @extend_schema_field(FlagSerializer(many=True))
    def get_flags(self, upload) -> list[dict]:
        return list(FlagSerializer(upload.flags.all(), many=True).data)

    @extend_schema_field(serializers.ChoiceField(choices=FINAL_VERDICT_STATUSES, allow_null=True))
    def get_verdict(self, upload) -> str | None:
        """approved / rejected once final, else null."""
        return final_verdict(upload)

    @extend_schema_field(AppealOutputSerializer(allow_null=True))
    def get_appeal(self, upload) -> dict | None:
        """The upload's appeal and its outcome; null when it was never appealed."""
        try:
            appeal = upload.appeal  # select_related by the selectors
        except Appeal.DoesNotExist:
            return None
        return dict(AppealOutputSerializer(appeal).data)

    @extend_schema_field(ModelVersionRefSerializer(allow_null=True))
    def get_model_version(self, upload) -> dict | None:
        """The product model version that tagged it; null before analysis."""
        prediction = self._prediction(upload)
        if prediction is None:
            return None
        version = prediction.model_version
        return {"id": version.pk, "name": version.name, "architecture": version.architecture}


def upload_representation(upload: Upload) -> dict[str, Any]:
    """The upload as partners see it, as plain JSON-ready data. Its
    predictions and flags are read once here when the caller did not
    prefetch them (a webhook's upload comes straight from a service)."""
    prefetch_related_objects(
        [upload], Prefetch("predictions", queryset=Prediction.objects.select_related("model_version")), "flags"
    )
    return _plain(UploadOutputSerializer(upload).data)


def _plain(value: Any) -> Any:
    # The serializers answer ReturnDicts and OrderedDicts; a webhook payload is
    # stored in a JSONField and compared by value, so plain dicts and lists.
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value
