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

from django.core.exceptions import ObjectDoesNotExist
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

    def __init__(self, *, minimum: int = 0, maximum: int | None = INT32_MAX, nullable: bool = False, **kwargs) -> None:
        super().__init__(read_only=True, **kwargs)
        set_override(self, "field", int_schema(minimum=minimum, maximum=maximum, nullable=nullable))


# Every score a partner reads is rounded alike: to the 3 decimals the flags'
# reasons and the moderators' pages show. A verdict is taken on the unrounded
# score, so a score shown as 0.900 may lie just under a threshold of 0.90.
SCORE_DECIMALS = 3


def score_round(value: float | None) -> float | None:
    return None if value is None else round(float(value), SCORE_DECIMALS)


class ScoreField(serializers.FloatField):
    """A model's score (or a threshold), rounded to SCORE_DECIMALS."""

    def to_representation(self, value):
        return round(float(value), SCORE_DECIMALS)


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


class ModelVersionRefSerializer(serializers.Serializer):
    id = BoundedIntegerField(minimum=1, maximum=None)
    name = serializers.CharField()
    architecture = serializers.CharField()


class TagSerializer(serializers.Serializer):
    label = serializers.CharField(help_text="a product class")  # type: ignore[assignment]  # named like Field.label
    score = ScoreField(min_value=0, max_value=1)
    model_version = serializers.SerializerMethodField(help_text="the model version that made the tag")

    @extend_schema_field(ModelVersionRefSerializer)
    def get_model_version(self, tag) -> dict:
        return dict(ModelVersionRefSerializer(tag["model_version"]).data)


class ImageNetTagSerializer(serializers.Serializer):
    name = serializers.CharField(help_text="an ImageNet class, readable")
    score = ScoreField(min_value=0, max_value=1)


class CategorySerializer(serializers.Serializer):
    name = serializers.CharField(help_text="a taxonomy category, e.g. `food and drink`")
    score = ScoreField(help_text="the summed probability of its ImageNet classes")


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
        return None if flag.kind == FlagKind.HASH_MATCH else round(float(flag.score), SCORE_DECIMALS)

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


class OpenSetSerializer(serializers.Serializer):
    in_distribution = serializers.BooleanField(help_text="false: not the kind of image the product model knows")
    score = ScoreField(help_text="out-of-distribution score (higher: further from every product class)")
    threshold = ScoreField(help_text="scores above this are out of distribution")
    method = serializers.CharField(help_text="how the score is computed (docs/models.md)")
    reason = serializers.CharField(help_text="why tags is empty, for people; empty when in distribution")
    route = serializers.ChoiceField(
        choices=["studio", "photo"],
        help_text="which model tagged the image: studio (the Fashion-MNIST model, for the product shots it knows) "
        "or photo (the real-photo model, where the open-set gate found the image unlike them)",
    )
    product_mass = ScoreField(
        allow_null=True,
        help_text="route photo: the summed ImageNet probability of things people wear or carry (no product "
        "is shown below the model's minimum); null for route studio",
    )


class TextLineSerializer(serializers.Serializer):
    text = serializers.CharField(help_text="the line as read")
    confidence = serializers.FloatField(min_value=0, max_value=1, help_text="mean probability of its characters")
    box = serializers.ListField(
        child=BoundedIntegerField(),
        min_length=4,
        max_length=4,
        help_text="left, top, right, bottom in the pixels of the image as read (text.width x text.height)",
    )
    angle = serializers.FloatField(help_text="degrees the line is turned, clockwise")
    frame = BoundedIntegerField(
        nullable=True, required=False, help_text="the animation frame it was read on (absent for a still)"
    )


class DecodedCodeSerializer(serializers.Serializer):
    format = serializers.CharField(help_text="QRCode, DataMatrix, EAN13, Code128, ...")
    text = serializers.CharField(help_text="what the code holds, e.g. a URL")
    box = serializers.ListField(child=BoundedIntegerField(minimum=-INT32_MAX), min_length=4, max_length=4)
    frame = BoundedIntegerField(nullable=True, required=False, help_text="the animation frame it was read on")


class UploadTextSerializer(serializers.Serializer):
    lines = TextLineSerializer(many=True)
    codes = DecodedCodeSerializer(many=True, help_text="QR codes and barcodes, decoded")
    width = BoundedIntegerField(help_text="of the image the boxes are in (the upload, shrunk to at most 1280 px)")
    height = BoundedIntegerField()
    cut_short = serializers.BooleanField(help_text="the time limit or the line cap stopped the reading")


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
    text = serializers.SerializerMethodField()
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
            "text",
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

    def _prediction(self, upload, role: str | None = None):
        """The upload's prediction of `role` (prefetched); by default the one that tags its products."""
        return upload.product_prediction if role is None else upload.predictions_by_role().get(role)

    @extend_schema_field(TagSerializer(many=True))
    def get_tags(self, upload) -> list[dict]:
        """The product classes, best first, each with the model version that
        made it; empty when no product is shown (tags_open_set says why)."""
        prediction = self._prediction(upload)
        if prediction is None:
            return []
        version = model_version_ref(prediction.model_version)
        tags = [{"label": label, "score": score, "model_version": version} for label, score in prediction.tags(5)]
        return list(TagSerializer(tags, many=True).data)

    @extend_schema_field(OpenSetSerializer(allow_null=True))
    def get_tags_open_set(self, upload) -> dict | None:
        """The open-set gate's check and route of the product tags; null when none was made."""
        prediction = self._prediction(upload)
        if prediction is None or not prediction.open_set:
            return None
        figures = {"route": "studio", "product_mass": None, **prediction.open_set}
        return dict(OpenSetSerializer({**figures, "reason": prediction.withheld_reason}).data)

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

    @extend_schema_field(serializers.FloatField(allow_null=True))
    def get_adult_score(self, upload) -> float | None:
        prediction = self._prediction(upload, ModelRole.ADULT)
        return score_round(prediction.score) if prediction else None

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

    @extend_schema_field(UploadTextSerializer(allow_null=True))
    def get_text(self, upload) -> dict | None:
        """What the image says: its text lines with boxes and confidence, and
        its decoded QR codes and barcodes; null before analysis or when text
        is not read (TEXT_IN_IMAGES off)."""
        try:
            reading = upload.text_reading  # prefetched by the selectors
        except ObjectDoesNotExist:
            return None
        return dict(UploadTextSerializer(reading).data)

    @extend_schema_field(ModelVersionRefSerializer(allow_null=True))
    def get_model_version(self, upload) -> dict | None:
        """The product model version that tagged it; null before analysis."""
        prediction = self._prediction(upload)
        if prediction is None:
            return None
        return model_version_ref(prediction.model_version)


def model_version_ref(version) -> dict:
    return {"id": version.pk, "name": version.name, "architecture": version.architecture}


def upload_representation(upload: Upload) -> dict[str, Any]:
    """The upload as partners see it, as plain JSON-ready data. Its
    predictions and flags are read once here when the caller did not
    prefetch them (a webhook's upload comes straight from a service)."""
    prefetch_related_objects(
        [upload],
        Prefetch("predictions", queryset=Prediction.objects.select_related("model_version")),
        "flags",
        "text_reading",
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
