"""One way to read an upload's product prediction (Upload.product_prediction)."""

from __future__ import annotations

import pytest

from classifier.facade import ModelRole
from moderation.models import Prediction
from moderation.selectors import upload_for_review
from tests.factories import ModelVersionFactory, PredictionFactory, UploadFactory

pytestmark = pytest.mark.django_db


def test_the_product_prediction_is_the_latest_product_models_row_in_one_query(django_assert_num_queries):
    upload = UploadFactory()
    PredictionFactory(upload=upload, scores={"Bag": 0.9, "Coat": 0.1})
    newer = PredictionFactory(upload=upload, scores={"Coat": 0.8, "Bag": 0.2})
    PredictionFactory(upload=upload, model_version=ModelVersionFactory(role=ModelRole.ADULT), scores={"adult": 0.9})
    with django_assert_num_queries(1):
        assert upload.product_prediction == newer
    assert set(Prediction.objects.product().values_list("pk", flat=True)) == set(
        upload.predictions.exclude(model_version__role=ModelRole.ADULT).values_list("pk", flat=True)
    )
    prefetched = upload_for_review(upload.pk)
    with django_assert_num_queries(0):
        assert prefetched.product_prediction == newer
