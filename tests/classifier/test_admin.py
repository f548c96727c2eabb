import pytest
from django.contrib.auth import get_user_model

from classifier.models import ModelVersionStatus
from classifier.registry import active_version, model_version_register
from moderation.models import AuditEvent

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client):
    user = get_user_model().objects.create_superuser("root", "root@example.com", "root-pass-1")
    client.force_login(user)
    return client


def test_version_page_shows_report_and_confusion_matrix(admin_client, active_model):
    page = admin_client.get(f"/admin/classifier/modelversion/{active_model.pk}/change/").content.decode()
    assert "data:image/png;base64," in page
    assert "macro F1" in page and "Ankle boot" in page


def test_promote_and_rollback_actions_are_audited(admin_client, active_model, tiny_trained_model):
    candidate = model_version_register(trained=tiny_trained_model)
    before = AuditEvent.objects.count()
    url = "/admin/classifier/modelversion/"
    admin_client.post(url, {"action": "promote", "_selected_action": [candidate.pk]})
    assert active_version() == candidate
    admin_client.post(url, {"action": "rollback", "_selected_action": [candidate.pk]})
    assert active_version() == active_model
    candidate.refresh_from_db()
    assert candidate.status == ModelVersionStatus.RETIRED
    events = AuditEvent.objects.order_by("pk")[before:]
    assert [(e.actor.username, e.data["name"], e.data["to"]) for e in events] == [
        ("root", active_model.name, "retired"),
        ("root", candidate.name, "active"),
        ("root", candidate.name, "retired"),
        ("root", active_model.name, "active"),
    ]
