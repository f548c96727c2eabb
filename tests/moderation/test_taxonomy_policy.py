"""The taxonomy in the database, the migrated thresholds, and the risk-driven
verdict through the services, on frozen analyses (probability vectors, not a CNN)."""

import pytest

from classifier.ml.taxonomy import CATEGORIES, load_taxonomy
from moderation.errors import InvalidInput
from moderation.models import (
    AuditEvent,
    ClassPolicy,
    FlagCategory,
    ImageNetClass,
    TaxonomyCategory,
    Upload,
    UploadStatus,
)
from moderation.services.taxonomy import declared_category_clean, taxonomy_class_move
from moderation.services.uploads import upload_create
from moderation.services.webhooks import upload_payload
from tests.helpers import fashion_png
from tests.moderation.frozen_analysis import (
    COFFEE_MUG,
    ESPRESSO,
    PLATE,
    REVOLVER,
    SNEAKER,
    TABBY,
    TORN_PRODUCT,
    decided_upload,
    make_versions,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def versions(db):
    return make_versions()


def test_taxonomy_is_loaded_into_the_database_from_the_reviewed_file():
    assert list(TaxonomyCategory.objects.values_list("name", flat=True)) == list(CATEGORIES)
    assert ImageNetClass.objects.count() == 1000
    file_taxonomy = load_taxonomy()
    assert all(file_taxonomy[i] == c for i, c in ImageNetClass.objects.values_list("index", "category__name"))


def test_the_taxonomy_in_service_scores_as_the_pure_function():
    import numpy as np

    from classifier.ml.taxonomy import category_scores
    from moderation.taxonomy import taxonomy_in_service

    probabilities = np.random.default_rng(7).dirichlet(np.full(1000, 0.05)).tolist()
    expected = category_scores(probabilities, load_taxonomy())
    assert taxonomy_in_service().scores(probabilities) == {k: pytest.approx(v, abs=1e-5) for k, v in expected.items()}


def test_prohibited_goods_are_flag_rules_on_taxonomy_categories_with_migrated_thresholds():
    goods = {
        f.name: (f.taxonomy_category.name, f.review_threshold, f.reject_threshold)
        for f in FlagCategory.objects.filter(kind="goods").select_related("taxonomy_category")
    }
    assert goods == {
        "weapons": ("weapons", 0.3, 0.8),
        "alcohol": ("alcohol", 0.4, None),  # None: never rejected automatically
        "drugs and medicine": ("drugs and medicine", 0.4, None),
        "tobacco": ("tobacco", 0.4, None),
    }
    adult = FlagCategory.objects.get(kind="adult")
    assert (adult.review_threshold, adult.reject_threshold) == (0.4, 0.85)
    mismatch = FlagCategory.objects.get(kind="listing_mismatch")
    assert (mismatch.name, mismatch.review_threshold, mismatch.reject_threshold) == ("listing mismatch", 0.5, None)
    # Per-class thresholds stay: they now say when a declared product class is shown.
    assert set(ClassPolicy.objects.values_list("approve_threshold", flat=True)) == {0.9}


def test_a_goods_flag_needs_a_taxonomy_category():
    from django.db import IntegrityError, transaction

    with pytest.raises(IntegrityError), transaction.atomic():
        FlagCategory.objects.create(name="knives", kind="goods", review_threshold=0.3, reject_threshold=0.9)


def test_approved_without_risk_although_the_product_model_is_unsure(versions):
    upload = decided_upload(versions, product=TORN_PRODUCT, imagenet={ESPRESSO: 0.6, PLATE: 0.2, COFFEE_MUG: 0.2})
    assert upload.status == UploadStatus.APPROVED and not upload.flags.exists()
    assert upload.policy_explanation["reasons"][0] == "no risk signal reached its review threshold"
    imagenet = upload.predictions_by_role()["imagenet"]
    assert imagenet.categories["food and drink"] == pytest.approx(0.8)
    assert imagenet.categories["kitchenware"] == pytest.approx(0.2)
    assert upload.top_categories[0] == ("food and drink", pytest.approx(0.8))


def test_goods_flags_use_the_taxonomy_category_score(versions):
    upload = decided_upload(versions, product=TORN_PRODUCT, imagenet={REVOLVER: 0.35, 764: 0.1, TABBY: 0.55})
    flag = upload.flags.get()
    assert (upload.status, flag.kind, flag.category, flag.action) == (
        UploadStatus.IN_REVIEW,
        "prohibited_goods",
        "weapons",
        "review",
    )
    assert flag.score == pytest.approx(0.45) and "revolver 0.350" in flag.reason


def test_a_lead_moves_a_class_and_the_flag_follows_audited(versions, admin_user):
    cat = ImageNetClass.objects.get(index=TABBY)
    weapons = TaxonomyCategory.objects.get(name="weapons")
    taxonomy_class_move(imagenet_class=cat, category=weapons, actor=admin_user)
    event = AuditEvent.objects.get(action="taxonomy.changed")
    assert event.actor == admin_user and event.data == {
        "op": "move",
        "class": "tabby cat",
        "from": "animals",
        "to": "weapons",
    }
    upload = decided_upload(versions, product=TORN_PRODUCT, imagenet={TABBY: 0.9})
    assert upload.flags.get().category == "weapons" and upload.status == UploadStatus.REJECTED  # 0.9 ≥ 0.8


def test_a_missing_risk_model_sends_to_review(versions):
    upload = decided_upload(versions, product={"Bag": 0.99, "Coat": 0.01}, imagenet=None, adult=None)
    assert upload.status == UploadStatus.IN_REVIEW
    assert any(r.startswith("not checked: adult content") for r in upload.policy_explanation["reasons"])


@pytest.mark.parametrize(
    "declared,product,imagenet,flagged",
    [
        ("Bag", {"Bag": 0.95, "Coat": 0.05}, {TABBY: 1.0}, False),  # the product model is sure: shown
        ("Bag", {"Bag": 0.6, "Coat": 0.4}, {TABBY: 1.0}, True),  # top, but under Bag's threshold (0.9)
        ("Sneaker", {"Bag": 0.95, "Sneaker": 0.05}, {TABBY: 1.0}, True),  # another class on top
        ("footwear", TORN_PRODUCT, {SNEAKER: 0.8, TABBY: 0.2}, False),  # the category scores 0.8
        ("footwear", TORN_PRODUCT, {SNEAKER: 0.1, TABBY: 0.9}, True),  # a cat, not shoes
    ],
)
def test_listing_mismatch_on_declared_class_or_category(versions, declared, product, imagenet, flagged):
    upload = decided_upload(versions, declared=declared, product=product, imagenet=imagenet)
    flags = list(upload.flags.filter(kind="listing_mismatch"))
    assert bool(flags) == flagged
    assert upload.status == (UploadStatus.IN_REVIEW if flagged else UploadStatus.APPROVED)
    if flagged:
        assert flags[0].detail["declared"] == declared and flags[0].category == "listing mismatch"


def test_listing_mismatch_when_the_product_model_says_out_of_distribution(versions):
    confident_but_unknown = {"Bag": 0.99, "Coat": 0.01}
    upload = decided_upload(
        versions, declared="Bag", product=confident_but_unknown, imagenet={TABBY: 1.0}, in_distribution=False
    )
    flag = upload.flags.get(kind="listing_mismatch")
    assert "not of a kind the product model knows" in flag.reason


def test_listing_mismatch_thresholds_and_action_are_the_admins(versions):
    FlagCategory.objects.filter(kind="listing_mismatch").update(reject_threshold=1.0)
    upload = decided_upload(versions, declared="Sneaker", product={"Bag": 0.95, "Sneaker": 0.05}, imagenet={TABBY: 1.0})
    assert upload.status == UploadStatus.REJECTED
    FlagCategory.objects.filter(kind="listing_mismatch").update(enabled=False)
    upload = decided_upload(versions, declared="Sneaker", product={"Bag": 0.95, "Sneaker": 0.05}, imagenet={TABBY: 1.0})
    assert upload.status == UploadStatus.APPROVED


def test_declared_category_is_checked_in_the_service():
    assert declared_category_clean("  FOOD AND DRINK ") == "food and drink"
    assert declared_category_clean("sneaker") == "Sneaker" and declared_category_clean("") == ""
    for bad in ("spaceship", "x" * 5000, "Bag\x00"):
        with pytest.raises(InvalidInput) as caught:
            upload_create(data=fashion_png(0)[0], filename="x.png", declared_category=bad)
        assert caught.value.code == "unknown_declared_category"
        assert "footwear" in caught.value.detail["categories"] and "Bag" in caught.value.detail["product_classes"]
    assert not Upload.objects.exists()


def test_webhook_payload_carries_categories_and_the_declared_category(versions):
    upload = decided_upload(
        versions, declared="food and drink", product=TORN_PRODUCT, imagenet={ESPRESSO: 0.6, PLATE: 0.2, COFFEE_MUG: 0.2}
    )
    payload = upload_payload(Upload.objects.get(pk=upload.pk), "upload.decided")["upload"]
    assert payload["declared_category"] == "food and drink"
    assert payload["categories"][0] == {"name": "food and drink", "score": pytest.approx(0.8)}
    assert [c["name"] for c in payload["categories"]] == ["food and drink", "kitchenware", "alcohol"]


def test_the_data_migration_moves_an_admins_goods_classes_into_the_taxonomy():
    """The forward step of the migration, on the current tables, with the old
    per-flag class lists (dropped since) given as they were."""
    import importlib
    from pathlib import Path
    from types import SimpleNamespace

    import moderation.migrations as migrations_package

    [path] = Path(migrations_package.__path__[0]).glob("*_taxonomy_and_risk_policy.py")
    migration = importlib.import_module(f"moderation.migrations.{path.stem}")
    knives = FlagCategory.objects.create(
        name="knives",
        kind="goods",
        review_threshold=0.2,
        reject_threshold=0.9,
        taxonomy_category=TaxonomyCategory.objects.get(name="kitchenware"),
    )
    weapons = FlagCategory.objects.get(name="weapons")
    old_lists = {knives.pk: [499], weapons.pk: [596, 763]}  # cleaver; hatchet and revolver

    class OldMapping:
        class objects:
            @staticmethod
            def filter(category_id):
                return [SimpleNamespace(class_index=i) for i in old_lists.get(category_id, [])]

    models = {
        "ImageNetClassMapping": OldMapping,
        "TaxonomyCategory": TaxonomyCategory,
        "ImageNetClass": ImageNetClass,
        "FlagCategory": FlagCategory,
    }
    apps = SimpleNamespace(get_model=lambda app, name: models[name])
    migration.forwards(apps, SimpleNamespace(connection=SimpleNamespace(vendor="tests")))

    knives.refresh_from_db()
    assert knives.taxonomy_category.name == "knives" and (knives.review_threshold, knives.reject_threshold) == (
        0.2,
        0.9,
    )
    assert ImageNetClass.objects.get(index=499).category.name == "knives"
    hatchet = ImageNetClass.objects.get(index=596)
    assert hatchet.category.name == "weapons" and hatchet.source == "moved by migration 0009: mapped to flag 'weapons'"
    revolver = ImageNetClass.objects.get(index=763)  # already in weapons: left as WordNet placed it
    assert revolver.category.name == "weapons" and revolver.source == "weapon.n.01"
    assert FlagCategory.objects.filter(kind="listing_mismatch").count() == 1 and ImageNetClass.objects.count() == 1000
