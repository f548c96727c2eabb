"""Issue 16, item 9: the record. The audit log is append-only in the database,
keeps who acted after their account is gone, cannot be written in the admin;
every admin change of what steers moderation is an audit row; thresholds are
validated (0 ≤ review ≤ reject ≤ 1, empty reject = never)."""

import pytest
from django.contrib.auth import get_user_model
from django.db import DatabaseError, connection, transaction
from django.forms import MultiWidget

from moderation.models import AuditEvent
from moderation.selectors import audit_csv_rows, audit_search
from moderation.services.audit import audit_record

pytestmark = pytest.mark.django_db


def _refused(sql: str, params: list) -> bool:
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, params)
    except DatabaseError:
        return True
    return False


def test_the_database_refuses_to_rewrite_audit_rows(moderator):
    event = audit_record(actor=moderator, action="review.decided", target_type="upload", target_id="x")
    table = AuditEvent._meta.db_table
    # Below the ORM: what a script with the application's credentials could do.
    assert _refused(f"UPDATE {table} SET action = %s WHERE id = %s", ["upload.created", event.pk])
    assert _refused(f"UPDATE {table} SET actor_name = %s WHERE id = %s", ["someone-else", event.pk])
    assert _refused(f"UPDATE {table} SET actor_id = NULL, target_id = %s WHERE id = %s", ["y", event.pk])
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).update(data={"forged": True})
    event.refresh_from_db()
    assert (event.action, event.actor_name, event.target_id, event.data) == ("review.decided", "mod1", "x", {})


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the DELETE guard is PostgreSQL's (see migration 0007)")
def test_postgresql_refuses_to_delete_audit_rows(moderator):
    event = audit_record(actor=moderator, action="review.decided", target_type="upload", target_id="x")
    assert _refused(f"DELETE FROM {AuditEvent._meta.db_table} WHERE id = %s", [event.pk])
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).delete()
    assert AuditEvent.objects.filter(pk=event.pk).exists()


def test_deleting_a_user_keeps_their_name_on_their_audit_rows():
    user = get_user_model().objects.create_user("leaver", password="leaver-pass-1")
    event = audit_record(actor=user, action="api_key.revoked", target_type="apikey", target_id="7")
    user.delete()  # on_delete=SET_NULL: the one update the database allows
    event.refresh_from_db()
    assert event.actor is None and event.actor_name == "leaver"
    assert " leaver api_key.revoked " in str(event)
    assert [e.pk for e in audit_search(q="leaver")] == [event.pk]
    rows = list(audit_csv_rows(audit_search(q="leaver")))
    assert rows[1].split(",")[1] == "leaver"


# --- the admin ---------------------------------------------------------------


@pytest.fixture
def root(client):
    user = get_user_model().objects.create_superuser("root", "root@example.com", "root-pass-1")
    client.force_login(user)
    return user


def _form_data(response) -> dict:
    """What the admin's change page would post back unchanged: the main form
    and each inline formset with its management form."""
    data = {}

    def add(form):
        for name in form.fields:
            value = form[name].value()
            if value is None or value is False:
                continue
            widget = form.fields[name].widget
            if isinstance(widget, MultiWidget):  # a date and a time, say
                for i, part in enumerate(widget.decompress(value)):
                    data[f"{form.add_prefix(name)}_{i}"] = "" if part is None else str(part)
                continue
            data[form.add_prefix(name)] = (
                "on" if value is True else ([str(v) for v in value] if isinstance(value, list | tuple) else str(value))
            )

    add(response.context["adminform"].form)
    for inline in response.context["inline_admin_formsets"]:
        formset = inline.formset
        add(formset.management_form)
        for form in formset.forms:
            add(form)
    return data


def _events(action: str, obj) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action, target_type=obj._meta.label_lower, target_id=str(obj.pk)))


def test_the_admin_cannot_add_change_or_delete_the_record(client, root, moderator):
    from moderation.models import Decision, Flag
    from moderation.services.uploads import upload_create
    from tests.helpers import fashion_png

    upload = upload_create(data=fashion_png(0)[0], filename="a.png")
    event = audit_record(actor=moderator, action="review.decided", target=upload)
    decision = Decision.objects.create(upload=upload, moderator=moderator, verdict="reject", reason_code="spam")
    flag = Flag.objects.create(upload=upload, kind="adult", category="adult content", score=0.9, reason="model")
    for obj, forged in (
        (event, {"action": "upload.created", "target_type": "x", "target_id": "y"}),
        (decision, {"verdict": "approve", "note": "forged"}),
        (flag, {"kind": "adult", "category": "none", "score": "0", "reason": "forged"}),
    ):
        base = f"/admin/{obj._meta.app_label}/{obj._meta.model_name}/"
        assert client.get(f"{base}add/").status_code == 403
        assert client.post(f"{base}add/", forged).status_code == 403
        assert client.post(f"{base}{obj.pk}/change/", forged).status_code == 403
        assert client.post(f"{base}{obj.pk}/delete/", {"post": "yes"}).status_code == 403
        changelist = client.post(base, {"action": "delete_selected", "_selected_action": [obj.pk], "post": "yes"})
        assert changelist.status_code in (200, 302) and type(obj).objects.filter(pk=obj.pk).exists()
    assert AuditEvent.objects.get(pk=event.pk).action == "review.decided"
    assert Decision.objects.get(pk=decision.pk).verdict == "reject" and Flag.objects.get(pk=flag.pk).reason == "model"


def test_admin_changes_to_partner_limits_api_keys_groups_and_thresholds_are_audited(client, root, partner_key):
    from django.contrib.auth.models import Group

    from moderation.models import ApiKey, FlagCategory

    partner, _ = partner_key()
    url = f"/admin/moderation/partner/{partner.pk}/change/"
    data = _form_data(client.get(url))
    data["daily_quota"] = "999999"
    assert client.post(url, data).status_code == 302
    [event] = _events("admin.changed", partner)
    assert event.actor == root and event.data["fields"] == {"daily_quota": "999999"}
    assert event.data["before"] == {"daily_quota": 10_000}

    key = ApiKey.objects.get(partner=partner)
    url = f"/admin/moderation/apikey/{key.pk}/change/"
    data = _form_data(client.get(url))
    data["name"] = "renamed"
    assert client.post(url, data).status_code == 302
    assert _events("admin.changed", key)[0].data["fields"] == {"name": "renamed"}

    user = get_user_model().objects.create_user("newbie", password="newbie-pass-1")
    url = f"/admin/auth/user/{user.pk}/change/"
    data = _form_data(client.get(url))
    data["groups"] = [str(Group.objects.get(name="leads").pk)]
    assert client.post(url, data).status_code == 302
    assert list(user.groups.values_list("name", flat=True)) == ["leads"]
    [event] = _events("admin.changed", user)
    assert event.data["fields"]["groups"] == ["leads"] and event.data["before"]["groups"] == []
    # A password set in the admin is recorded as changed, never as a value.
    response = client.post(
        f"/admin/auth/user/{user.pk}/password/",
        {"password1": "S3cret-new-pass!", "password2": "S3cret-new-pass!", "usable_password": "true"},
    )
    assert response.status_code == 302
    assert len(_events("admin.changed", user)) == 2
    response = client.post(
        "/admin/auth/user/add/",
        {
            "username": "fresh",
            "password1": "S3cret-fresh-pass!",
            "password2": "S3cret-fresh-pass!",
            "usable_password": "true",
        },
    )
    assert response.status_code == 302
    fresh = get_user_model().objects.get(username="fresh")
    [created] = _events("admin.changed", fresh)
    assert created.data["op"] == "create" and created.data["fields"]["username"] == "fresh"
    assert "S3cret" not in str([e.data for e in AuditEvent.objects.all()])

    group = Group.objects.get(name="moderators")
    url = f"/admin/auth/group/{group.pk}/change/"
    data = _form_data(client.get(url))
    data["permissions"] = []
    assert client.post(url, data).status_code == 302
    assert _events("admin.changed", group)[0].data["fields"] == {"permissions": []}

    category = FlagCategory.objects.get(name="weapons")
    url = f"/admin/moderation/flagcategory/{category.pk}/change/"
    data = _form_data(client.get(url))
    data["review_threshold"] = "0.5"
    assert client.post(url, data).status_code == 302
    [event] = _events("class_policy.changed", category)
    assert event.data["fields"] == {"review_threshold": "0.5"} and event.data["before"] == {"review_threshold": 0.3}


def test_imagenet_mapping_changes_in_the_admin_are_audited(client, root):
    from moderation import models

    if not hasattr(models, "ImageNetClassMapping"):
        pytest.skip("the taxonomy's ImageNetClass admin moves classes through taxonomy_class_move (audited)")
    category = models.FlagCategory.objects.get(name="weapons")
    url = f"/admin/moderation/flagcategory/{category.pk}/change/"
    data = _form_data(client.get(url))
    data["imagenet_classes-0-DELETE"] = "on"  # one ImageNet class leaves the mapping
    assert client.post(url, data).status_code == 302
    [event] = AuditEvent.objects.filter(target_type="moderation.imagenetclassmapping")
    assert event.action == "class_policy.changed" and event.data["op"] == "delete" and event.actor == root


def test_webhook_url_edits_in_the_admin_are_validated_and_audited(client, root, partner_key, settings):
    from moderation.models import WebhookEndpoint
    from moderation.services.webhooks import webhook_endpoint_create

    partner, _ = partner_key()
    endpoint = webhook_endpoint_create(partner=partner, url="http://93.184.215.14/hook")
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = False
    url = f"/admin/moderation/partner/{partner.pk}/change/"
    data = _form_data(client.get(url))
    prefix = next(k for k, v in data.items() if v == "http://93.184.215.14/hook").rsplit("-", 1)[0]
    data[f"{prefix}-url"] = "http://127.0.0.1:6379/"
    response = client.post(url, data)
    assert response.status_code == 200 and "resolves to a refused address" in response.content.decode()
    assert WebhookEndpoint.objects.get(pk=endpoint.pk).url == "http://93.184.215.14/hook"

    data[f"{prefix}-url"] = "http://93.184.215.15/hook"
    assert client.post(url, data).status_code == 302
    assert WebhookEndpoint.objects.get(pk=endpoint.pk).url == "http://93.184.215.15/hook"
    [event] = [e for e in _events("webhook.changed", endpoint) if e.data["op"] == "change"]
    assert event.actor == root and event.data["url"] == {
        "from": "http://93.184.215.14/hook",
        "to": "http://93.184.215.15/hook",
    }


def test_training_examples_cannot_be_edited_in_the_admin(client, root):
    from classifier.models import TrainingExample

    example = TrainingExample.objects.create(
        image_name="x.png", label="Bag", source="correction", reference="upload:1", holdout=True
    )
    base = "/admin/classifier/trainingexample/"
    assert client.post(f"{base}{example.pk}/change/", {"label": "Sneaker", "holdout": ""}).status_code == 403
    assert client.post(f"{base}{example.pk}/delete/", {"post": "yes"}).status_code == 403
    example.refresh_from_db()
    assert (example.label, example.holdout) == ("Bag", True)


# --- thresholds --------------------------------------------------------------


def test_thresholds_out_of_range_or_crossed_are_refused_everywhere(client, root):
    from django.core.exceptions import ValidationError

    from moderation.errors import InvalidInput
    from moderation.models import ClassPolicy, FlagCategory
    from moderation.services.thresholds import thresholds_set

    adult = FlagCategory.objects.get(name="adult content")
    bad = [
        {"review_threshold": -1.0},
        {"review_threshold": 0.9, "reject_threshold": 0.5},
        {"reject_threshold": 1.5},
        {"review_threshold": float("nan")},
    ]
    for values in bad:
        # The model ...
        candidate = FlagCategory.objects.get(pk=adult.pk)
        for name, value in values.items():
            setattr(candidate, name, value)
        with pytest.raises(ValidationError):
            candidate.full_clean()
        # ... the service ...
        with pytest.raises(InvalidInput) as refused:
            thresholds_set(target=adult, actor=root, values=values)
        assert refused.value.code == "invalid_threshold"
    # ... and the admin (its change form and its list of editable rows).
    url = f"/admin/moderation/flagcategory/{adult.pk}/change/"
    data = _form_data(client.get(url))
    data["review_threshold"] = "-1"
    assert client.post(url, data).status_code == 200
    data["review_threshold"], data["reject_threshold"] = "0.9", "0.5"
    assert client.post(url, data).status_code == 200
    policy = ClassPolicy.objects.get(class_name="Bag")
    assert (
        client.post(
            f"/admin/moderation/classpolicy/{policy.pk}/change/",
            {"class_name": "Bag", "approve_threshold": "-1", "reject_threshold": "0.9"},
        ).status_code
        == 200
    )
    adult.refresh_from_db()
    assert (adult.review_threshold, adult.reject_threshold) == (0.4, 0.85)
    assert ClassPolicy.objects.get(pk=policy.pk).approve_threshold == 0.9
    assert not AuditEvent.objects.filter(action="class_policy.changed").exists()

    # "Never" is explicit: an empty reject threshold.
    thresholds_set(target=adult, actor=root, values={"review_threshold": 0.3, "reject_threshold": None})
    adult.refresh_from_db()
    assert (adult.review_threshold, adult.reject_threshold) == (0.3, None)
    assert AuditEvent.objects.get(action="class_policy.changed").data["before"] == {
        "review_threshold": 0.4,
        "reject_threshold": 0.85,
    }


def test_calibration_cannot_apply_a_threshold_out_of_range(root):
    from moderation.calibration import ClassCalibration
    from moderation.errors import InvalidInput
    from moderation.models import ClassPolicy
    from moderation.services.thresholds import thresholds_apply

    bad = ClassCalibration(
        "Bag", current=0.9, reviewed=40, proposed=-1.0, precision=1.0, coverage=1.0, error_rate=0.0, note="forged"
    )
    with pytest.raises(InvalidInput):
        thresholds_apply(actor=root, proposals=[bad])
    assert ClassPolicy.objects.get(class_name="Bag").approve_threshold == 0.9


def test_an_empty_reject_threshold_never_rejects():
    from moderation.policy import ClassThresholds, Signal, decide

    signal = Signal("adult", "adult content", 1.0, review=0.4, reject=None, reason="model")
    assert decide({"Bag": 0.99}, {}, signals=[signal]).verdict == "review"
    never = {"Bag": ClassThresholds(approve=0.9, reject=None, prohibited=True)}
    result = decide({"Bag": 1.0}, never)
    assert result.verdict == "review" and "never rejected automatically" in result.reasons[0]
