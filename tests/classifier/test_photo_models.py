import pytest
from PIL import Image
from skimage import data

from classifier.ml.hashing import hamming_distances, pdq_hash, to_words
from classifier.ml.nsfw import AdultScorer

SAMPLES = [
    "coffee",
    "astronaut",
    "chelsea",
    "rocket",
    "motorcycle_left" if hasattr(data, "motorcycle_left") else "camera",
]


def _photo(name: str) -> Image.Image:
    return Image.fromarray(getattr(data, name)()).convert("RGB")


def test_adult_model_loads_offline_and_scores_sample_photos_as_safe():
    scorer = AdultScorer()
    scores = scorer.score_images([_photo(name) for name in ["coffee", "astronaut", "chelsea", "rocket"]])
    assert scores.shape == (4,)
    assert (scores < 0.2).all(), scores


def _distance(a: Image.Image, b: Image.Image) -> int:
    return int(hamming_distances(pdq_hash(a)[0], to_words([pdq_hash(b)[0]]))[0])


@pytest.mark.parametrize("name", ["coffee", "chelsea", "astronaut"])
def test_pdq_survives_reencoding_resizing_and_slight_crops(name):
    import io

    original = _photo(name)
    buffer = io.BytesIO()
    original.save(buffer, "JPEG", quality=60)
    reencoded = Image.open(io.BytesIO(buffer.getvalue()))
    resized = original.resize((original.width // 3, original.height // 3))
    w, h = original.size
    # PDQ tolerates slight crops only: 1 % off each side stays near 20 bits
    # apart, 2 % already near 40 (measured on these photos).
    cropped = original.crop((int(w * 0.01), int(h * 0.01), int(w * 0.99), int(h * 0.99)))
    for variant in (reencoded, resized, cropped):
        assert _distance(original, variant) <= 31


def test_pdq_keeps_unrelated_photos_apart():
    names = ["coffee", "chelsea", "astronaut", "rocket", "camera"]
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            assert _distance(_photo(a), _photo(b)) > 31, (a, b)
