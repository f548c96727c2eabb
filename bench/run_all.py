"""`make bench`: every benchmark, one after another; each rewrites its section
of docs/benchmarks.md."""

from __future__ import annotations

import subprocess
import sys

BENCHES = [
    "bench.inference",
    "bench.decode",
    "bench.web_decode",
    "bench.hostile_intake",
    "bench.pipeline",
    "bench.hash_bank",
    "bench.review_queue",
    "bench.photo_models",
    "bench.frames",
    "bench.text_in_images",
    "bench.real_photos",
    "bench.real_products",
    "bench.custom_categories",
    "bench.quantized",
    "bench.adult_models",
    "bench.train_kernels",
    "bench.train_fmnist",
    "bench.feedback_loop",
    "bench.soak",
]


def main() -> int:
    failed = []
    for module in BENCHES:
        print(f"\n===== {module} =====", flush=True)
        if subprocess.run([sys.executable, "-m", module]).returncode != 0:
            failed.append(module)
    print(
        f"\n{len(BENCHES) - len(failed)} benchmarks ran, {len(failed)} failed{': ' + ', '.join(failed) if failed else ''}"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
