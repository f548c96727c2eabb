"""Decode work an upload costs the web request: validation with the whole
image decoded (as before UPLOAD_WEB_DECODE_PIXELS) against the bounded decode.

    python -m bench.web_decode [--no-write]

Each measurement runs `moderation.validation.validate_image` once in a fresh
process (so peak memory is its own): CPU seconds of the call and the growth
of the process's peak resident memory during it. Images: the 6320x6320 PNG
of issue 16 (black, about 116 KB), a GIF of the same size, and a 1-megapixel
photo as PNG (under the budget: decoded in full both ways).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from io import BytesIO

from PIL import Image

from bench.common import ROOT, table, write_section

CHILD = """
import json, os, resource, sys, time
import django
django.setup()
from django.conf import settings
from moderation.validation import validate_image
data = open(sys.argv[1], "rb").read()
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
started = time.process_time()
validate_image(data, max_bytes=settings.UPLOAD_MAX_BYTES, max_pixels=settings.UPLOAD_MAX_PIXELS,
               min_side=settings.UPLOAD_MIN_SIDE)
cpu = time.process_time() - started
grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
print(json.dumps({"cpu": cpu, "peak_mb": grown / 1024, "budget": settings.UPLOAD_WEB_DECODE_PIXELS}))
"""


def images() -> dict[str, bytes]:
    from skimage import data as samples

    sys.path.insert(0, str(ROOT))
    from tests.security.bombs import png_bomb

    out = {"PNG 6320x6320 (issue 16)": png_bomb(6320)}
    buffer = BytesIO()
    Image.new("P", (6320, 6320), 0).save(buffer, "GIF")
    out["GIF 6320x6320"] = buffer.getvalue()
    buffer = BytesIO()
    Image.fromarray(samples.coffee()).resize((1224, 816)).save(buffer, "PNG")
    out["PNG photo 1224x816"] = buffer.getvalue()
    return out


def measure(data: bytes, budget: int | None) -> dict:
    """One validation in a fresh process; budget None: the configured default."""
    with tempfile.NamedTemporaryFile(suffix=".img") as fh:
        fh.write(data)
        fh.flush()
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.test"}
        env.pop("UPLOAD_WEB_DECODE_PIXELS", None)
        if budget is not None:
            env["UPLOAD_WEB_DECODE_PIXELS"] = str(budget)
        result = subprocess.run(
            [sys.executable, "-c", CHILD, fh.name], cwd=ROOT, env=env, capture_output=True, text=True, check=True
        )
    return json.loads(result.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    rows, budget = [], None
    for label, data in images().items():
        full = measure(data, 10**12)
        bounded = measure(data, None)
        budget = bounded["budget"]
        rows.append(
            [label, f"{len(data) // 1024} KiB", full["cpu"], full["peak_mb"], bounded["cpu"], bounded["peak_mb"]]
        )
        print(f"measured {label}", flush=True)
    output = table(
        ["image", "file", "full decode CPU s", "full decode peak MB", "bounded CPU s", "bounded peak MB"], rows
    )
    print("\n" + output)
    if not args.no_write:
        write_section(
            "web_decode",
            "Decode work in the web request (upload validation)",
            f'Budget: `UPLOAD_WEB_DECODE_PIXELS` = {budget:,} pixels. "Full decode" is validation as it was '
            'before the budget (every pixel of the first frame decoded in the request); "bounded" is the '
            "default now (JPEG at 1/8 scale; other formats over the budget checked by structure and CRC, "
            "their pixels decoded by the worker). Peak MB: how far the call raised the process's peak resident memory above "
            "what Django's start-up had already reached (0: it stayed below). Other engineers' work shared the 2 CPU cores during the run.\n\n"
            + output,
            "python -m bench.web_decode",
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
