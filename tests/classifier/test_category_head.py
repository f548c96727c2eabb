"""The custom-category head (classifier.ml.category_head): plain numpy, no Django."""

import numpy as np
import pytest

from classifier.ml.category_head import (
    Head,
    HeadSet,
    evaluate,
    fit_and_evaluate,
    head_gate,
    in_holdout,
    split_holdout,
    train_head,
)


def _clusters(n_pos: int, n_neg: int, seed: int = 0, width: int = 1280):
    rng = np.random.default_rng(seed)
    centre_pos, centre_neg = rng.normal(size=width), rng.normal(size=width)
    pos = centre_pos + rng.normal(scale=1.5, size=(n_pos, width))
    neg = centre_neg + rng.normal(scale=1.5, size=(n_neg, width))
    x = np.concatenate([pos, neg]).astype(np.float32)
    y = np.array([1] * n_pos + [0] * n_neg, np.int8)
    return x, y


def test_head_separates_two_clusters_and_survives_bytes():
    x, y = _clusters(20, 60)
    head = train_head(x, y, backbone_version_id=7)
    scores = head.scores(x)
    assert scores[y == 1].min() > 0.5 > scores[y == 0].max()
    again = Head.from_bytes(head.to_bytes())
    assert again.backbone_version_id == 7
    np.testing.assert_allclose(again.scores(x), scores, rtol=1e-5)


def test_head_needs_both_classes():
    x, y = _clusters(5, 0)
    with pytest.raises(ValueError):
        train_head(x, y)


def test_holdout_is_stable_and_keeps_both_classes():
    keys = [f"upload:{i}" for i in range(40)]
    labels = np.array([1] * 20 + [0] * 20)
    mask = split_holdout(keys, labels)
    assert (mask == split_holdout(keys, labels)).all()
    assert mask[:20].any() and not mask[:20].all() and mask[20:].any()
    assert in_holdout("a") == in_holdout("a")


def test_evaluate_counts_precision_recall_and_curve():
    ev = evaluate(np.array([0.9, 0.8, 0.4, 0.7, 0.1]), np.array([1, 1, 1, 0, 0]), 0.75)
    assert ev.precision == 1.0 and ev.recall == pytest.approx(2 / 3)
    assert [round(p, 3) for _, p, _ in ev.curve][:4] == [1.0, 1.0, 0.667, 0.75]
    assert ev.average_precision == pytest.approx((1 + 1 + 0.75) / 3)


def test_fit_and_gate_first_head_then_a_better_one():
    x, y = _clusters(20, 60, seed=1)
    keys = [f"k{i}" for i in range(len(y))]
    trained, holdout = fit_and_evaluate(x, y, keys, threshold=0.5)
    assert holdout.any() and trained.evaluation.positives >= 1
    first = head_gate(trained.evaluation, None)
    assert first.promote, first.reason
    # A head no better than the one in service is not promoted.
    same = head_gate(trained.evaluation, trained.evaluation)
    assert not same.promote and "not better" in same.reason
    worse = evaluate(np.zeros(int(holdout.sum())), y[holdout], 0.5)
    assert head_gate(trained.evaluation, worse).promote


def test_headset_scores_every_category_and_skips_other_backbones():
    x, y = _clusters(10, 10, seed=2)
    a = train_head(x, y, backbone_version_id=1)
    b = train_head(x, 1 - y, backbone_version_id=2)
    heads = HeadSet.stack([(10, a), (11, b)])
    out = heads.scores(x[:3], backbone_version_id=1)
    assert out.shape == (3, 2)
    np.testing.assert_allclose(out[:, 0], a.scores(x[:3]), rtol=1e-5)
    assert np.isnan(out[:, 1]).all()


def test_suggested_threshold_is_the_lowest_reaching_the_target_precision():
    from classifier.ml.category_head import suggest_threshold

    ev = evaluate(np.array([0.9, 0.8, 0.7, 0.6, 0.3]), np.array([1, 1, 0, 1, 0]), 0.5)
    assert suggest_threshold(ev.curve, 0.75) == pytest.approx(0.6)
    assert suggest_threshold(ev.curve, 1.0) == pytest.approx(0.8)
    assert suggest_threshold([], 0.9) is None


def _common_in_background(seed: int = 3, width: int = 1280):
    """20 positives, and 300 background uploads of which 45 (15 %) are of the
    category too: the issue-31 case of dogs among recent photos."""
    rng = np.random.default_rng(seed)
    centre_pos, centre_neg = rng.normal(size=width), rng.normal(size=width)
    pos = centre_pos + rng.normal(scale=2.0, size=(65, width))
    neg = centre_neg + rng.normal(scale=2.0, size=(255, width))
    x = np.concatenate([pos, neg]).astype(np.float32)
    y = np.array([1] * 20 + [0] * 300, np.int8)
    background = np.array([False] * 20 + [True] * 300)
    truth = np.array([1] * 65 + [0] * 255, np.int8)
    return x, y, background, truth


def test_background_uploads_like_the_positives_are_left_out_not_taught_as_negatives():
    from classifier.ml.category_head import background_weights

    x, y, background, truth = _common_in_background()
    weights = background_weights(x, y, background)
    assert (weights[:20] == 1).all()  # a lead's examples always count
    hidden = background & (truth == 1)
    assert (weights[hidden] == 0).mean() >= 0.8
    assert (weights[background & (truth == 0)] == 1).mean() >= 0.95
    # Left out, the category's own uploads score as the category; taught as negatives, they do not.
    taught = train_head(x, y, weights=weights).scores(x[hidden])
    naive = train_head(x, y).scores(x[hidden])
    assert np.median(taught) > 0.5 > np.median(naive)


def test_fit_and_evaluate_reports_what_it_left_out_and_a_cross_validated_figure():
    x, y, background, _ = _common_in_background(seed=4)
    keys = [f"k{i}" for i in range(len(y))]
    trained, _ = fit_and_evaluate(x, y, keys, threshold=0.5, background=background)
    assert trained.left_out >= 20
    assert trained.cross_validated is not None and trained.cross_validated.positives == 20
    plain, _ = fit_and_evaluate(x, y, keys, threshold=0.5)
    assert plain.left_out == 0


def test_wilson_interval_and_the_uncertain_mark():
    from classifier.ml.category_head import wilson

    assert wilson(0, 0) is None
    low, high = wilson(2, 3)
    assert 0.15 < low < 0.667 < high < 0.95
    narrow = wilson(200, 300)
    assert narrow[1] - narrow[0] < high - low
    few = evaluate(np.array([0.9, 0.8, 0.2]), np.array([1, 0, 1]), 0.5).as_dict()
    assert few["uncertain"] and few["precision_interval"] == wilson(1, 2) and few["recall_interval"] == wilson(1, 2)


def test_candidates_alternate_least_sure_and_highest():
    from classifier.ml.category_head import candidates

    scores = np.array([0.1, 0.52, 0.99, 0.3, 0.95, 0.47])
    assert candidates(scores, 0.5, 4) == [1, 2, 5, 4]
    assert candidates(scores, 0.5, 1) == [1]
    assert len(candidates(scores, 0.5, 10)) == 6


def test_after_a_confirmation_a_head_no_worse_on_held_out_takes_over():
    x, y = _clusters(20, 60, seed=1)
    keys = [f"k{i}" for i in range(len(y))]
    trained, _ = fit_and_evaluate(x, y, keys, threshold=0.5)
    tie = head_gate(trained.evaluation, trained.evaluation)
    assert not tie.promote and "held-out F1" in tie.reason and "corrections" not in tie.reason
    confirmed = head_gate(trained.evaluation, trained.evaluation, confirmed=True)
    assert confirmed.promote and "confirmations" in confirmed.reason
    worse = evaluate(np.zeros(int(split_holdout(keys, y).sum())), y[split_holdout(keys, y)], 0.5)
    assert not head_gate(worse, trained.evaluation, confirmed=True).promote


def test_auc_and_a_first_head_passes_on_it_when_the_background_hides_positives():
    # 3 held-out positives; 60 background uploads of which 9 are of the category too (scored highest).
    scores = np.array([0.9, 0.85, 0.6] + [0.95] * 9 + [0.1] * 51)
    labels = np.array([1, 1, 1] + [0] * 60)
    ev = evaluate(scores, labels, 0.5)
    assert ev.average_precision < 0.5 and ev.auc == pytest.approx((3 * 51) / (3 * 60))
    decision = head_gate(ev, None)
    assert decision.promote and "AUC" in decision.reason
    guessing = evaluate(np.random.default_rng(0).random(90), np.array([1] * 30 + [0] * 60), 0.5)  # knows nothing
    assert 0.4 < guessing.auc < 0.65 and not head_gate(guessing, None).promote
    assert evaluate(np.full(63, 0.5), labels, 0.5).auc == pytest.approx(0.5)  # ties share their rank
