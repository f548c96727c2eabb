"""Train every product architecture on Fashion-MNIST in one run and compare.

    python -m bench.train_fmnist [--architectures seed-cnn,bn-cnn] [--limit N] [--no-write]

Prints a table (architecture, epochs, train time, test accuracy, macro F1,
serving ms/img) and writes it into docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from bench.common import table, write_section
from classifier.ml.architectures import ARCHITECTURES
from classifier.ml.datasets import FASHION_MNIST_CLASSES, load_split
from classifier.ml.preprocessing import normalize
from classifier.ml.runtime import LiteModel
from classifier.ml.training import train


def serving_ms_per_image(tflite_bytes: bytes, pixels: np.ndarray, repeats: int = 500) -> float:
    model = LiteModel(tflite_bytes, num_threads=1)
    x = normalize(pixels[:1])
    for _ in range(20):
        model.predict(x)
    started = time.perf_counter()
    for i in range(repeats):
        model.predict(normalize(pixels[i % len(pixels) : i % len(pixels) + 1]))
    return (time.perf_counter() - started) / repeats * 1000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    pixel_models = [name for name, spec in ARCHITECTURES.items() if spec.input_kind == "pixels"]
    parser.add_argument(
        "--architectures",
        default=",".join(pixel_models),
        help="pixel architectures (the embedding head is measured by bench.photo_models)",
    )
    parser.add_argument("--limit", type=int, default=None, help="train on the first N images (quick check)")
    parser.add_argument("--epochs", type=int, default=None, help="override every recipe's epochs")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)

    train_split, test_split = load_split("train"), load_split("test")
    if args.limit:
        train_split = train_split.head(args.limit)
    rows = []
    headers = [
        "architecture",
        "epochs",
        "train time",
        "test accuracy",
        "macro F1",
        "serving ms/img (LiteRT, batch 1)",
        "model size",
    ]
    for name in args.architectures.split(","):
        print(f"== {name}: {ARCHITECTURES[name].description}", flush=True)
        trained = train(
            architecture=name,
            class_names=FASHION_MNIST_CLASSES,
            train_pixels=train_split.images,
            train_labels=train_split.labels,
            test_pixels=test_split.images,
            test_labels=test_split.labels,
            epochs=args.epochs,
        )
        rows.append(
            [
                name,
                trained.epochs,
                f"{trained.train_seconds:.0f} s",
                trained.report["accuracy"],
                trained.report["macro_f1"],
                serving_ms_per_image(trained.tflite_bytes, test_split.images),
                f"{len(trained.tflite_bytes) / 1024:.0f} KiB",
            ]
        )
        print(table(headers, rows[-1:]), flush=True)  # each result as soon as it exists
    output = table(headers, rows)
    print("\n" + output)
    if not args.no_write and not args.limit:
        note = (
            f"Trained on all {len(train_split)} training images, evaluated on the {len(test_split)} test images "
            "with the exported TFLite model (what serves). Serving time: one image at a time, one thread. "
            "A recipe with a time budget (bn-cnn: 18 minutes) trains as many epochs as fit in it on the "
            "machine, so its epochs, and its accuracy, depend on the CPU named above."
        )
        write_section(
            "train_fmnist", "Product models on Fashion-MNIST", note + "\n\n" + output, "python -m bench.train_fmnist"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
