"""Batches through the serving runtimes: the same scores whatever the batch
sizes and their order, with an interpreter kept per recent batch size, and
Open-NSFW run a few images at a time."""

import numpy as np
import pytest
from PIL import Image
from skimage import data

from classifier.ml.nsfw import AdultScorer
from classifier.ml.runtime import LiteModel


@pytest.mark.tf
def test_lite_model_keeps_an_interpreter_per_recent_batch_size(tiny_trained_model):
    rng = np.random.default_rng(0)
    shape = LiteModel(tiny_trained_model.tflite_bytes).input_shape
    frames, still = rng.random((8, *shape), dtype=np.float32), rng.random((1, *shape), dtype=np.float32)
    expected = {8: LiteModel(tiny_trained_model.tflite_bytes).predict(frames)}
    expected[1] = LiteModel(tiny_trained_model.tflite_bytes).predict(still)

    kept = LiteModel(tiny_trained_model.tflite_bytes, batch_sizes_kept=2)
    resized = LiteModel(tiny_trained_model.tflite_bytes, batch_sizes_kept=1)
    for model in (kept, resized):
        for batch in (still, frames, still, frames, frames[:3], still):
            np.testing.assert_allclose(
                model.predict(batch), expected[len(batch)] if len(batch) != 3 else expected[8][:3], atol=1e-5
            )
    assert sorted(kept._by_size) == [1, 3]  # the two most recent sizes
    assert list(resized._by_size) == [1]


def test_open_nsfw_scores_the_same_run_one_by_one_or_as_a_batch():
    photos = [Image.fromarray(getattr(data, name)()).convert("RGB") for name in ("coffee", "chelsea", "astronaut")]
    whole = AdultScorer(max_batch=0).score_images(photos)
    one_by_one = AdultScorer(max_batch=1).score_images(photos)
    in_twos = AdultScorer(max_batch=2).score_images(photos)
    assert whole.shape == one_by_one.shape == in_twos.shape == (3,)
    np.testing.assert_allclose(one_by_one, whole, atol=1e-4)
    np.testing.assert_allclose(in_twos, whole, atol=1e-4)
