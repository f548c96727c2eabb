"""Every threshold that decides a verdict on a lead page: leads who are not
staff change them, the service enforces who may, each change is audited, and
the next upload is judged with it."""

from __future__ import annotations

import pytest

from moderation.errors import Forbidden
from moderation.models import AuditEvent, ClassPolicy, FlagCategory, UploadStatus
from moderation.services.thresholds import thresholds_set
from moderation.services.uploads import upload_create
from tests.factories import ModelVersionFactory, _png, analysis, classified

pytestmark = pytest.mark.django_db
URL = "/lead/verdict-thresholds/"


def test_a_lead_who_is_not_staff_changes_a_flag_threshold_and_the_next_upload_follows(client, lead):
    assert not lead.is_staff
    adult = FlagCategory.objects.get(name="adult content")
    ClassPolicy.objects.get_or_create(class_name="Bag")
    client.force_login(lead)
    page = client.get(URL).content.decode()
    assert f'id="flag-{adult.pk}"' in page and "Bag" in page
    for flag in FlagCategory.objects.all():  # every flag category is on the page
        assert flag.name in page
    version = ModelVersionFactory()

    def judged(seed: int) -> str:
        upload = upload_create(data=_png(seed), filename=f"{seed}.png")
        frozen = analysis({"Bag": 0.95, "Coat": 0.05}, version=version, adult=0.3, imagenet=[(414, "backpack", 0.9)])
        judged_upload = classified(upload, frozen)
        return judged_upload.status

    assert adult.review_threshold > 0.3 and judged(1) == UploadStatus.APPROVED
    response = client.post(
        URL, {"row": f"flag-{adult.pk}", "review_threshold": "0.2", "reject_threshold": "", "enabled": "on"}
    )
    assert response.status_code == 302 and response["Location"].endswith(f"#flag-{adult.pk}")
    adult.refresh_from_db()
    assert (adult.review_threshold, adult.reject_threshold, adult.enabled) == (0.2, None, True)
    event = AuditEvent.objects.get(action="class_policy.changed")
    assert event.actor_name == "lead" and event.target_id == str(adult.pk)
    assert event.data["before"]["review_threshold"] != 0.2
    assert judged(2) == UploadStatus.IN_REVIEW  # judged with the new threshold

    policy = ClassPolicy.objects.get(class_name="Bag")
    client.post(
        URL, {"row": f"class-{policy.pk}", "prohibited": "on", "reject_threshold": "0.9", "approve_threshold": "0.8"}
    )
    policy.refresh_from_db()
    assert policy.prohibited and policy.approve_threshold == 0.8
    assert judged(3) == UploadStatus.REJECTED


@pytest.mark.parametrize(
    "values",
    [{"review_threshold": "2"}, {"review_threshold": "0.9", "reject_threshold": "0.5"}, {"review_threshold": "abc"}],
)
def test_a_bad_threshold_is_refused_with_a_message_and_nothing_saved(client, lead, values):
    adult = FlagCategory.objects.get(name="adult content")
    before = (adult.review_threshold, adult.reject_threshold)
    client.force_login(lead)
    response = client.post(URL, {"row": f"flag-{adult.pk}", "enabled": "on", **values}, follow=True)
    page = response.content.decode()
    assert response.status_code == 200 and ("not valid" in page or "a score between 0 and 1 is needed" in page)
    adult.refresh_from_db()
    assert (adult.review_threshold, adult.reject_threshold) == before
    assert not AuditEvent.objects.filter(action="class_policy.changed").exists()


def test_a_moderator_may_not_change_thresholds_on_the_page_or_in_the_service(client, moderator):
    adult = FlagCategory.objects.get(name="adult content")
    client.force_login(moderator)
    assert client.get(URL).status_code == 403
    response = client.post(URL, {"row": f"flag-{adult.pk}", "review_threshold": "0.0", "enabled": "on"})
    assert response.status_code == 403
    with pytest.raises(Forbidden):
        thresholds_set(target=adult, actor=moderator, values={"review_threshold": 0.0})
    assert FlagCategory.objects.get(pk=adult.pk).review_threshold == adult.review_threshold
