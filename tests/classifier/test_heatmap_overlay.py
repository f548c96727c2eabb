"""The heat map reads at a glance: the photo in grey, evidence in strong red
(issue 17: it was a faint wash over the colour photo)."""

import io

import numpy as np
from PIL import Image

from classifier.ml.explain import HEAT_MAX_OPACITY, overlay_png


def test_evidence_is_strong_red_over_a_grey_photo():
    photo = Image.new("RGB", (64, 64), (30, 160, 40))  # a green photo
    heat = np.zeros((64, 64), np.float32)
    heat[:, 32:] = 1.0
    shown = np.asarray(Image.open(io.BytesIO(overlay_png(photo, heat, side=64))).convert("RGB")).astype(int)
    cold, hot = shown[32, 8], shown[32, 56]
    assert abs(cold[0] - cold[1]) <= 2 and abs(cold[1] - cold[2]) <= 2  # no colour where there is no evidence
    assert hot[0] > 180 and hot[1] < 90 and hot[2] < 90  # the top of the scale is plainly red
    assert HEAT_MAX_OPACITY >= 0.85
