from __future__ import annotations

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from classifier.inference import product_heatmap
from moderation.models import Prediction, Upload


def upload_heatmap(*, upload: Upload, prediction: Prediction) -> bytes:
    """The product tag's heat map for an upload, cached in storage per model version."""
    name = f"heatmaps/{upload.pk}-v{prediction.model_version_id}.png"
    if default_storage.exists(name):
        with default_storage.open(name, "rb") as fh:
            return fh.read()
    with upload.image.open("rb") as fh:
        png = product_heatmap(fh.read(), version_id=prediction.model_version_id, label=prediction.label)
    default_storage.save(name, ContentFile(png))
    return png
