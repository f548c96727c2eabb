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


def test_open_nsfw_folded_scores_as_published_with_fewer_operations():
    """The graph the worker runs (per-channel layers folded into the
    convolutions, redundant Casts gone) scores real photos and their
    skin-toned renderings as the published graph does."""
    import collections

    import onnx

    from classifier.ml.nsfw import fold_affine_into_convolutions, model_bytes
    from classifier.ml.quantize import skin_toned

    photos = [Image.fromarray(getattr(data, name)()).convert("RGB") for name in ("coffee", "chelsea", "astronaut")]
    photos += skin_toned(photos)
    published, folded = AdultScorer(fold=False).score_images(photos), AdultScorer().score_images(photos)
    np.testing.assert_allclose(folded, published, atol=1e-5)

    def operations(model: bytes) -> collections.Counter:
        return collections.Counter(node.op_type for node in onnx.load_from_string(model).graph.node)

    before, after = operations(model_bytes()), operations(fold_affine_into_convolutions(model_bytes()))
    assert after["Conv"] == before["Conv"]
    # Each convolution's Add, Sub, Mul and Add are gone, and folding again finds nothing.
    assert sum(before[op] - after[op] for op in ("Add", "Sub", "Mul")) >= 3 * before["Conv"]
    assert after["Cast"] < before["Cast"] // 10
    assert operations(fold_affine_into_convolutions(fold_affine_into_convolutions(model_bytes()))) == after


@pytest.mark.django_db
def test_the_adult_model_runs_beside_the_others_with_the_same_results(photo_models, settings, monkeypatch):
    """INFERENCE_PARALLEL_MODELS: the adult score of a still and of an
    animation's frames is computed in the process's model thread, not the
    caller's, and every figure equals the one-after-the-other analysis."""
    import io
    import threading

    from classifier import inference

    scored_in: list[str] = []
    score_images = AdultScorer.score_images

    def recording(self, images):
        scored_in.append(threading.current_thread().name)
        return score_images(self, images)

    monkeypatch.setattr(AdultScorer, "score_images", recording)
    buffer = io.BytesIO()
    Image.fromarray(data.chelsea()).save(buffer, "JPEG")
    still = buffer.getvalue()
    frames = [
        Image.fromarray(getattr(data, name)()).convert("RGB").resize((300, 200)) for name in ("coffee", "astronaut")
    ]
    buffer = io.BytesIO()
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:], duration=[500, 500], loop=0)
    animation = buffer.getvalue()

    settings.INFERENCE_PARALLEL_MODELS = False
    before = (inference.analyze(still), inference.analyze_frames(animation, max_frames=8))
    assert scored_in and not any(name.startswith("model-beside") for name in scored_in)
    scored_in.clear()
    settings.INFERENCE_PARALLEL_MODELS = True
    after = (inference.analyze(still), inference.analyze_frames(animation, max_frames=8))
    assert len(scored_in) == 2 and all(name.startswith("model-beside") for name in scored_in)
    assert after == before
