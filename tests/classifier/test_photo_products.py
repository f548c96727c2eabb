"""The real-photo product model's head (classifier.ml.photo_products): plain numpy,
on synthetic backbone outputs whose meaning the tests control."""

from __future__ import annotations

import numpy as np
import pytest

from classifier.ml.photo_products import (
    CLASS_NAMES,
    IMAGENET_GROUPS,
    MIN_PRODUCT_MASS,
    NO_PRODUCT,
    PRODUCT_KINDS,
    PhotoHead,
    accuracy,
    fit_head,
    group_index,
    product_class_mask,
    seed_photos,
)
from classifier.ml.taxonomy import default_taxonomy

RUNNING_SHOE, JEANS, GOLDEN_RETRIEVER, WINDSOR_TIE = 770, 608, 207, 906
rng = np.random.default_rng(0)


def imagenet_output(peaks: dict[int, float]) -> np.ndarray:
    """A probability vector with the given classes' mass, the rest spread thin."""
    probs = np.full(1000, (1.0 - sum(peaks.values())) / (1000 - len(peaks)))
    for k, p in peaks.items():
        probs[k] = p
    return probs


def embedding(direction: int, noise: float = 0.1) -> np.ndarray:
    e = rng.random(1280) * noise
    e[direction] += 1.0
    return e


def untrained_head() -> PhotoHead:
    """The head with a zero residual: ImageNet's own grouping and nothing else."""
    return PhotoHead(
        weights=np.zeros((1280, len(CLASS_NAMES))),
        bias=np.zeros(len(CLASS_NAMES)),
        offset_scale=1.0,
        groups=group_index(),
        product_mask=product_class_mask(),
    )


def test_the_vocabulary_keeps_the_seed_classes_first_and_ends_with_no_product():
    from classifier.ml.datasets import FASHION_MNIST_CLASSES

    assert CLASS_NAMES[: len(FASHION_MNIST_CLASSES)] == tuple(FASHION_MNIST_CLASSES)
    assert CLASS_NAMES[-1] == NO_PRODUCT and NO_PRODUCT not in PRODUCT_KINDS
    assert set(IMAGENET_GROUPS) == set(PRODUCT_KINDS)


def test_every_grouped_imagenet_class_is_a_thing_people_wear_or_carry():
    mask = product_class_mask()
    grouped = [k for members in IMAGENET_GROUPS.values() for k in members]
    assert len(grouped) == len(set(grouped)), "an ImageNet class counts towards one kind only"
    assert all(mask[k] for k in grouped)
    # The mask is the taxonomy's product categories, as committed.
    categories = default_taxonomy()
    assert {categories[k] for k in np.nonzero(mask)[0]} == {
        "apparel",
        "footwear",
        "bags and luggage",
        "jewellery and watches",
    }


def test_with_no_residual_imagenet_names_the_kind():
    head = untrained_head()
    outputs = np.stack([imagenet_output({RUNNING_SHOE: 0.8}), imagenet_output({JEANS: 0.7})])
    tags = head.tags(outputs, np.stack([embedding(0), embedding(1)]))
    assert [(t.label, t.shown) for t in tags] == [("Sneaker", True), ("Trouser", True)]
    assert tags[0].reason == "" and tags[0].product_mass >= 0.8


def test_a_dog_gets_no_product_tag_and_says_why():
    head = untrained_head()
    [tag] = head.tags(imagenet_output({GOLDEN_RETRIEVER: 0.9})[None], embedding(0)[None])
    assert not tag.shown
    assert tag.product_mass < MIN_PRODUCT_MASS
    assert tag.reason.startswith("no product shown: ImageNet's product classes sum to")
    assert head.predicted_labels(imagenet_output({GOLDEN_RETRIEVER: 0.9})[None], embedding(0)[None]) == [NO_PRODUCT]


def test_a_product_shown_but_of_no_sure_kind_is_not_tagged():
    head = untrained_head()
    # Mass on product classes (a tie, a boot, a sneaker) but no kind reaches the minimum score.
    outputs = imagenet_output({WINDSOR_TIE: 0.22, RUNNING_SHOE: 0.22, 514: 0.22, JEANS: 0.22})[None]
    [tag] = head.tags(outputs, embedding(0)[None])
    assert tag.product_mass >= MIN_PRODUCT_MASS
    assert not tag.shown and "sure enough" in tag.reason


def test_fitting_learns_a_kind_imagenet_has_no_class_for():
    # "Shirt" has no ImageNet class: photos of shirts look like ties to ImageNet,
    # and only labelled examples (here along embedding direction 5) teach it.
    shirts = [(imagenet_output({WINDSOR_TIE: 0.5}), embedding(5)) for _ in range(30)]
    ties = [(imagenet_output({WINDSOR_TIE: 0.6}), embedding(9)) for _ in range(30)]
    dogs = [(imagenet_output({GOLDEN_RETRIEVER: 0.9}), embedding(20)) for _ in range(30)]
    items = shirts + ties + dogs
    labels = ["Shirt"] * 30 + ["Accessory"] * 30 + [NO_PRODUCT] * 30
    imagenet = np.stack([p for p, _ in items])
    embeddings = np.stack([e for _, e in items])
    before = untrained_head()
    assert accuracy(before, imagenet[:30], embeddings[:30], labels[:30]) == 0.0
    head = fit_head(imagenet, embeddings, np.array([CLASS_NAMES.index(name) for name in labels]))
    fresh_shirt = np.stack([imagenet_output({WINDSOR_TIE: 0.5}), imagenet_output({WINDSOR_TIE: 0.6})])
    assert head.predicted_labels(fresh_shirt, np.stack([embedding(5), embedding(9)])) == ["Shirt", "Accessory"]
    assert accuracy(head, imagenet, embeddings, labels) == 1.0


def test_the_head_round_trips_through_its_artifact():
    head = fit_head(
        np.stack([imagenet_output({RUNNING_SHOE: 0.8}), imagenet_output({GOLDEN_RETRIEVER: 0.9})]),
        np.stack([embedding(0), embedding(1)]),
        np.array([CLASS_NAMES.index("Sneaker"), CLASS_NAMES.index(NO_PRODUCT)]),
        backbone_version_id=7,
        max_iterations=5,
    )
    again = PhotoHead.from_bytes(head.to_bytes())
    assert again.backbone_version_id == 7 and again.class_names == CLASS_NAMES
    outputs, embeddings = np.stack([imagenet_output({JEANS: 0.6})]), np.stack([embedding(3)])
    np.testing.assert_allclose(
        again.probabilities(outputs, embeddings), head.probabilities(outputs, embeddings), atol=1e-5
    )


def test_the_shipped_photos_are_labelled_with_the_vocabulary_and_split_for_the_gate():
    photos = seed_photos()
    assert len(photos) >= 500
    assert {p.label for p in photos} <= set(PRODUCT_KINDS)
    assert all(p.path.exists() for p in photos)
    share = sum(p.split == "test" for p in photos) / len(photos)
    assert 0.1 < share < 0.3
    # The benchmark's photos are never among them.
    from bench.real_products import DATA

    bench_names = {line.split(",")[0].split("/")[-1] for line in (DATA / "manifest.csv").read_text().splitlines()[1:]}
    assert not bench_names & {p.path.name for p in photos}


@pytest.mark.parametrize("kind", ["Sneaker", "Sandal", "Ankle boot", "Bag", "Skirt", "Hat"])
def test_each_kind_imagenet_knows_has_classes(kind):
    assert IMAGENET_GROUPS[kind]
