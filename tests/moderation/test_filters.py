"""One FilterSet for the upload lists: the partner API and the dashboard's
"My posts" read the same parameters the same way."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.http import QueryDict

from moderation.errors import InvalidInput
from moderation.filters import uploads_filter
from moderation.models import Flag, Upload, UploadStatus
from tests.factories import ModelVersionFactory, PredictionFactory, UploadFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def scene():
    """Three uploads of one person: approved with a T-shirt tag; in review
    with an adult flag; in review with a tag the open-set gate withheld."""
    person = get_user_model().objects.create_user("poster", password="x")
    version = ModelVersionFactory()
    shirt = UploadFactory(status=UploadStatus.APPROVED, uploader=person)
    PredictionFactory(upload=shirt, model_version=version, scores={"T-shirt/top": 0.9, "Shirt": 0.1})
    flagged = UploadFactory(status=UploadStatus.IN_REVIEW, uploader=person)
    PredictionFactory(upload=flagged, model_version=version, scores={"Bag": 0.8, "Shirt": 0.2})
    Flag.objects.create(upload=flagged, kind="adult", category="adult content", score=0.7, reason="r")
    withheld = UploadFactory(status=UploadStatus.IN_REVIEW, uploader=person)
    PredictionFactory(
        upload=withheld,
        model_version=version,
        scores={"T-shirt/top": 0.9, "Shirt": 0.1},
        open_set={"in_distribution": False, "score": 0.9, "threshold": 0.5, "method": "m"},
    )
    return person, shirt, flagged, withheld


def _ids(params: str) -> set:
    return set(uploads_filter(Upload.objects.all(), QueryDict(params)).values_list("pk", flat=True))


def test_each_filter(scene):
    _, shirt, flagged, withheld = scene
    assert _ids("status=approved") == {shirt.pk}
    assert _ids("status=in_review") == {flagged.pk, withheld.pk}
    assert _ids("label=T-shirt/top") == {shirt.pk}  # a withheld tag is no tag
    assert _ids("flag=adult") == _ids("flag=adult content") == {flagged.pk}
    assert _ids("created_after=2999-01-01T00:00:00Z") == set()
    assert _ids("created_before=2999-01-01T00:00:00") == {shirt.pk, flagged.pk, withheld.pk}  # no offset: UTC
    assert _ids("status=&label=") == {shirt.pk, flagged.pk, withheld.pk}  # empty: no filter


@pytest.mark.parametrize(
    "params, bad",
    [
        ("status=nope", "status"),
        ("created_after=yesterday", "created_after"),
        ("created_before=9999-12-31T23:59:59-05:00", "created_before"),
        ("created_after=2026-02-30T00:00:00Z", "created_after"),
        ("label=a%00b", "label"),
    ],
)
def test_a_bad_value_is_invalid_filter_naming_it(params, bad):
    with pytest.raises(InvalidInput) as caught:
        _ids(params)
    assert caught.value.code == "invalid_filter" and bad in caught.value.detail


def test_my_posts_page_filters_with_the_same_filterset(scene, client):
    person, shirt, flagged, withheld = scene
    client.force_login(person)
    page = client.get("/posts/?status=approved")
    assert page.status_code == 200
    shown = {post.pk for post in page.context["posts"]}
    assert shown == {shirt.pk}
    # A page ignores a bad value instead of refusing: the other filters apply.
    page = client.get("/posts/?status=nope&flag=adult")
    assert {post.pk for post in page.context["posts"]} == {flagged.pk}


def test_the_schema_lists_exactly_the_filtersets_filters(api_client):
    from moderation.filters import UploadFilterSet

    schema = api_client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    parameters = {p["name"] for p in schema["paths"]["/api/v1/uploads/"]["get"]["parameters"]}
    assert parameters == set(UploadFilterSet.base_filters) | {"limit", "cursor"}
