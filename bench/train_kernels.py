"""Training speed with TensorFlow's default CPU kernels against oneDNN's, per
product architecture (the platform turns oneDNN on; TensorFlow does so by
itself only on CPUs with AVX-512 VNNI/BF16 or AMX).

    python -m bench.train_kernels [--batches N] [--no-write]

Each measurement runs in a child process, because TensorFlow reads
TF_ENABLE_ONEDNN_OPTS once, when it starts. Times are the median of N training
batches of the recipe's batch size (after two warm-up batches), float32.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

from bench.common import table, write_section

KERNELS = {"TensorFlow default (Eigen)": "0", "oneDNN (the platform's setting)": "1"}


def child(architecture: str, batches: int) -> None:
    import time

    import keras
    import numpy as np

    from classifier.ml.architectures import build, get
    from classifier.ml.training import set_threads

    set_threads(os.cpu_count())
    spec = get(architecture)
    model = build(architecture, num_classes=10, total_steps=1000)
    rng = np.random.default_rng(0)
    x = rng.random(((batches + 2) * spec.batch_size, 28, 28, 1), dtype=np.float32)
    labels = rng.integers(0, 10, len(x))
    y = np.eye(10, dtype=np.float32)[labels] if spec.one_hot_labels else labels
    stamps: list[float] = []

    class Stamp(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            stamps.append(time.perf_counter())

    model.fit(x, y, batch_size=spec.batch_size, epochs=1, verbose=0, callbacks=[Stamp()])
    print(json.dumps({"ms": float(np.median(np.diff(stamps[1:])) * 1000), "batch": spec.batch_size}))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--architectures", default="seed-cnn,bn-cnn")
    parser.add_argument("--batches", type=int, default=30)
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.child, args.batches)
        return 0

    rows = []
    for name in args.architectures.split(","):
        measured = {}
        for kernels, flag in KERNELS.items():
            out = subprocess.run(
                [sys.executable, "-m", "bench.train_kernels", "--child", name, "--batches", str(args.batches)],
                env={**os.environ, "TF_ENABLE_ONEDNN_OPTS": flag},
                capture_output=True,
                text=True,
                check=True,
            )
            measured[kernels] = json.loads(out.stdout.strip().splitlines()[-1])
            print(f"{name}, {kernels}: {measured[kernels]['ms']:.1f} ms/batch", flush=True)
        default = measured["TensorFlow default (Eigen)"]["ms"]
        for kernels, result in measured.items():
            rows.append(
                [
                    name,
                    kernels,
                    result["batch"],
                    result["ms"],
                    60000 / result["batch"] * result["ms"] / 1000,
                    default / result["ms"],
                ]
            )
    output = table(["architecture", "kernels", "batch", "ms/batch", "s per Fashion-MNIST epoch", "× default"], rows)
    print("\n" + output)
    if not args.no_write:
        note = (
            f"Median of {args.batches} training batches (float32, every core) in a fresh process per row. "
            "On a CPU with AVX-512 VNNI/BF16 or AMX both rows use oneDNN (TensorFlow's own default there)."
        )
        write_section(
            "train_kernels",
            "Training kernels: TensorFlow's default against oneDNN",
            note + "\n\n" + output,
            "python -m bench.train_kernels",
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
