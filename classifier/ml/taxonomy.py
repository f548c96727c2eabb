"""Categories for any photo: ImageNet-1k's 1000 classes grouped into a
taxonomy of what people upload. A category's score is the sum of the
probabilities of its classes.

The mapping is the committed data file `data/imagenet_taxonomy.csv`, made
from WordNet by `classifier.ml.taxonomy_build` and reviewed by hand. The
database holds the copy in service (editable in the admin); this module reads
the file for code that runs without a database (benchmarks, tests).
"""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from functools import lru_cache
from pathlib import Path

DEFAULT_TAXONOMY_PATH = Path(__file__).with_name("data") / "imagenet_taxonomy.csv"

# The categories, with what each covers. Their order is the order shown.
CATEGORIES: dict[str, str] = {
    "apparel": "Clothing, headwear, gloves, scarves, glasses.",
    "footwear": "Shoes, boots, sandals, clogs.",
    "bags and luggage": "Handbags, backpacks, wallets, suitcases.",
    "jewellery and watches": "Necklaces, rings, watches, clocks worn or carried.",
    "health and personal care": "Make-up, lotions, perfume, hair care, bandages, medical aids.",
    "electronics": "Computers, phones, cameras, audio, screens and their parts.",
    "appliances": "Household machines: washers, fridges, heaters, vacuum cleaners.",
    "furniture and home": "Furniture, furnishings, lamps, bedding, fixtures.",
    "kitchenware": "Cookware, tableware, cutlery, kitchen gadgets.",
    "food and drink": "Dishes, fruit, vegetables, bread, non-alcoholic drinks.",
    "alcohol": "Beer, wine, spirits and their bottles and glasses.",
    "tobacco": "Cigarettes, pipes, tobacco shops.",
    "drugs and medicine": "Pills, pill bottles, syringes, medicine cabinets.",
    "weapons": "Guns, bows, cannons, missiles and their holsters.",
    "vehicles": "Cars, bikes, boats, aircraft, trains and their parts.",
    "toys and games": "Toys, dolls, puzzles, board and ball games for children.",
    "sports and outdoors": "Sports equipment, balls, camping gear.",
    "musical instruments": "Instruments of every kind.",
    "tools and hardware": "Hand and power tools, machines, hardware, materials.",
    "office and stationery": "Pens, binders, paper clips, typewriters, printers.",
    "containers and packaging": "Boxes, baskets, barrels, buckets, bottles, cans.",
    "animals": "Mammals, birds, fish, reptiles, insects and other animals.",
    "people": "People in a role (diver, groom, ball player).",
    "plants and nature": "Plants, flowers, fungi, landscapes, natural formations.",
    "buildings and places": "Buildings, shops, monuments, streets and their furniture.",
    "documents and screenshots": "Web pages, menus, book covers, signs, envelopes, printed matter.",
    "artwork": "Sculpture, statues, totem poles, fountains and other works of art.",
}


def load_taxonomy(path: Path = DEFAULT_TAXONOMY_PATH) -> tuple[str, ...]:
    """The category of each ImageNet class, by class index (0..999)."""
    with path.open(encoding="utf-8", newline="") as fh:
        rows = sorted(csv.DictReader(fh), key=lambda row: int(row["class_index"]))
    return tuple(row["category"] for row in rows)


@lru_cache(maxsize=1)
def default_taxonomy() -> tuple[str, ...]:
    return load_taxonomy()


def category_scores(
    probabilities: Sequence[float], class_categories: Mapping[int, str] | Sequence[str]
) -> dict[str, float]:
    """Each category's score: the summed probability of its classes (capped at 1)."""
    pairs = class_categories.items() if isinstance(class_categories, Mapping) else enumerate(class_categories)
    scores: dict[str, float] = {}
    for index, category in pairs:
        if index < len(probabilities):
            scores[category] = scores.get(category, 0.0) + float(probabilities[index])
    return {name: min(1.0, score) for name, score in scores.items()}


def top_categories(scores: Mapping[str, float], k: int = 3) -> list[tuple[str, float]]:
    """The k best categories, best first (ties by name, so the order is stable)."""
    return sorted(scores.items(), key=lambda item: (-item[1], item[0]))[:k]
