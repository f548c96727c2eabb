"""Product tags on real product photos, through the code a worker runs.

    python -m bench.real_products [--fashion 300] [--no-write]

Runs in a scratch installation (var/bench-real-products/: SQLite, local
media) set up as `make run` sets one up: the pretrained models, the open-set
gate, the real-photo product model trained on what the platform ships, and
the seed-cnn baseline (5 epochs). Every image goes through upload_create and
upload_classify.

- Real product photos: bench/data/real_products (manifest.csv names each
  one's source and licence), freely licensed photos that neither training nor
  calibration ever sees. A photo is right when its top tag is its kind (a
  long-sleeve top may be "Pullover" or "T-shirt/top": Fashion-MNIST's "top"
  covers both; the strict figure is printed beside).
- Real photos of anything else: the evaluation half of the packaged photos
  (classifier.ml.real_photos: scikit-image, scikit-learn, Debian wallpapers,
  crops), which the real-photo model's training and the gate's calibration
  never see: the share given any product tag, and the share sent to review.
- Fashion-MNIST test images (raw 28-px PNG) through the same path, with the
  real-photo model serving and with it retired (today), in one run.
- Worker CPU per still (time.process_time of upload_classify), the real-photo
  model serving against it retired, in alternating rounds.
"""

from __future__ import annotations

import argparse
import csv
import io
import statistics
import sys
import time
from collections import Counter, defaultdict

from bench.common import ROOT, photo_installation, table, write_section

DATA = ROOT / "bench" / "data" / "real_products"
# Source folders whose photos may carry either label (see the docstring).
ALSO_RIGHT = {"longsleeve": {"T-shirt/top"}}


def _photos() -> list[dict]:
    with (DATA / "manifest.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    for row in rows:
        folder = row["source_path"].split("/")[-2] if "/" in row["source_path"] else ""
        row["right"] = {row["label"], *ALSO_RIGHT.get(folder, set())}
    return rows


def _classify(data: bytes, filename: str):
    from moderation.services.uploads import upload_classify, upload_create

    upload = upload_create(data=data, filename=filename)
    upload_classify(upload_id=upload.pk)
    upload.refresh_from_db()
    return upload, upload.product_prediction


def _shown(prediction) -> str:
    tags = prediction.tags(1) if prediction is not None else []
    return tags[0][0] if tags else ""


class PhotoModelSwitch:
    """Serve with the real-photo model, or with it retired (today's pipeline)."""

    def __init__(self) -> None:
        from classifier.models import ModelRole
        from classifier.registry import active_version

        self.version = active_version(ModelRole.PRODUCT_PHOTO)

    def serve(self, on: bool) -> None:
        from classifier.inference import forget_loaded_models

        type(self.version).objects.filter(pk=self.version.pk).update(status="active" if on else "retired")
        forget_loaded_models()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fashion", type=int, default=300, help="Fashion-MNIST test images")
    parser.add_argument("--cpu-photos", type=int, default=40, help="stills per round of the CPU measurement")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of the CPU measurement, each on and off")
    parser.add_argument("--epochs", type=int, default=5, help="the baseline's epochs, as bootstrap trains it")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    photo_installation("bench-real-products", epochs=args.epochs, limit=None)
    from django.conf import settings
    from PIL import Image

    from classifier.ml.datasets import FASHION_MNIST_CLASSES, load_split
    from classifier.ml.real_photos import real_photos

    switch = PhotoModelSwitch()
    head = switch.version
    print(f"real-photo model {head.name}: held-out accuracy {head.metrics.get('accuracy')}", flush=True)

    # 1. Real product photos.
    photos = _photos()
    outcomes = []
    for i, row in enumerate(photos):
        path = DATA / row["file"]
        upload, prediction = _classify(path.read_bytes(), path.name)
        outcomes.append((row, _shown(prediction), upload.status))
        if (i + 1) % 50 == 0:
            print(f"  product photos: {i + 1}/{len(photos)}", flush=True)
    right = sum(shown in row["right"] for row, shown, _ in outcomes)
    strict = sum(shown == row["label"] for row, shown, _ in outcomes)
    tagged = sum(bool(shown) for _, shown, _ in outcomes)
    per_kind: dict[str, list] = defaultdict(list)
    for row, shown, _ in outcomes:
        per_kind[row["label"]].append((row, shown))
    predicted_as = Counter(shown for _, shown, _ in outcomes if shown)
    correct_as = Counter(shown for row, shown, _ in outcomes if shown and shown in row["right"])
    kind_rows = []
    for kind in sorted(per_kind):
        items = per_kind[kind]
        hits = sum(shown in row["right"] for row, shown in items)
        confused = Counter(shown or "no tag" for row, shown in items if shown not in row["right"]).most_common(2)
        kind_rows.append(
            [
                kind,
                len(items),
                hits / len(items),
                correct_as[kind] / predicted_as[kind] if predicted_as[kind] else None,
                ", ".join(f"{name} {n}" for name, n in confused) or "–",
            ]
        )
    kind_table = table(["kind", "photos", "recall", "precision", "wrong tags (most often)"], kind_rows)

    # 2. Real photos of anything else (the half no training or calibration saw).
    others = real_photos(side="evaluation")
    other_outcomes = []
    for photo in others:
        upload, prediction = _classify(photo.jpeg(), f"{photo.name}.jpg")
        other_outcomes.append((photo.name, _shown(prediction), upload.status))
    other_tagged = [(name, shown) for name, shown, _ in other_outcomes if shown]
    other_review = sum(status == "in_review" for _, _, status in other_outcomes)
    print("  other photos: done", flush=True)

    # 3. Fashion-MNIST through the same path, the real-photo model serving and retired.
    test = load_split("test")
    first = settings.OPEN_SET_CALIBRATION_EXAMPLES
    indices = range(first, min(first + args.fashion, len(test)))
    names = list(FASHION_MNIST_CLASSES)
    fashion = {}
    for on in (True, False):
        switch.serve(on)
        hits = 0
        for i in indices:
            buffer = io.BytesIO()
            Image.fromarray(test.images[i]).save(buffer, format="PNG")
            _, prediction = _classify(buffer.getvalue(), f"fashion-{i}.png")
            hits += _shown(prediction) == names[int(test.labels[i])]
        fashion[on] = hits / len(indices)
    switch.serve(True)
    print("  Fashion-MNIST: done", flush=True)

    # 4. Worker CPU per still: real photos (product and not), alternating rounds.
    stills = [(DATA / row["file"]).read_bytes() for row in photos[:: max(1, len(photos) // args.cpu_photos)]][
        : args.cpu_photos
    ]
    cpu: dict[bool, list[float]] = {True: [], False: []}
    for round_ in range(args.rounds):
        for on in (True, False) if round_ % 2 == 0 else (False, True):
            switch.serve(on)
            _classify(stills[0], "warm.jpg")  # the models load outside the measurement
            for data in stills:
                start = time.process_time()
                _classify(data, "cpu.jpg")
                cpu[on].append((time.process_time() - start) * 1000)
    switch.serve(True)
    cpu_on, cpu_off = statistics.median(cpu[True]), statistics.median(cpu[False])

    n, m = len(outcomes), len(other_outcomes)
    summary = table(
        ["measure", "this run", "goal"],
        [
            ["real product photos with a right tag", f"{right / n:.3f} ({right}/{n})", "≥ 0.85"],
            ["  the same, strictly the manifest's label", f"{strict / n:.3f}", "–"],
            ["  product photos with any tag", f"{tagged / n:.3f}", "–"],
            [
                "non-product real photos with any product tag",
                f"{len(other_tagged) / m:.3f} ({len(other_tagged)}/{m})",
                "≤ 0.02",
            ],
            ["non-product real photos sent to review", f"{other_review / m:.3f} ({other_review}/{m})", "≤ 0.02"],
            [
                f"Fashion-MNIST accuracy through the worker's path ({len(indices)} raw test images)",
                f"{fashion[True]:.4f} (today {fashion[False]:.4f})",
                "no worse than today by > 0.005",
            ],
            [
                "worker CPU per still upload_classify, median ms",
                f"{cpu_on:.1f} (today {cpu_off:.1f}: {cpu_on - cpu_off:+.1f})",
                "≤ +2 ms",
            ],
        ],
    )
    examples = ", ".join(f"{name} ({shown})" for name, shown in other_tagged[:10]) or "none"
    output = f"{summary}\n\n{kind_table}"
    print("\n" + output + f"\n\nnon-product photos given a tag: {examples}\n({time.perf_counter() - started:.0f} s)")
    if not args.no_write:
        sources = Counter(row["source_repo"] for row in photos)
        write_section(
            "real_products",
            "Product tags on real product photos",
            f"Scratch installation as `make run` sets it up; the real-photo model {head.name} "
            f"(held-out accuracy on the shipped photos {head.metrics.get('accuracy')}). Every image goes through "
            "upload_create and upload_classify, the worker's code. Product photos: bench/data/real_products "
            f"({n} photos: " + ", ".join(f"{k} {v}" for k, v in sorted(sources.items())) + "; freely licensed, "
            "never used in training or calibration). A photo is right when its top tag is its kind; a long-sleeve "
            "top may be 'Pullover' or 'T-shirt/top'. Non-product photos: the evaluation half of the packaged real "
            f"photos. CPU: {args.rounds} alternating rounds of {len(stills)} stills, the real-photo model serving "
            f"and retired (today). Other work shared the CPU while this ran.\n\n{output}\n\n"
            f"Non-product photos given a tag: {examples}.",
            "python -m bench.real_products",
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
