"""Custom categories from examples (moderation.services.categories): lead
only, audited examples, a head trained and promoted by the gate, served on the
next upload with its reason, and a backfill that changes nothing decided."""

import numpy as np
import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from classifier.contracts import ImageNetTags
from classifier.models import ModelRole, ModelVersionStatus
from moderation.errors import Forbidden, InvalidInput
from moderation.models import (
    AuditAction,
    AuditEvent,
    CategoryExample,
    Flag,
    FlagKind,
    HeadStatus,
    Prediction,
    Upload,
    UploadStatus,
)
from moderation.services import categories as svc
from tests.factories import ImageAnalysisFactory, ModelVersionFactory, UploadFactory, classified

pytestmark = pytest.mark.django_db

RNG = np.random.default_rng(15)
CENTRE_A, CENTRE_B = RNG.normal(size=1280), RNG.normal(size=1280)


def _vector(kind: str, seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    centre = CENTRE_A if kind == "a" else CENTRE_B
    return (centre + rng.normal(scale=1.2, size=1280)).astype(np.float16).tobytes()


@pytest.fixture
def backbone(db):
    return ModelVersionFactory(
        role=ModelRole.IMAGENET, status=ModelVersionStatus.ACTIVE, class_names=[f"c{i}" for i in range(1000)]
    )


@pytest.fixture
def lead(db):
    user = get_user_model().objects.create_user("lead", password="lead-pass-1")
    user.groups.add(Group.objects.get(name="leads"))
    return get_user_model().objects.get(pk=user.pk)


def _upload(backbone, kind: str, seed: int, status=UploadStatus.APPROVED) -> Upload:
    upload = UploadFactory(status=status)
    Prediction.objects.create(
        upload=upload, model_version=backbone, label="x", score=0.5, scores={}, embedding=_vector(kind, seed)
    )
    return upload


def _taught(lead, backbone, kind="review", n=20):
    category = svc.category_create(actor=lead, name="vape pens", kind=kind, threshold=0.5)
    positives = [_upload(backbone, "a", i) for i in range(n)]
    for i in range(n):
        _upload(backbone, "b", 1000 + i)
    svc.examples_add(actor=lead, category=category, upload_ids=[u.pk for u in positives])
    return category


def _live(lead, category):
    """Train, dry-run and confirm: what a lead does before a head flags anything."""
    head = svc.category_train(category_id=category.pk)
    assert head.status == HeadStatus.ACTIVE, head.gate
    svc.head_dry_run(actor=lead, category=category, days=7)
    svc.category_confirm(actor=lead, category=category, head_id=head.pk)
    svc.forget_category_heads()
    return head


def _analysis(backbone, kind: str, seed: int):
    tags = ImageNetTags(
        top=((0, "c0", 0.5),),
        probabilities=tuple([0.001] * 1000),
        embedding=_vector(kind, seed),
        model_version_id=backbone.pk,
        model_version_name=backbone.name,
    )
    return ImageAnalysisFactory(imagenet=tags)


def test_only_a_lead_teaches_categories(backbone, lead, moderator):
    with pytest.raises(Forbidden):
        svc.category_create(actor=moderator, name="vape pens")
    category = svc.category_create(actor=lead, name="vape pens")
    upload = _upload(backbone, "a", 1)
    with pytest.raises(Forbidden):
        svc.examples_add(actor=moderator, category=category, upload_ids=[upload.pk])
    assert not CategoryExample.objects.exists()


def test_bad_input_is_refused_with_a_code_and_nothing_stored(backbone, lead):
    with pytest.raises(InvalidInput) as bad:
        svc.category_create(actor=lead, name="x", threshold="1.5")
    assert bad.value.code == "invalid_threshold"
    category = svc.category_create(actor=lead, name="vape pens")
    with_embedding = _upload(backbone, "a", 1)
    without = UploadFactory(status=UploadStatus.APPROVED)
    with pytest.raises(InvalidInput) as missing:
        svc.examples_add(actor=lead, category=category, upload_ids=[with_embedding.pk, without.pk])
    assert missing.value.code == "no_embedding"
    assert not CategoryExample.objects.exists()


def test_examples_are_audited_and_a_head_is_trained_and_served(backbone, lead):
    category = _taught(lead, backbone)
    assert AuditEvent.objects.filter(action=AuditAction.CATEGORY_EXAMPLE_ADDED).count() == 20
    head = svc.category_train(category_id=category.pk)
    assert head.status == HeadStatus.ACTIVE, head.gate
    assert head.metrics["positives"] >= 1 and head.metrics["background_negatives"] >= 20
    assert head.metrics["precision"] is not None and head.metrics["curve"]
    # The same examples and background again (before any new upload joins the
    # background): no better, so the gate keeps v1 in service.
    again = svc.category_train(category_id=category.pk)
    assert again.version == 2 and again.status == HeadStatus.REJECTED
    category.refresh_from_db()
    assert category.active_head_id == head.pk
    svc.head_dry_run(actor=lead, category=category, days=7)
    svc.category_confirm(actor=lead, category=category, head_id=head.pk)
    svc.forget_category_heads()

    same_kind = classified(UploadFactory(), _analysis(backbone, "a", 5000))
    flag = Flag.objects.get(upload=same_kind, kind=FlagKind.CUSTOM_CATEGORY)
    assert "category 'vape pens'" in flag.reason and "head v1" in flag.reason
    assert flag.action == "review" and same_kind.status == UploadStatus.IN_REVIEW
    other_kind = classified(UploadFactory(), _analysis(backbone, "b", 6000))
    assert not Flag.objects.filter(upload=other_kind, kind=FlagKind.CUSTOM_CATEGORY).exists()


def test_removing_an_example_is_audited(backbone, lead):
    category = _taught(lead, backbone, n=3)
    example = category.examples.first()
    svc.example_remove(actor=lead, example_id=example.pk)
    assert AuditEvent.objects.filter(action=AuditAction.CATEGORY_EXAMPLE_REMOVED, target_id=str(example.pk)).exists()


def test_train_now_is_audited(backbone, lead):
    category = _taught(lead, backbone, n=3)
    svc.category_train_request(actor=lead, category=category)
    assert AuditEvent.objects.filter(action=AuditAction.CATEGORY_TRAIN_REQUESTED, target_id=str(category.pk)).exists()


def test_backfill_lists_decided_uploads_and_flags_only_undecided_ones(backbone, lead):
    category = _taught(lead, backbone)
    _live(lead, category)
    decided = _upload(backbone, "a", 7000, status=UploadStatus.APPROVED)
    waiting = _upload(backbone, "a", 7001, status=UploadStatus.IN_REVIEW)
    backfill = svc.backfill_start(actor=lead, category=category, days=7)
    backfill = svc.backfill_run(backfill_id=backfill.pk)
    assert backfill.status == "done" and backfill.scanned == backfill.total >= 42
    matched = dict(backfill.matches.values_list("upload_id", "routed"))
    assert matched[decided.pk] is False and matched[waiting.pk] is True
    decided.refresh_from_db()
    assert decided.status == UploadStatus.APPROVED and not decided.flags.exists()
    assert "vape pens" in Flag.objects.get(upload=waiting, kind=FlagKind.CUSTOM_CATEGORY).reason


def test_lead_pages_are_lead_only(client, lead, moderator):
    client.force_login(moderator)
    assert client.get("/lead/categories/").status_code in (302, 403)
    client.force_login(lead)
    response = client.post("/lead/categories/", {"name": "vape pens", "kind": "review", "threshold": "0.8"})
    assert response.status_code == 302
    assert client.get("/lead/categories/vape-pens/").status_code == 200
    assert client.get("/lead/categories/vape-pens/search/").status_code == 200


def test_add_to_category_from_the_review_page_and_the_grid(client, backbone, lead):
    category = svc.category_create(actor=lead, name="vape pens")
    first, second, third = (_upload(backbone, "a", i, status=UploadStatus.IN_REVIEW) for i in range(3))
    client.force_login(lead)
    page = client.get(f"/review/{first.pk}/")
    assert b'id="add-to-category"' in page.content
    response = client.post(
        "/lead/categories/examples/add/",
        {"category": category.pk, "upload": first.pk, "source": "review", "next": f"/review/{first.pk}/"},
    )
    assert response.status_code == 302 and response["Location"] == f"/review/{first.pk}/"
    assert b'id="grid-add-to-category"' in client.get("/review/grid/").content
    client.post(
        "/lead/categories/examples/add/",
        {"category": category.pk, "selected": [second.pk, third.pk], "polarity": "negative", "source": "grid"},
    )
    examples = dict(category.examples.values_list("upload_id", "positive"))
    assert examples == {first.pk: True, second.pk: False, third.pk: False}
    assert set(category.examples.values_list("source", flat=True)) == {"review", "grid"}


def test_a_moderator_sees_no_add_to_category_form(client, backbone, moderator, lead):
    svc.category_create(actor=lead, name="vape pens")
    upload = _upload(backbone, "a", 1, status=UploadStatus.IN_REVIEW)
    client.force_login(moderator)
    assert b"add-to-category" not in client.get(f"/review/{upload.pk}/").content
    assert client.post("/lead/categories/examples/add/", {"upload": upload.pk}).status_code in (302, 403)
    assert not CategoryExample.objects.exists()


def test_import_command_embeds_a_zip_with_the_backbone(photo_models, lead, tmp_path):
    import io
    import zipfile

    from django.core.management import call_command

    from tests.helpers import encode, photo_like

    category = svc.category_create(actor=lead, name="vape pens")
    archive = tmp_path / "examples.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for i in range(3):
            z.writestr(f"img{i}.png", encode(photo_like(seed=i)))
        z.writestr("notes.txt", "not an image")
    out = io.StringIO()
    call_command("category_import", "vape pens", str(archive), "--negative", stdout=out)
    assert "added 3 negative examples" in out.getvalue()
    assert category.examples.filter(positive=False, source="import").count() == 3
    assert AuditEvent.objects.filter(action=AuditAction.CATEGORY_EXAMPLE_ADDED).count() == 3
    example = category.examples.first()
    assert example.backbone_version_id == photo_models["backbone"].pk
    assert np.abs(np.frombuffer(example.embedding, np.float16)).sum() > 0


def test_a_tag_only_category_raises_no_flag_but_tags_the_review_page(client, backbone, lead):
    category = _taught(lead, backbone)
    svc.category_update(
        actor=lead, category=category, description="", kind="tag", threshold=0.5, reject_threshold=None, enabled=True
    )
    _live(lead, category)
    upload = classified(UploadFactory(), _analysis(backbone, "a", 5000))
    assert not Flag.objects.filter(upload=upload, kind=FlagKind.CUSTOM_CATEGORY).exists()
    client.force_login(lead)
    page = client.get(f"/review/{upload.pk}/").content.decode()
    assert 'data-category="vape pens"' in page and "(tag only)" in page


def test_training_waits_for_the_last_change(backbone, lead):
    category = _taught(lead, backbone)
    category.refresh_from_db()
    stale = "2000-01-01T00:00:00+00:00"
    assert svc.category_train_if_settled(category_id=category.pk, stamp=stale) is None
    assert not category.heads.exists()
    head = svc.category_train_if_settled(category_id=category.pk, stamp=category.examples_changed_at.isoformat())
    assert head is not None and head.version == 1


def test_an_import_that_does_not_decode_stores_nothing(client, backbone, lead):
    from django.core.files.uploadedfile import SimpleUploadedFile

    category = svc.category_create(actor=lead, name="vape pens")
    client.force_login(lead)
    response = client.post(
        f"/lead/categories/{category.slug}/import/",
        {"files": [SimpleUploadedFile("a.png", b"not an image", content_type="image/png")]},
        follow=True,
    )
    assert response.status_code == 200 and "a.png is not an image that decodes" in response.content.decode()
    assert not category.examples.exists()


def test_the_admin_creates_a_category_through_the_service(admin_client):
    response = admin_client.post(
        "/admin/moderation/customcategory/add/",
        {
            "name": "vape pens",
            "description": "",
            "kind": "reject",
            "threshold": "0.7",
            "reject_threshold": "0.9",
            "enabled": "on",
            "heads-TOTAL_FORMS": "0",
            "heads-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 302, response.content[:2000]
    category = svc.category_get(name="vape pens")
    assert category.slug == "vape-pens" and category.reject_threshold == 0.9
    assert AuditEvent.objects.filter(action=AuditAction.CATEGORY_CHANGED, target_id=str(category.pk)).exists()


def test_a_backfill_needs_a_head_and_sane_days(backbone, lead):
    from moderation.errors import Conflict

    category = svc.category_create(actor=lead, name="vape pens")
    with pytest.raises(Conflict):
        svc.backfill_start(actor=lead, category=category, days=7)
    with pytest.raises(InvalidInput) as bad:
        svc.backfill_start(actor=lead, category=category, days="lots")
    assert bad.value.code == "invalid_backfill_days"


def test_the_category_page_shows_the_head_figures_and_curve(client, backbone, lead):
    category = _taught(lead, backbone)
    svc.category_train(category_id=category.pk)
    client.force_login(lead)
    page = client.get(f"/lead/categories/{category.slug}/").content.decode()
    assert 'id="active-head">v1<' in page and 'id="pr-curve"' in page and 'id="suggested"' in page
    assert "<polyline points=" in page
    # Readable: both axes named, with ticks from 0 to 1.
    assert ">recall</text>" in page and ">precision</text>" in page
    assert page.count('class="x-tick">') == 5 and page.count('class="y-tick">') == 5
    assert 'class="x-tick">0.5<' in page and 'class="y-tick">1<' in page
    # 20 examples: a handful held out, so the figure says it is uncertain, with intervals and a cross-validated one.
    assert 'id="uncertain"' in page and "95 % interval" in page and "Cross-validated over all" in page
    assert 'id="live-head">none<' in page and 'id="go-live"' in page and 'id="confirm-live"' not in page


def test_the_page_goes_live_through_a_dry_run_and_a_confirmation(client, backbone, lead):
    category = _taught(lead, backbone)
    head = svc.category_train(category_id=category.pk)
    client.force_login(lead)
    url = f"/lead/categories/{category.slug}/"
    # Confirming without a dry run is refused by the service, whatever the form says.
    refused = client.post(f"{url}confirm/", {"head": head.pk}, follow=True).content.decode()
    assert "Run the dry run of this head first" in refused
    assert client.post(f"{url}dry-run/", {"days": "many"}, follow=True).status_code == 200
    client.post(f"{url}dry-run/", {"days": "7"})
    page = client.get(url).content.decode()
    assert 'id="dry-run-result"' in page and 'id="confirm-live"' in page
    done = client.post(f"{url}confirm/", {"head": head.pk}, follow=True).content.decode()
    assert "Head v1 is live" in done and 'id="live-head">v1<' in done and 'id="go-live"' not in done


def test_a_reject_category_reason_reaches_the_api_and_the_webhook(api_client, backbone, lead, partner_key):
    from moderation.models import WebhookDelivery, WebhookEndpoint

    category = _taught(lead, backbone)
    svc.category_update(
        actor=lead, category=category, description="", kind="reject", threshold=0.5, reject_threshold=0.5, enabled=True
    )
    _live(lead, category)
    partner, key = partner_key()
    WebhookEndpoint.objects.create(partner=partner, url="https://partner.example/hook")
    upload = classified(UploadFactory(partner=partner), _analysis(backbone, "a", 5000))
    assert upload.status == UploadStatus.REJECTED
    [delivered] = WebhookDelivery.objects.get(upload=upload).payload["upload"]["flags"]
    assert delivered["kind"] == "custom_category" and "category 'vape pens' (head v1)" in delivered["reason"]
    body = api_client.get(f"/api/v1/uploads/{upload.pk}/", HTTP_AUTHORIZATION=f"Api-Key {key}").json()
    [flag] = body["flags"]
    assert flag["reason"] == delivered["reason"] and "≥ reject threshold 0.50" in flag["reason"]


def test_workers_look_for_new_heads_at_most_every_check_interval(backbone, lead, settings, django_assert_num_queries):
    category = _taught(lead, backbone)
    _live(lead, category)
    settings.CLASSIFIER_VERSION_CHECK_SECONDS = 60
    svc.forget_category_heads()
    analysis = _analysis(backbone, "a", 5000)
    assert svc.custom_category_signals(analysis)[0]
    with django_assert_num_queries(0):
        [signal], _ = svc.custom_category_signals(analysis)
    assert signal.category == "vape pens"


def test_a_new_head_flags_nothing_until_a_lead_confirms_it_after_its_dry_run(backbone, lead, moderator):
    from moderation.errors import Conflict

    category = _taught(lead, backbone)
    head = svc.category_train(category_id=category.pk)
    assert head.status == HeadStatus.ACTIVE
    svc.forget_category_heads()
    waiting = classified(UploadFactory(), _analysis(backbone, "a", 5000))
    assert not Flag.objects.filter(upload=waiting, kind=FlagKind.CUSTOM_CATEGORY).exists()
    with pytest.raises(Conflict) as first:
        svc.category_confirm(actor=lead, category=category, head_id=head.pk)
    assert first.value.code == "dry_run_first"
    with pytest.raises(Forbidden):
        svc.head_dry_run(actor=moderator, category=category, days=7)
    run = svc.head_dry_run(actor=lead, category=category, days=7)
    # 20 examples and the upload above are of the kind; the 20 others are not.
    assert run["head_id"] == head.pk and run["scanned"] == 41 and 18 <= run["flagged"] <= 23
    assert len(run["top"]) == svc.DRY_RUN_SHOWN and run["top"][0]["score"] >= run["top"][-1]["score"]
    assert not Flag.objects.filter(kind=FlagKind.CUSTOM_CATEGORY).exists()  # a dry run flags nothing
    with pytest.raises(Forbidden):
        svc.category_confirm(actor=moderator, category=category, head_id=head.pk)
    with pytest.raises(Conflict) as stale:
        svc.category_confirm(actor=lead, category=category, head_id=head.pk + 1)
    assert stale.value.code == "head_changed"
    svc.category_update(
        actor=lead, category=category, description="", kind="review", threshold=0.6, reject_threshold=None, enabled=True
    )
    with pytest.raises(Conflict) as changed:
        svc.category_confirm(actor=lead, category=category, head_id=head.pk)
    assert changed.value.code == "dry_run_stale"
    svc.head_dry_run(actor=lead, category=category, days=7)
    svc.category_confirm(actor=lead, category=category, head_id=head.pk)
    event = AuditEvent.objects.get(action=AuditAction.CATEGORY_HEAD_CONFIRMED, target_id=str(head.pk))
    assert event.actor == lead and event.data["dry_run"]["scanned"] == 41
    svc.forget_category_heads()
    flagged = classified(UploadFactory(), _analysis(backbone, "a", 5001))
    assert Flag.objects.filter(upload=flagged, kind=FlagKind.CUSTOM_CATEGORY).exists()


def test_a_retrained_head_waits_while_the_live_one_keeps_flagging(backbone, lead, monkeypatch):
    from classifier.ml.gate import GateDecision, GateFigures

    category = _taught(lead, backbone)
    first = _live(lead, category)
    # The gate is tested on its own; here it passes v2, which must still wait.
    passed = GateDecision(True, "better", GateFigures(1.0, 0.9, 1.0, 0.9, 5, 0.02))
    monkeypatch.setattr(svc, "head_gate", lambda candidate, active, confirmed: passed)
    second = svc.category_train(category_id=category.pk)
    category.refresh_from_db()
    assert second.status == HeadStatus.ACTIVE
    assert category.active_head_id == second.pk and category.live_head_id == first.pk
    first.refresh_from_db()
    assert first.status == HeadStatus.ACTIVE  # still live
    svc.forget_category_heads()
    upload = classified(UploadFactory(), _analysis(backbone, "a", 5000))
    assert "head v1" in Flag.objects.get(upload=upload, kind=FlagKind.CUSTOM_CATEGORY).reason
    svc.head_dry_run(actor=lead, category=category, days=7)
    svc.category_confirm(actor=lead, category=category, head_id=second.pk)
    first.refresh_from_db()
    assert first.status == HeadStatus.RETIRED
    svc.forget_category_heads()
    later = classified(UploadFactory(), _analysis(backbone, "a", 5001))
    assert "head v2" in Flag.objects.get(upload=later, kind=FlagKind.CUSTOM_CATEGORY).reason


def test_candidates_are_the_least_sure_and_highest_and_each_mark_retrains_at_once(client, backbone, lead):
    category = _taught(lead, backbone)
    unlabelled = {str(_upload(backbone, "a", 900 + i).pk) for i in range(3)}  # of the kind, no example yet
    first = svc.category_train(category_id=category.pk)
    candidates = svc.category_candidates(category)
    assert len(candidates) == svc.CANDIDATES_SHOWN
    examples = {str(u) for u in category.examples.values_list("upload_id", flat=True)}
    assert not examples & {c.upload_id for c in candidates}
    top = max(candidates, key=lambda c: c.score)
    assert top.upload_id in unlabelled and top.why == "highest" and "unsure" in {c.why for c in candidates}
    client.force_login(lead)
    url = f"/lead/categories/{category.slug}/"
    page = client.get(url).content.decode()
    assert 'id="candidates"' in page and f'data-upload="{top.upload_id}"' in page
    assert "js/category_candidates.js" in page
    assert client.post(f"{url}candidates/", {"upload": top.upload_id, "answer": "maybe"}).status_code == 302
    assert not category.examples.filter(upload_id=top.upload_id).exists()
    done = client.post(f"{url}candidates/", {"upload": top.upload_id, "answer": "yes"}, follow=True).content.decode()
    assert "Retrained in" in done
    example = category.examples.get(upload_id=top.upload_id)
    assert example.positive is True and example.source == "confirm"
    event = AuditEvent.objects.filter(action=AuditAction.CATEGORY_EXAMPLE_ADDED, target_id=str(example.pk)).get()
    assert event.actor == lead and event.data["source"] == "confirm"
    retrained = category.heads.order_by("-version").first()
    assert retrained.version == first.version + 1 and retrained.trigger == "confirmation"
    assert top.upload_id not in {c.upload_id for c in svc.category_candidates(svc.category_get(slug=category.slug))}


def test_a_moderator_cannot_mark_candidates(backbone, lead, moderator):
    category = _taught(lead, backbone)
    svc.category_train(category_id=category.pk)
    [candidate, *_] = svc.category_candidates(category)
    with pytest.raises(Forbidden):
        svc.candidate_mark(actor=moderator, category=category, upload_id=candidate.upload_id, positive=True)
    assert not category.examples.filter(source="confirm").exists()


def test_search_matches_whole_words_and_says_where(client, backbone, lead):
    product = ModelVersionFactory(role=ModelRole.PRODUCT, status=ModelVersionStatus.ACTIVE)
    in_caption = _upload(backbone, "a", 1)
    Upload.objects.filter(pk=in_caption.pk).update(caption="A Dog in the park, sleeping")
    in_name = _upload(backbone, "a", 2)
    Upload.objects.filter(pk=in_name.pk).update(original_filename="my_dog.jpg")
    hotdog = _upload(backbone, "a", 3)
    Upload.objects.filter(pk=hotdog.pk).update(caption="hotdog stand", original_filename="dogs.png")
    by_label = _upload(backbone, "a", 4)
    Prediction.objects.filter(upload=by_label).update(label="dog")
    other_model = _upload(backbone, "a", 5)  # only another model's label says dog
    Prediction.objects.create(upload=other_model, model_version=product, label="dog", score=0.9, scores={})
    hits = {h.upload.pk: h.matches for h in svc.uploads_search(q="dog")}
    assert set(hits) == {in_caption.pk, in_name.pk, by_label.pk}
    [caption] = hits[in_caption.pk]
    assert (caption.field, caption.before, caption.word, caption.after) == (
        "caption",
        "A ",
        "Dog",
        " in the park, sleeping",
    )
    assert [m.field for m in hits[in_name.pk]] == ["file name"] and hits[by_label.pk][0].field == "ImageNet label"
    client.force_login(lead)
    category = svc.category_create(actor=lead, name="dogs")
    page = client.get(f"/lead/categories/{category.slug}/search/", {"q": "dog"}).content.decode()
    assert '<span class="why">caption: A <mark>Dog</mark> in the park, sleeping</span>' in page
    assert str(hotdog.pk) not in page
