"""Per-image cost of every model the platform runs on a colour photo, at batch
1 and 16: EfficientNet-Lite0 (ImageNet tags + embedding), the product model
(CNN on 28x28, or the head on the embedding), Open-NSFW, PDQ, and decoding.

    python -m bench.photo_models [--no-write]

Runs in a scratch installation (var/bench-photo/) so that it can install the
models without touching yours.
"""

from __future__ import annotations

import argparse
import io
import sys
import time

import numpy as np

from bench.common import ms_per_call, photo_installation, table, write_section


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--skip-head", action="store_true", help="do not time the product head's retraining")
    args = parser.parse_args(argv)
    photo_installation("bench-photo")
    from PIL import Image
    from skimage import data

    from classifier.inference import analyze_many, loaded_model
    from classifier.ml.hashing import pdq_hash
    from classifier.ml.preprocessing import image_to_product_pixels, normalize, open_image, photo_input
    from classifier.models import ModelRole

    buffer = io.BytesIO()
    Image.fromarray(data.coffee()).resize((1200, 800)).save(buffer, "JPEG", quality=90)  # ~1 MP photo
    photo = buffer.getvalue()
    backbone, product, adult = (loaded_model(r) for r in (ModelRole.IMAGENET, ModelRole.PRODUCT, ModelRole.ADULT))

    def per_image(fn, batch: int) -> float:
        return ms_per_call(lambda: fn(batch), args.seconds) / batch

    image = open_image(photo, target_side=256)
    parts = {
        "decode 1 MP JPEG (reduced-size)": lambda n: [open_image(photo, target_side=256) for _ in range(n)],
        "EfficientNet-Lite0 (LiteRT)": lambda n: backbone.runtime.predict_all(
            np.repeat(photo_input(image)[None], n, 0)
        ),
        f"product model {product.architecture} (LiteRT)": lambda n: product.runtime.predict(
            np.repeat(normalize(image_to_product_pixels(image))[None], n, 0)
        ),
        "Open-NSFW (onnxruntime)": lambda n: adult.runtime.score_images([image] * n),
        "PDQ hash": lambda n: [pdq_hash(image) for _ in range(n)],
        "all of it: analyze_many()": lambda n: analyze_many([photo] * n),
    }
    rows = []
    for name, fn in parts.items():
        one, sixteen = per_image(fn, 1), per_image(fn, 16)
        rows.append([name, one, sixteen, 1000 / sixteen])
        print(f"measured {name}", flush=True)
    output = table(["step", "ms/img, batch 1", "ms/img, batch 16", "img/s at batch 16 (one process)"], rows)
    print("\n" + output)

    head_table = ""
    if not args.skip_head:
        from classifier.inputs import fashion_embeddings
        from classifier.retraining import product_model_train

        started = time.perf_counter()
        fashion_embeddings("train", 10_000)
        fashion_embeddings("test", 10_000)
        embed_seconds = time.perf_counter() - started
        started = time.perf_counter()
        head = product_model_train(architecture="lite0-head", activate="never", progress=False)
        wall = time.perf_counter() - started
        head_table = table(
            ["product head (lite0-head)", "value"],
            [
                ["embeddings computed once (20,000 images, cached)", f"{embed_seconds:.0f} s"],
                ["retraining on 10,000 stored embeddings: training", f"{head.training['train_seconds']:.1f} s"],
                ["retraining: whole command (load, train, export, evaluate on 10,000)", f"{wall:.1f} s"],
                ["test accuracy (Fashion-MNIST rendered as photos)", f"{head.accuracy:.4f}"],
                ["macro F1", f"{head.macro_f1:.4f}"],
            ],
        )
        print("\n" + head_table)
    if not args.no_write:
        write_section(
            "photo_models",
            "Every model on a colour photo",
            "One worker process, one thread per model (INFERENCE_THREADS=1); a 1200x800 JPEG.\n\n"
            + output
            + ("\n\n" + head_table if head_table else ""),
            "python -m bench.photo_models",
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
