"""Issue 28, item 2: an admin action without `permissions=` is open to anyone
who may view the list. A staff user who may only view minted API keys and
rotated webhook secrets. Every action of every registered model is walked
here with a view-only user: none is offered, none runs."""

import pytest
from django.contrib import admin
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth.models import Permission, User
from django.test import RequestFactory
from django.urls import reverse
from django_celery_beat.models import PeriodicTask

from classifier.facade import ModelVersion
from moderation.models import ApiKey, Upload, WebhookDelivery, WebhookEndpoint
from moderation.services.webhooks import webhook_endpoint_create
from tests.factories import ModelVersionFactory, upload_in_review

pytestmark = pytest.mark.django_db


def _base_actions(model_admin) -> list:
    """Every action the admin has before the permission filter: its own and the site's."""
    return list(model_admin._get_base_actions())


def _changelist(model) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")


def _snapshot() -> dict:
    return {model._meta.label: list(model._default_manager.order_by("pk").values()) for model in admin.site._registry}


@pytest.fixture
def view_only_staff(db):
    """Staff, with the view permission of every registered model and nothing else."""
    user = User.objects.create_user("viewer", password="viewer-pass-1", is_staff=True)
    for model in admin.site._registry:
        user.user_permissions.add(
            Permission.objects.get(
                content_type__app_label=model._meta.app_label, codename=f"view_{model._meta.model_name}"
            )
        )
    return User.objects.get(pk=user.pk)  # fresh permission cache


@pytest.fixture
def one_of_each(partner_key):
    """A row for the models whose actions do something: a partner with a key
    and an endpoint, a delivery, a model version, a scheduled task."""
    partner, _ = partner_key()
    endpoint = webhook_endpoint_create(partner=partner, url="http://127.0.0.1:9/hook")
    upload = upload_in_review(partner=partner)
    WebhookDelivery.objects.create(endpoint=endpoint, upload=upload, event="upload.decided", payload={})
    ModelVersionFactory()
    assert ApiKey.objects.exists() and PeriodicTask.objects.exists() and Upload.objects.exists()
    return partner


def test_every_admin_action_declares_the_permission_it_needs():
    undeclared = [
        f"{model._meta.label}.{name}"
        for model, model_admin in admin.site._registry.items()
        for func, name, _ in _base_actions(model_admin)
        if not getattr(func, "allowed_permissions", None)
    ]
    assert undeclared == []


def test_a_view_only_staff_user_is_offered_no_action_on_any_model(client, view_only_staff, one_of_each):
    client.force_login(view_only_staff)
    factory = RequestFactory()
    for model, model_admin in admin.site._registry.items():
        request = factory.get(_changelist(model))
        request.user = view_only_staff
        assert model_admin.get_actions(request) == {}, model._meta.label
        page = client.get(_changelist(model))
        assert page.status_code == 200, model._meta.label
        assert 'name="action"' not in page.content.decode(), model._meta.label


def test_no_action_of_any_model_runs_for_a_view_only_staff_user(client, view_only_staff, one_of_each):
    client.force_login(view_only_staff)
    before = _snapshot()
    secrets = list(WebhookEndpoint.objects.values_list("secret", flat=True))
    tried = 0
    for model, model_admin in admin.site._registry.items():
        pks = [str(pk) for pk in model._default_manager.values_list("pk", flat=True)[:3]]
        for _, name, _ in _base_actions(model_admin):
            tried += 1
            for form in ({"index": "0"}, {}):  # the action bar above and below the list
                response = client.post(
                    _changelist(model), {"action": name, ACTION_CHECKBOX_NAME: pks, "post": "yes", **form}
                )
                assert response.status_code in (200, 302), (model._meta.label, name)
    assert tried >= 10  # the walk reached the actions (new key, rotate, revoke, replay, the tasks', delete)
    assert _snapshot() == before  # no key minted, revoked or rotated, nothing deleted, no audit row
    assert list(WebhookEndpoint.objects.values_list("secret", flat=True)) == secrets


def test_staff_with_the_right_permissions_are_offered_the_key_and_secret_actions(django_user_model):
    staff = django_user_model.objects.create_user("keeper", password="keeper-pass-1", is_staff=True)
    for codename in (
        "view_partner",
        "view_apikey",
        "add_apikey",
        "change_apikey",
        "view_webhookendpoint",
        "change_webhookendpoint",
    ):
        staff.user_permissions.add(Permission.objects.get(content_type__app_label="moderation", codename=codename))
    staff = django_user_model.objects.get(pk=staff.pk)
    request = RequestFactory().get("/admin/")
    request.user = staff
    from moderation.models import Partner

    assert set(admin.site._registry[Partner].get_actions(request)) == {"new_key"}
    assert set(admin.site._registry[ApiKey].get_actions(request)) == {"rotate", "revoke"}
    assert set(admin.site._registry[WebhookEndpoint].get_actions(request)) == {"rotate_secret"}
    assert admin.site._registry[ModelVersion].get_actions(request) == {}
