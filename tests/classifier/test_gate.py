"""The promotion gate's rule, on figures."""

import pytest

from classifier.ml.gate import GateFigures, gate_decide


def figures(candidate_base, candidate_holdout, *, origin_base=None):
    return GateFigures(
        candidate_base=candidate_base,
        active_base=0.94,
        candidate_holdout=candidate_holdout,
        active_holdout=0.50,
        holdout_size=100,
        margin=0.01,
        origin_base=origin_base,
        origin_name="product-v1",
    )


@pytest.mark.parametrize(
    ("candidate", "promote", "reason"),
    [
        (figures(0.935, 0.80), True, "held-out corrections 0.5000 → 0.8000"),
        (figures(0.925, 0.80), False, "base test accuracy fell 0.0150"),
        (figures(0.95, 0.50), False, "not better on held-out corrections"),
        # Within the margin of the active version, but the line of warm starts
        # has lost more than the margin since it began.
        (figures(0.935, 0.80, origin_base=0.95), False, "0.0150 below product-v1 (0.9500)"),
        (figures(0.935, 0.80, origin_base=0.944), True, "held-out corrections"),
    ],
)
def test_gate(candidate, promote, reason):
    decision = gate_decide(candidate)
    assert decision.promote is promote and reason in decision.reason
    assert decision.as_dict()["origin_base"] == candidate.origin_base


def test_too_few_held_out_corrections_refuse():
    decision = gate_decide(figures(0.95, 0.9), min_holdout=200)
    assert not decision.promote and "too few held-out corrections (100 < 200)" in decision.reason
