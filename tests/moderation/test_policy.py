from moderation.models import Verdict
from moderation.policy import ClassThresholds, decide

T = {
    "Bag": ClassThresholds(approve=0.8, reject=0.9, prohibited=False),
    "Sandal": ClassThresholds(approve=0.8, reject=0.7, prohibited=True),
}


def test_approves_confident_top_class():
    result = decide({"Bag": 0.85, "Sandal": 0.1, "Coat": 0.05}, T)
    assert result.verdict == Verdict.APPROVE
    assert "0.850" in result.reasons[0] and not result.flags


def test_threshold_is_inclusive():
    assert decide({"Bag": 0.8, "Coat": 0.2}, T).verdict == Verdict.APPROVE
    assert decide({"Bag": 0.7999, "Coat": 0.2001}, T).verdict == Verdict.REVIEW


def test_rejects_prohibited_class_at_its_threshold_even_when_not_top():
    result = decide({"Bag": 0.2, "Sandal": 0.7, "Coat": 0.1}, T)
    assert result.verdict == Verdict.REJECT
    assert [f.category for f in result.flags] == ["Sandal"]


def test_prohibited_top_class_below_reject_goes_to_review():
    result = decide({"Sandal": 0.65, "Bag": 0.35}, T)
    assert result.verdict == Verdict.REVIEW
    assert "prohibited" in result.reasons[0]


def test_unknown_class_uses_default_thresholds():
    assert decide({"Coat": 0.95, "Bag": 0.05}, T).verdict == Verdict.APPROVE
    assert decide({"Coat": 0.85, "Bag": 0.15}, T).verdict == Verdict.REVIEW
    assert decide({"Coat": 0.85}, T, default=ClassThresholds(approve=0.5)).verdict == Verdict.APPROVE


def test_no_scores_goes_to_review():
    assert decide({}, T).verdict == Verdict.REVIEW


def test_explanation_names_thresholds():
    result = decide({"Bag": 0.9}, T)
    explanation = result.explanation({"Bag": T["Bag"]})
    assert explanation["verdict"] == "approve"
    assert explanation["thresholds"]["Bag"]["approve"] == 0.8
