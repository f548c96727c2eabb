"""The policy: a verdict follows risk, never a product tag's confidence."""

import pytest

from moderation.models import Verdict
from moderation.policy import ClassThresholds, HashMatch, Signal, decide, listing_signal

T = {
    "Bag": ClassThresholds(approve=0.8, reject=0.9, prohibited=False),
    "Sandal": ClassThresholds(approve=0.8, reject=0.7, prohibited=True),
}
ADULT_LOW = Signal("adult", "adult content", 0.02, review=0.4, reject=0.85, reason="open-nsfw")
WEAPONS_LOW = Signal("prohibited_goods", "weapons", 0.001, review=0.3, reject=0.8, reason="imagenet")


@pytest.mark.parametrize("scores", [{"Bag": 0.35, "Coat": 0.33, "Shirt": 0.32}, {"Bag": 0.99}, {}])
def test_approves_with_no_risk_signal_whatever_the_product_confidence(scores):
    result = decide(scores, T, signals=[ADULT_LOW, WEAPONS_LOW])
    assert result.verdict == Verdict.APPROVE and not result.flags
    assert result.reasons[0] == "no risk signal reached its review threshold"
    assert "adult content: 0.020 < review threshold 0.40" in result.reasons


def test_rejects_prohibited_class_at_its_threshold_even_when_not_top():
    result = decide({"Bag": 0.2, "Sandal": 0.7, "Coat": 0.1}, T)
    assert result.verdict == Verdict.REJECT
    assert [f.category for f in result.flags] == ["Sandal"]


def test_prohibited_top_class_below_reject_goes_to_review():
    result = decide({"Sandal": 0.65, "Bag": 0.35}, T)
    assert result.verdict == Verdict.REVIEW
    assert "prohibited" in result.reasons[0] and result.flags[0].action == "review"


def test_a_risk_that_could_not_be_checked_goes_to_review():
    result = decide(
        {"Bag": 0.99}, T, signals=[WEAPONS_LOW], unchecked=["adult content (no active adult-content model)"]
    )
    assert result.verdict == Verdict.REVIEW
    assert result.reasons == ("not checked: adult content (no active adult-content model)",)


def test_a_signal_at_its_review_threshold_sends_to_review_and_at_reject_rejects():
    at_review = Signal("adult", "adult content", 0.4, review=0.4, reject=0.85, reason="open-nsfw")
    assert decide({"Bag": 0.99}, T, signals=[at_review]).verdict == Verdict.REVIEW
    at_reject = Signal("adult", "adult content", 0.85, review=0.4, reject=0.85, reason="open-nsfw")
    assert decide({"Bag": 0.99}, T, signals=[at_reject]).verdict == Verdict.REJECT
    review_bank = HashMatch("watch", 3, 31, "review")
    assert decide({}, T, matches=[review_bank]).verdict == Verdict.REVIEW


def _mismatch(declared, **kwargs):
    return listing_signal(declared, review=0.5, reject=1.01, **kwargs)


def test_declared_product_class_is_shown_only_as_the_confident_top_class():
    shown = _mismatch("Bag", kind="class", product_label="Bag", product_score=0.85, class_threshold=0.8)
    assert shown.score == 0.0 and decide({"Bag": 0.85}, T, signals=[shown]).verdict == Verdict.APPROVE

    unsure = _mismatch("Bag", kind="class", product_label="Bag", product_score=0.79, class_threshold=0.8)
    other = _mismatch("Bag", kind="class", product_label="Coat", product_score=0.95, class_threshold=0.8)
    unknown_kind = _mismatch(
        "Bag", kind="class", product_label="Bag", product_score=0.99, class_threshold=0.8, in_distribution=False
    )
    for signal, why in (
        (unsure, "0.790 < its threshold 0.80"),
        (other, "top class is 'Coat'"),
        (unknown_kind, "not of a kind the product model knows"),
    ):
        result = decide({"Bag": 0.5}, T, signals=[signal])
        assert result.verdict == Verdict.REVIEW, why
        flag = result.flags[0]
        assert (flag.kind, flag.category, flag.action) == ("listing_mismatch", "listing mismatch", "review")
        assert why in flag.reason and "declared product 'Bag' not shown" in flag.reason


def test_declared_category_is_graded_by_its_score():
    shown = _mismatch("footwear", kind="category", category_score=0.7, source="imagenet-v1")
    assert shown.score == pytest.approx(0.3)
    assert decide({}, T, signals=[shown]).verdict == Verdict.APPROVE
    missing = _mismatch("footwear", kind="category", category_score=0.05, source="imagenet-v1")
    result = decide({}, T, signals=[missing])
    assert result.verdict == Verdict.REVIEW
    assert "declared category 'footwear' (0.050" in result.flags[0].reason and result.flags[0].score == pytest.approx(
        0.95
    )


def test_listing_mismatch_rejects_when_its_reject_threshold_says_so():
    strict = listing_signal("Bag", kind="class", review=0.5, reject=1.0, product_label="Coat", product_score=0.9)
    assert decide({"Coat": 0.9}, T, signals=[strict]).verdict == Verdict.REJECT


def test_explanation_names_thresholds():
    result = decide({"Sandal": 0.65, "Bag": 0.35}, T)
    explanation = result.explanation({"Sandal": T["Sandal"]})
    assert explanation["verdict"] == "review"
    assert explanation["thresholds"]["Sandal"]["reject"] == 0.7
