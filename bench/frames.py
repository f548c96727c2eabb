"""Worker cost of an animated upload against a still one: every frame a
viewer sees is judged (issue 16), and every upload gets a public copy without
metadata.

    python -m bench.frames [--uploads 5] [--seconds 2.0] [--no-write]

Runs in a scratch installation (var/bench-frames/) with the models a
production worker serves (EfficientNet-Lite0 tagger, Open-NSFW, a product
CNN). Per case: the whole `upload_classify` (read the file, decode, models on
each judged frame, PDQ of each frame against the banks, the public copy, the
policy, rows and audit) as the median of fresh uploads, then its two new
parts on their own: the models on the judged frames (`analyze_frames`), and
the public copy (`public_rendition`); and, for reference, the models on the
first frame only (`analyze`, what the worker did before).
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import time

import numpy as np

from bench.common import ms_per_call, photo_installation, table, write_section

SIDE = (480, 270)  # a typical animated GIF


def cases() -> dict[str, bytes]:
    from PIL import Image
    from skimage import data as samples

    names = ("coffee", "chelsea", "astronaut", "rocket", "immunohistochemistry", "coffee", "chelsea", "astronaut")
    photos = [Image.fromarray(getattr(samples, n)()).convert("RGB").resize(SIDE) for n in names]

    def encode(image, fmt, **params) -> bytes:
        buffer = io.BytesIO()
        image.save(buffer, fmt, **params)
        return buffer.getvalue()

    def animated(frames, fmt, **params) -> bytes:
        return encode(frames[0], fmt, save_all=True, append_images=frames[1:], duration=100, loop=0, **params)

    coffee = np.asarray(photos[0], dtype=np.int16)
    long_run = [Image.fromarray(np.clip(coffee + i % 40, 0, 255).astype(np.uint8)) for i in range(64)]
    long_run[20], long_run[45] = photos[1], photos[2]  # two scene changes
    return {
        "still JPEG 480x270": encode(photos[0], "JPEG", quality=90),
        "still PNG 480x270": encode(photos[0], "PNG"),
        "GIF 8 frames 480x270": animated(photos, "GIF"),
        "APNG 8 frames 480x270": animated(photos, "PNG"),
        "WebP 8 frames 480x270": animated(photos, "WEBP", quality=90),
        "GIF 64 frames 480x270 (16 judged)": animated(long_run, "GIF"),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--uploads", type=int, default=5, help="fresh uploads classified per case")
    parser.add_argument("--seconds", type=float, default=2.0, help="time spent on each part's measurement")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    photo_installation("bench-frames")
    from django.conf import settings

    from classifier.inference import analyze, analyze_frames
    from moderation.services.renditions import public_rendition
    from moderation.services.uploads import upload_classify, upload_create

    sample = settings.ANIMATION_SAMPLE_FRAMES

    rows, still_ms = [], None
    for label, data in cases().items():
        whole = []
        for _ in range(args.uploads + 1):  # the first warms the caches
            upload = upload_create(data=data, filename="bench")
            started = time.perf_counter()
            upload_classify(upload_id=upload.pk)
            whole.append((time.perf_counter() - started) * 1000)
        worker = statistics.median(whole[1:])
        still_ms = still_ms or worker
        judged = len(analyze_frames(data, max_frames=sample))
        models = ms_per_call(lambda d=data: analyze_frames(d, max_frames=sample), args.seconds)
        first = ms_per_call(lambda d=data: analyze(d), args.seconds)
        public = ms_per_call(lambda d=data: public_rendition(d), args.seconds)
        rows.append([label, f"{len(data) // 1024} KiB", judged, worker, worker / still_ms, models, first, public])
        print(f"measured {label}", flush=True)
    output = table(
        [
            "upload",
            "size",
            "frames judged",
            "worker ms / upload (median)",
            "× the still JPEG",
            "models on judged frames ms",
            "models on first frame only ms (before)",
            "public copy ms",
        ],
        rows,
    )
    print("\n" + output)
    if not args.no_write:
        note = (
            f"One worker process, one inference thread; the median of {args.uploads} fresh uploads per case "
            "after one warm-up, SQLite and local media. Other engineers' work shared the 2 CPUs while this ran, "
            f"so take the ratios more than the absolute figures (load average {os.getloadavg()[0]:.1f} at the end). "
            "`ANIMATION_SAMPLE_FRAMES` = "
            f"{sample}: an animation of at most that many frames is judged whole, a longer one by half evenly "
            "spaced frames and half its largest scene changes (every frame is still decoded once, to composite "
            "it and to find the scene changes)."
        )
        write_section(
            "frames", "Animated uploads: every frame judged", note + "\n\n" + output, "python -m bench.frames"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
