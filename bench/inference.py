"""Per-image inference cost of each product architecture, the seed article's way
(`model.predict` on one image) against the serving runtime (TFLite on LiteRT).

    python -m bench.inference [--no-write]

Weights do not change the cost, so each architecture is measured freshly built.
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

from bench.common import ms_per_call, table, write_section
from classifier.ml.architectures import ARCHITECTURES, build, served
from classifier.ml.runtime import LiteModel
from classifier.ml.training import export_tflite


def per_image_ms(call, batch: np.ndarray, seconds: float = 2.0) -> float:
    return ms_per_call(lambda: call(batch), seconds, min_calls=5) / len(batch)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--seconds", type=float, default=2.0, help="time spent on each measurement")
    args = parser.parse_args(argv)
    import tensorflow as tf

    rng = np.random.default_rng(0)
    rows = []
    for name, spec in ARCHITECTURES.items():
        if spec.input_kind != "pixels":
            continue  # the embedding head's cost is part of bench.photo_models
        model = build(name, num_classes=10, total_steps=100)
        model = served(name, model)  # with its test-time views
        lite = LiteModel(export_tflite(model), num_threads=1)
        one = rng.random((1, 28, 28, 1), dtype=np.float32)
        graph = tf.function(lambda x, m=model: m(x, training=False))
        results = {
            "model.predict, 1 image": per_image_ms(lambda x, m=model: m.predict(x, verbose=0), one, args.seconds),
            "Keras call, 1 image": per_image_ms(lambda x, m=model: m(x, training=False), one, args.seconds),
            "tf.function, 1 image": per_image_ms(graph, one, args.seconds),
        }
        for batch in (1, 16, 32, 64):
            x = rng.random((batch, 28, 28, 1), dtype=np.float32)
            results[f"LiteRT, batch {batch}"] = per_image_ms(lite.predict, x, args.seconds)
        baseline = results["model.predict, 1 image"]
        for way, ms in results.items():
            rows.append([name, way, ms, 1000 / ms, baseline / ms])
        print(f"measured {name}", flush=True)
    output = table(["architecture", "way", "ms/img", "img/s", "× faster than model.predict"], rows)
    print("\n" + output)
    if not args.no_write:
        note = (
            f"LiteRT runs with one thread (what each worker process uses); TensorFlow with its default "
            f"threads on {os.cpu_count()} cores. Serving never imports TensorFlow."
        )
        write_section(
            "inference",
            "Inference: model.predict against the serving runtime",
            note + "\n\n" + output,
            "python -m bench.inference",
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
