"""Custom categories from examples (issues 15 and 31): how good is a head a
lead teaches with 20 examples when the thing is rare, or common, among recent
uploads, and after the lead confirms 20 candidates; what does serving 10 or
100 heads cost per upload?

    python -m bench.custom_categories [--background 300] [--common 0.12] [--confirmations 20] [--no-write]

Data here, nothing downloaded. Each Fashion-MNIST class rendered as a 112-px
photo (as a shop's upload of it would be) is a NEW category the platform was
never trained on; the real photos come from packages (scikit-image,
scikit-learn, Debian wallpapers; `make photos`), one half for the background
and the other held out. Embeddings come from the pretrained EfficientNet-Lite0
exported to TFLite, the backbone that serves, computed once and kept in
var/bench/ (no Django models, no database).

Each case is trained as category_train trains (classifier.ml.category_head's
fit_and_evaluate on the examples and `background` recent uploads that are no
example) and measured on held-out images at the threshold the category page
suggests. 'Common' makes `common` of the background uploads of the category
itself (as dogs were among the photos of the issue-31 trial). 'Wallpapers'
is real photos of a kind the ImageNet classes cover only in part (scenery and
digital art), among product shots and scikit-image's photos. Confirmations:
the lead marks the head's next candidate (classifier.ml.category_head's
`candidates`), the mark is the ground truth, and the head retrains after each.
"""

from __future__ import annotations

import argparse
import os
import time
from dataclasses import dataclass

import numpy as np

from bench.common import ROOT, ms_per_call, table, write_section

THRESHOLD = 0.8
SIDE = 112


def _embedder():
    from classifier.ml.efficientnet_lite import load_pretrained
    from classifier.ml.preprocessing import photo_input
    from classifier.ml.runtime import LiteModel
    from classifier.ml.training import export_tflite

    backbone = LiteModel(export_tflite(load_pretrained()))

    def embed(images, label: str) -> np.ndarray:
        out = []
        started = time.perf_counter()
        for start in range(0, len(images), 32):
            batch = np.stack([photo_input(i) for i in images[start : start + 32]])
            out.append(backbone.output_by_width(backbone.predict_all(batch), 1280))
            print(f"  embedding {label}: {min(start + 32, len(images))}/{len(images)}", end="\r", flush=True)
        print(f"  embedding {label}: {len(images)} images in {time.perf_counter() - started:.1f} s", flush=True)
        return np.concatenate(out) if out else np.zeros((0, 1280), np.float32)

    return embed


CACHE = ROOT / "var" / "bench" / "custom_categories_embeddings.npz"


def _embeddings(*, train_per_class: int, test_per_class: int) -> dict[str, np.ndarray]:
    """Every image the cases use, embedded once by the serving backbone and
    kept in var/bench/ (keyed by the counts and the photo names), so a rerun
    measures the heads, not the backbone. Keys: train_<c>, test_<c> (the
    Fashion-MNIST classes rendered), then photos_<side>_<source> for the real photos."""
    from classifier.ml.datasets import FASHION_MNIST_CLASSES, fashion_photo, load_split
    from classifier.ml.real_photos import real_photos

    photos = {side: real_photos(side=side, crops=True) for side in ("calibration", "evaluation")}
    signature = np.array(
        [f"{train_per_class}/{test_per_class}"] + [p.name for side in photos.values() for p in side], dtype=str
    )
    if CACHE.exists():
        with np.load(CACHE, allow_pickle=False) as stored:
            if np.array_equal(stored["signature"], signature):
                return {k: stored[k] for k in stored.files if k != "signature"}
    embed = _embedder()
    train, test = load_split("train"), load_split("test")
    out: dict[str, np.ndarray] = {}
    for c, name in enumerate(FASHION_MNIST_CLASSES):
        for split, label, count in ((train, "train", train_per_class), (test, "test", test_per_class)):
            idx = np.flatnonzero(split.labels == c)[:count]
            out[f"{label}_{c}"] = embed([fashion_photo(split.images[i], SIDE) for i in idx], f"{label} {name}")
    for side, items in photos.items():
        for source in sorted({p.source for p in items}):
            chosen = [p.image for p in items if p.source == source]
            out[f"photos_{side}_{source}"] = embed(chosen, f"real photos, {side}, {source}")
    CACHE.parent.mkdir(parents=True, exist_ok=True)
    np.savez(CACHE, signature=signature, **out)
    return out


def _suggested(trained) -> float:
    """The threshold the category page suggests (the calibration target
    precision on the head's evaluation curve), or the default."""
    from django.conf import settings

    evaluation = getattr(trained, "cross_validated", None) or trained.evaluation
    from classifier.ml.category_head import suggest_threshold

    found = suggest_threshold(evaluation.curve, settings.CALIBRATION_TARGET_PRECISION) if evaluation.curve else None
    return THRESHOLD if found is None else found


def _platform_head(x: np.ndarray, y: np.ndarray, keys: list[str], background: np.ndarray):
    """What category_train does with a category's examples and background."""
    import inspect

    from classifier.ml.category_head import fit_and_evaluate

    kwargs = {"background": background} if "background" in inspect.signature(fit_and_evaluate).parameters else {}
    started = time.perf_counter()
    trained, holdout = fit_and_evaluate(x, y, keys, threshold=THRESHOLD, **kwargs)
    return trained, _suggested(trained), time.perf_counter() - started, holdout


@dataclass
class Case:
    """One category to teach: its examples and the recent uploads around them
    (`truth` says which background uploads really are of the category), and
    the held-out images it is measured on."""

    name: str
    examples: np.ndarray
    background: np.ndarray
    truth: np.ndarray  # (len(background),) 1 where a background upload is of the category
    held_x: np.ndarray
    held_y: np.ndarray


def _cases(d: dict[str, np.ndarray], *, shots: int, background: int, common: float, rng) -> dict[str, list[Case]]:
    from classifier.ml.datasets import FASHION_MNIST_CLASSES

    classes = len(FASHION_MNIST_CLASSES)
    sources = ("skimage", "sklearn", "wallpapers")
    photos_fit = np.concatenate([d[f"photos_calibration_{s}"] for s in sources])
    photos_held = np.concatenate([d[f"photos_evaluation_{s}"] for s in sources])
    held_fashion = np.concatenate([d[f"test_{o}"] for o in range(classes)])
    out: dict[str, list[Case]] = {"rare": [], "common": [], "wallpapers": []}
    for c in range(classes):
        others = np.concatenate([d[f"train_{o}"][shots:] for o in range(classes) if o != c] + [photos_fit])
        held_y = np.concatenate([np.full(len(d[f"test_{o}"]), int(o == c)) for o in range(classes)])
        held_y = np.concatenate([held_y, np.zeros(len(photos_held))])
        held_x = np.concatenate([held_fashion, photos_held])
        for label, share in (("rare", 0.0), ("common", common)):
            same = int(round(background * share))
            pick = rng.choice(len(others), background - same, replace=False)
            out[label].append(
                Case(
                    f"{label} {FASHION_MNIST_CLASSES[c]}",
                    d[f"train_{c}"][:shots],
                    np.concatenate([d[f"train_{c}"][shots : shots + same], others[pick]]),
                    np.array([1] * same + [0] * (background - same), np.int8),
                    held_x,
                    held_y,
                )
            )
    # Desktop wallpapers (scenery and digital art: ImageNet has a few landscape
    # classes and nothing for abstract art) among product shots and the other
    # real photos, common in the background.
    walls = d["photos_calibration_wallpapers"]
    same = min(int(round(background * common)), len(walls) - shots)
    rest = np.concatenate(
        [d["photos_calibration_skimage"], d["photos_calibration_sklearn"]]
        + [d[f"train_{o}"][shots:] for o in range(classes)]
    )
    pick = rng.choice(len(rest), background - same, replace=False)
    held_others = np.concatenate([d["photos_evaluation_skimage"], d["photos_evaluation_sklearn"], held_fashion])
    out["wallpapers"].append(
        Case(
            "wallpapers",
            walls[:shots],
            np.concatenate([walls[shots : shots + same], rest[pick]]),
            np.array([1] * same + [0] * (background - same), np.int8),
            np.concatenate([d["photos_evaluation_wallpapers"], held_others]),
            np.concatenate([np.ones(len(d["photos_evaluation_wallpapers"])), np.zeros(len(held_others))]),
        )
    )
    return out


def _teach(case: Case, confirmations: int) -> dict:
    """Train as the platform does, then let a lead confirm `confirmations`
    candidates one at a time (the lead's mark is the ground truth), retraining
    after each; measure on the held-out images at the suggested threshold."""
    from classifier.ml.category_head import evaluate

    x = np.concatenate([case.examples, case.background])
    y = np.concatenate([np.ones(len(case.examples), np.int8), np.zeros(len(case.background), np.int8)])
    background = np.concatenate([np.zeros(len(case.examples), bool), np.ones(len(case.background), bool)])
    truth = np.concatenate([np.ones(len(case.examples), np.int8), case.truth])
    keys = [f"{case.name}:{i}" for i in range(len(x))]
    trained, threshold, seconds, _ = _platform_head(x, y, keys, background)
    from classifier.ml.category_head import head_gate as gate

    first_passes = gate(trained.evaluation, None).promote
    retrain_seconds = []
    if confirmations:
        from classifier.ml.category_head import candidates, head_gate

        for mark in range(confirmations):
            pool = np.flatnonzero(background)
            # The lead answers the first candidate, as the page's keys do (it alternates, mark after mark).
            [pick] = candidates(trained.head.scores(x[pool]), threshold, 1, highest_first=mark % 2 == 1)
            i = pool[pick]
            background[i], y[i] = False, truth[i]
            retrained, new_threshold, seconds, holdout = _platform_head(x, y, keys, background)
            retrain_seconds.append(seconds)
            # The gate of category_train: the head in service stays unless the new one is no worse.
            in_service = evaluate(trained.head.scores(x[holdout]), y[holdout], THRESHOLD)
            if head_gate(retrained.evaluation, in_service, confirmed=True).promote:
                trained, threshold = retrained, new_threshold
    ev = evaluate(trained.head.scores(case.held_x), case.held_y, threshold)
    goal = 0.95 if confirmations else 0.90
    return {
        "first_passes": first_passes,
        "best_recall": max((r for _, p, r in ev.curve if p >= goal), default=0.0),
        "precision": ev.precision if ev.precision is not None else 0.0,
        "recall": ev.recall or 0.0,
        "ap": ev.average_precision or 0.0,
        "threshold": threshold,
        "seconds": max(retrain_seconds) if retrain_seconds else seconds,
    }


def _at_goal(results: list[dict], group: list[Case], precision: float, recall: float) -> str:
    """How many categories reach the issue's goal on their own, and which."""
    met = [
        c.name.split(" ", 1)[-1]
        for r, c in zip(results, group, strict=True)
        if r["precision"] >= precision and r["recall"] >= recall
    ]
    return f"{len(met)} of {len(group)} (≥ {precision:.2f} / {recall:.2f})" + (f": {', '.join(met)}" if met else "")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--per-class-test", type=int, default=50)
    parser.add_argument("--background", type=int, default=300)
    parser.add_argument("--common", type=float, default=0.12, help="share of the background of the category")
    parser.add_argument("--confirmations", type=int, default=20)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()

    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
    django.setup()
    from classifier.ml import category_head
    from classifier.ml.category_head import HeadSet

    d = _embeddings(train_per_class=100, test_per_class=args.per_class_test)
    shots = 20
    cases = _cases(d, shots=shots, background=args.background, common=args.common, rng=np.random.default_rng(15))
    with_candidates = hasattr(category_head, "candidates")
    rows = []
    timings = []
    for label, group in cases.items():
        # The lead's confirmations are measured where they are needed: the thing common among uploads.
        for confirmations in (0, args.confirmations) if with_candidates and label != "rare" else (0,):
            results = [_teach(case, confirmations) for case in group]
            precisions = [r["precision"] for r in results]
            worst = int(np.argmin(precisions))
            rows.append(
                [
                    {
                        "rare": "rare in the background (Fashion-MNIST, 10 categories)",
                        "common": f"common: {args.common:.0%} of the background (Fashion-MNIST, 10 categories)",
                        "wallpapers": f"real photos: Debian wallpapers, {args.common:.0%} of the background",
                    }[label],
                    confirmations,
                    float(np.mean(precisions)),
                    float(np.mean([r["recall"] for r in results])),
                    f"{precisions[worst]:.3f} ({group[worst].name.split(' ', 1)[-1]})",
                    float(np.mean([r["ap"] for r in results])),
                    float(np.mean([r["threshold"] for r in results])),
                    float(np.mean([r["best_recall"] for r in results])),
                    f"{sum(r['first_passes'] for r in results)} of {len(results)}",
                    _at_goal(results, group, 0.95 if confirmations else 0.90, 0.90 if confirmations else 0.80),
                ]
            )
            timings.extend(r["seconds"] for r in results)
            print(" | ".join(str(v) for v in rows[-1]), flush=True)

    heads = [
        category_head.train_head(
            np.concatenate([case.examples, case.background]),
            np.concatenate([np.ones(len(case.examples)), np.zeros(len(case.background))]),
        )
        for case in cases["rare"]
    ]
    embedding = cases["rare"][0].held_x[:1]
    serving = []
    for count in (10, 100):
        stacked = [(i, heads[i % len(heads)]) for i in range(count)]
        head_set = HeadSet.stack(stacked)
        serving.append([count, ms_per_call(lambda hs=head_set: hs.scores(embedding, 0), 1.0, min_calls=50)])

    held_photos = sum(len(d[f"photos_evaluation_{s}"]) for s in ("skimage", "sklearn", "wallpapers"))
    body = "\n".join(
        [
            f"A category is taught from {shots} examples and {args.background} background uploads (recent uploads "
            "that are no example), as `category_train` does it (classifier.ml.category_head on the "
            "EfficientNet-Lite0 embedding), and measured on held-out images at the threshold the category page "
            f"suggests (the calibration target precision on the head's evaluation curve). Fashion-MNIST classes "
            f"rendered as {SIDE}-px photos are new categories; held out: {args.per_class_test} test images per "
            f"class and {held_photos} real photos the heads never saw. 'Common' puts "
            f"{args.common:.0%} of the background in the category itself. Wallpapers: Debian's desktop "
            "wallpapers (scenery and digital art, which the ImageNet classes cover only in part) among product "
            "shots and scikit-image's photos. Confirmations: the lead marks the head's candidate (the "
            "background upload it is least sure of, or the highest-scoring one), the mark is ground truth, and "
            "the head retrains after each.",
            "",
            table(
                [
                    "case",
                    "confirmations",
                    "precision (mean)",
                    "recall (mean)",
                    "precision (worst category)",
                    "average precision",
                    "suggested threshold (mean)",
                    "recall at the goal's precision, best threshold (mean)",
                    "first heads the gate passes",
                    "categories at the goal",
                ],
                rows,
            ),
            "",
            f"Training one head (fit, leaving out the background that looks like the positives, held-out and "
            f"cross-validated evaluation), every round: at most {max(timings):.2f} s, median "
            f"{float(np.median(timings)):.2f} s on this machine (the goal from a lead's mark to the retrained head "
            "in service: 5 s on 2 cores; the browser test's marks take 0.1-0.3 s from the key press, database "
            "included).",
            "",
            "Before issue 31 (commit 1d027c3, background taught as negatives, L2 1e-3, threshold suggested from "
            "the held-out examples alone, first heads gated on held-out average precision alone; no confirmations): "
            "rare 0.921 precision at 0.500 recall (AP 0.851, 9 of 10 first heads passed the gate); common 0.907 at "
            "0.134 (AP 0.589; 2 of 10 passed, the issue's 'dogs' refusal); wallpapers 0 at 0 (AP 0.664, no head "
            "flagged anything at the suggested 0.995). Goals (issue 31): at least 0.90 precision at 0.80 recall with 20 examples when "
            "common, and 0.95 at 0.90 after 20 confirmations. Not met: learning from the unlabelled background "
            "lifts the common case's average precision from 0.59 to 0.81 and its recall at the suggested "
            "threshold from 0.13 to 0.67, at a lower precision (0.78, was 0.91; the rare case likewise trades "
            "0.92 / 0.50 for 0.76 / 0.84, the suggestion now coming from 20 cross-validated positives instead "
            "of 5 held out); a logistic head on this embedding tops out near 0.85 average precision on "
            "Fashion-MNIST's garments (shirts, T-shirts, pullovers and coats look alike to it), and the "
            "threshold that reaches the 0.98 target precision on 20 positives' cross-validated scores costs "
            "recall. The head's ranking, not only the threshold, is what falls short: even at the best threshold for "
            "each category on the held-out images themselves (a lead could not know it), the recall at the goal's "
            "precision is the column before last.",
            "",
            "Serving cost per upload (scoring the stored embedding against every active head):",
            "",
            table(["active custom categories", "ms per upload"], serving),
        ]
    )
    print(body)
    if not args.no_write:
        write_section(
            "custom_categories",
            "Custom categories from examples (few-shot heads)",
            body,
            "python -m bench.custom_categories",
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
