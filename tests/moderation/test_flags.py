"""Adult, prohibited-goods and hash-bank flags: pure policy, then through the services."""

import pytest

from moderation.models import AuditEvent, BankedHash, Flag, HashBank, UploadStatus, Verdict
from moderation.policy import ClassThresholds, HashMatch, Signal, decide, goods_signal
from moderation.services.banks import bank_hash_add, bank_hash_remove, hash_matches
from moderation.services.uploads import upload_classify, upload_create
from tests.conftest import skimage_jpeg
from tests.factories import UploadFactory, analysis, classified

SAFE_PRODUCT = {"Bag": 0.95, "Coat": 0.05}
T = {"Bag": ClassThresholds(approve=0.9)}
WEAPONS = [(413, "assault rifle"), (763, "revolver"), (764, "rifle")]


def _probabilities(**by_index):
    p = [0.0] * 1000
    for key, value in by_index.items():
        p[int(key.strip("_"))] = value
    return p


def test_goods_signal_sums_mapped_classes():
    signal = goods_signal(
        "weapons", WEAPONS, _probabilities(_763=0.2, _764=0.15, _1=0.6), review=0.3, reject=0.8, source="v1"
    )
    assert signal.score == pytest.approx(0.35)
    assert signal.detail["classes"][0][:2] == [763, "revolver"]
    assert goods_signal("empty", [], _probabilities(), review=0.3, reject=0.8, source="v1") is None


@pytest.mark.parametrize("score,verdict", [(0.1, Verdict.APPROVE), (0.3, Verdict.REVIEW), (0.8, Verdict.REJECT)])
def test_goods_thresholds(score, verdict):
    signal = goods_signal("weapons", WEAPONS, _probabilities(_763=score), review=0.3, reject=0.8, source="v1")
    assert decide(SAFE_PRODUCT, T, signals=[signal]).verdict == verdict


def test_adult_signal_overrides_a_confident_product():
    adult = Signal("adult", "adult content", 0.9, review=0.4, reject=0.85, reason="open-nsfw")
    result = decide(SAFE_PRODUCT, T, signals=[adult])
    assert result.verdict == Verdict.REJECT
    assert result.flags[0].kind == "adult" and "0.900" in result.flags[0].reason


def test_hash_match_actions():
    near = HashMatch("known-bad", 12, 31, "reject", {"entry_id": 5})
    assert decide(SAFE_PRODUCT, T, matches=[near]).verdict == Verdict.REJECT
    review = HashMatch("watch", 12, 31, "review")
    assert decide(SAFE_PRODUCT, T, matches=[review]).verdict == Verdict.REVIEW
    far = HashMatch("known-bad", 40, 31, "reject")
    assert decide(SAFE_PRODUCT, T, matches=[far]).verdict == Verdict.APPROVE


@pytest.mark.django_db
def test_coffee_photo_gets_tags_scores_and_is_explainable(photo_models):
    upload = upload_create(data=skimage_jpeg("coffee"), filename="coffee.jpg")
    upload_classify(upload_id=upload.pk)
    upload.refresh_from_db()
    by_role = upload.predictions_by_role()
    assert set(by_role) == {"product", "imagenet", "adult"}
    assert by_role["imagenet"].label == "espresso"
    assert len(by_role["imagenet"].scores) == 5 and len(bytes(by_role["imagenet"].embedding)) == 1280 * 2
    assert by_role["adult"].score < 0.1
    assert len(upload.pdq_hash) == 64
    assert upload.status in (UploadStatus.APPROVED, UploadStatus.IN_REVIEW)
    names = upload.policy_explanation["models"]
    assert set(map(int, names)) == {p.model_version_id for p in by_role.values()}


@pytest.mark.django_db
def test_banked_image_is_rejected_when_it_comes_back_resized(photo_models, moderator):
    import io

    from PIL import Image

    first = upload_create(data=skimage_jpeg("chelsea"), filename="cat.jpg")
    upload_classify(upload_id=first.pk)
    first.refresh_from_db()
    bank = HashBank.objects.get(name="known-bad")
    entry = bank_hash_add(bank=bank, upload=first, actor=moderator)
    assert AuditEvent.objects.filter(action="bank.hash_added", actor=moderator).exists()

    image = Image.open(io.BytesIO(skimage_jpeg("chelsea")))
    buffer = io.BytesIO()
    image.resize((image.width // 2, image.height // 2)).save(buffer, "JPEG", quality=70)
    again = upload_create(data=buffer.getvalue(), filename="cat-small.jpg")
    upload_classify(upload_id=again.pk)
    again.refresh_from_db()
    assert again.status == UploadStatus.REJECTED
    flag = again.flags.get(kind="hash_match")
    assert flag.detail == {"bank_id": bank.pk, "entry_id": entry.pk} and flag.score <= 31

    other = upload_create(data=skimage_jpeg("coffee"), filename="coffee.jpg")
    upload_classify(upload_id=other.pk)
    assert not Flag.objects.filter(upload=other, kind="hash_match").exists()

    bank_hash_remove(entry=entry, actor=moderator)
    assert not BankedHash.objects.exists() and hash_matches(first.pdq_hash) == []
    assert AuditEvent.objects.filter(action="bank.hash_removed").exists()


@pytest.mark.django_db
def test_weapon_category_flags_with_its_reason(photo_models):
    from moderation.models import FlagCategory, ImageNetClass
    from moderation.services.taxonomy import taxonomy_class_move

    # Move the photo's top class into the weapons category (as a lead would in
    # the admin) to exercise the path with a real score.
    weapons = FlagCategory.objects.get(name="weapons")
    upload = upload_create(data=skimage_jpeg("rocket"), filename="rocket.jpg")
    upload_classify(upload_id=upload.pk)
    top = upload.predictions_by_role()["imagenet"]
    index = photo_models["backbone"].class_names.index(top.label)
    taxonomy_class_move(
        imagenet_class=ImageNetClass.objects.get(index=index), category=weapons.taxonomy_category, actor=None
    )
    weapons.review_threshold, weapons.reject_threshold = 0.01, 1.01
    weapons.save()
    second = upload_create(data=skimage_jpeg("rocket"), filename="rocket2.jpg")
    upload_classify(upload_id=second.pk)
    second.refresh_from_db()
    flag = second.flags.get(kind="prohibited_goods")
    assert second.status == UploadStatus.IN_REVIEW and flag.category == "weapons" and top.label in flag.reason


@pytest.mark.django_db
def test_goods_and_adult_flags_through_the_services_from_a_frozen_analysis():
    from moderation.models import FlagCategory

    weapons = FlagCategory.objects.get(name="weapons")  # revolver (763) is in its taxonomy category
    assert weapons.taxonomy_category.imagenet_classes.filter(index=763).exists()
    weapons.review_threshold, weapons.reject_threshold = 0.3, 0.8
    weapons.save()
    upload = classified(
        UploadFactory(), analysis(SAFE_PRODUCT, imagenet=[(763, "revolver", 0.5), (1, "goldfish", 0.2)])
    )
    flag = upload.flags.get(kind="prohibited_goods")
    assert upload.status == UploadStatus.IN_REVIEW and flag.category == "weapons" and "revolver" in flag.reason
    assert upload.predictions.count() == 2  # product and ImageNet, each tied to its version

    adult = classified(UploadFactory(), analysis(SAFE_PRODUCT, adult=0.97))
    assert adult.status == UploadStatus.REJECTED and adult.flags.get().kind == "adult"
    assert AuditEvent.objects.filter(action="policy.verdict", target_id=str(adult.pk)).exists()
