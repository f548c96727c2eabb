from rest_framework import serializers

from moderation.models import Upload


class UploadInputSerializer(serializers.Serializer):
    image = serializers.FileField(help_text="JPEG, PNG, WebP, GIF (first frame) or BMP.")
    external_id = serializers.CharField(required=False, allow_blank=True, default="", max_length=200)
    caption = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)


class TagSerializer(serializers.Serializer):
    label = serializers.CharField()
    score = serializers.FloatField()


class FlagSerializer(serializers.Serializer):
    kind = serializers.CharField()
    category = serializers.CharField()
    score = serializers.FloatField()
    reason = serializers.CharField()


class ModelVersionRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    architecture = serializers.CharField()


class UploadOutputSerializer(serializers.ModelSerializer):
    tags = serializers.SerializerMethodField()
    flags = serializers.SerializerMethodField()
    verdict = serializers.SerializerMethodField()
    model_version = serializers.SerializerMethodField()

    class Meta:
        model = Upload
        fields = [
            "id",
            "status",
            "verdict",
            "external_id",
            "caption",
            "tags",
            "flags",
            "model_version",
            "policy_verdict",
            "failure_reason",
            "image_format",
            "width",
            "height",
            "byte_size",
            "created_at",
            "verdict_at",
        ]

    def _prediction(self, upload):
        predictions = list(upload.predictions.all())  # prefetched
        return predictions[0] if predictions else None

    def get_tags(self, upload) -> list[dict]:
        prediction = self._prediction(upload)
        if prediction is None:
            return []
        return TagSerializer([{"label": label, "score": score} for label, score in prediction.top(5)], many=True).data

    def get_flags(self, upload) -> list[dict]:
        return FlagSerializer(upload.flags.all(), many=True).data

    def get_verdict(self, upload) -> str | None:
        """approved / rejected once final, else null."""
        return upload.status if upload.status in ("approved", "rejected") else None

    def get_model_version(self, upload) -> dict | None:
        prediction = self._prediction(upload)
        if prediction is None:
            return None
        version = prediction.model_version
        return {"id": version.pk, "name": version.name, "architecture": version.architecture}
