"""CPU that hostile inputs cost the web request and the worker (issue 28).

    python -m bench.hostile_intake [--no-write] [--before REVISION] [--kinds NAME ...]

Each input (built by tests/security/bombs.py, plus the files the fuzzer keeps
in tests/fuzz/corpus/findings/) is measured in a fresh process with
`time.process_time`:

- web: `moderation.validation.validate_upload_image`, what an upload request
  does with the file before storing it (accepted or refused with its code);
- worker: for an accepted file, the worker's decode of it
  (`classifier.ml.preprocessing.open_image` at the models' DECODE_SIDE, or
  `classifier.ml.frames.sample_frames` for an animation), then the public
  copy (`public_rendition`, a full decode and re-encode).

With --before, the same inputs are measured again on the code of REVISION
(exported with `git archive` into a temporary folder): the table shows both.
Budgets: 1 s in the web, 2 s in the worker (decode; the public copy apart).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.common import ROOT, table, write_section

CHILD = r"""
import io, json, os, sys, time
import django
django.setup()
from django.conf import settings
from PIL import Image
from moderation.errors import ApplicationError
from moderation.validation import validate_upload_image
from classifier.ml.preprocessing import DECODE_SIDE, open_image
from classifier.ml.frames import sample_frames
data = open(sys.argv[1], "rb").read()
out = {}
started = time.process_time()
try:
    validate_upload_image(data)
    out["web"] = "accepted"
except ApplicationError as exc:
    out["web"] = f"{exc.status} {exc.code}"
except Exception as exc:  # a 500
    out["web"] = f"500 {type(exc).__name__}"
out["web_cpu"] = time.process_time() - started
if out["web"] != "accepted":  # the worker never sees it
    print(json.dumps(out))
    sys.exit(0)
started = time.process_time()
try:
    if int(getattr(Image.open(io.BytesIO(data)), "n_frames", 1) or 1) > 1:
        sample_frames(data, max_frames=settings.ANIMATION_SAMPLE_FRAMES)
    else:
        open_image(data, target_side=DECODE_SIDE)
    out["worker"] = "decoded"
except Exception as exc:
    out["worker"] = type(exc).__name__
out["worker_cpu"] = time.process_time() - started
if out["worker_cpu"] < 5:  # past that the row says enough, and the run stays short
    from moderation.services.renditions import public_rendition
    started = time.process_time()
    try:
        public_rendition(data)
        out["rendition"] = "made"
    except Exception as exc:
        out["rendition"] = type(exc).__name__
    out["rendition_cpu"] = time.process_time() - started
print(json.dumps(out))
"""


def inputs() -> dict[str, bytes]:
    """Each hostile kind at about its worst within the upload caps (20 MB, 40 MP, 5,000 frames)."""
    sys.path.insert(0, str(ROOT))
    from tests.security import bombs

    found = {
        "JPEG progressive 6000x6000 (no extra scan)": bombs.jpeg_scan_bomb(0),
        "JPEG 6000x6000 + 1,000 repeated scans": bombs.jpeg_scan_bomb(1000),
        "JPEG 5 M comment segments (20 MB)": bombs.jpeg_marker_flood(5_000_000),
        "JPEG 4000x4000, 15 MB ICC profile": bombs.jpeg_icc_bomb(),
        "PNG 1.5 M IDAT chunks (19 MB)": bombs.png_chunk_flood(1_500_000),
        "PNG 200 zTXt of 1 MB each": bombs.png_text_bomb(200),
        "PNG 4000x4000, 1 MB iCCP": bombs.png_iccp_bomb(),
        "GIF 850,000 one-pixel frames (20 MB)": bombs.gif_frame_flood(850_000),
        "GIF 2000x2000 in 1-byte sub-blocks (11 MB)": bombs.gif_subblock_flood(),
        "GIF 19 MB between two frames": bombs.gif_junk_flood(),
        "GIF 5,000 frames of 109x109 (the caps)": bombs.gif_at_the_frame_caps(),
        "BMP RLE8 2000x2000, runs of one pixel (8 MB)": bombs.bmp_rle_flood(2000),
        "BMP RLE8 3160x3160, runs of one pixel (20 MB)": bombs.bmp_rle_flood(3160),
    }
    findings = ROOT / "tests" / "fuzz" / "corpus" / "findings"
    for path in sorted(findings.glob("*")) if findings.exists() else []:
        if path.is_file() and not path.name.startswith(".") and path.suffix not in (".jsonl", ".md"):
            data = path.read_bytes()
            found[f"fuzz finding {path.name}"] = gzip.decompress(data) if path.suffix == ".gz" else data
    return found


def measure(root: Path, path: str) -> dict:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.test", "PYTHONPATH": str(root)}
    result = subprocess.run(
        [sys.executable, "-c", CHILD, path], cwd=root, env=env, capture_output=True, text=True, timeout=600
    )
    if result.returncode:
        return {"web": "crashed", "web_cpu": None, "worker": "", "worker_cpu": None}
    return json.loads(result.stdout.strip().splitlines()[-1])


def export(revision: str, into: Path) -> Path:
    """The code of `revision` in a folder (no work tree is touched)."""
    into.mkdir(parents=True)
    archive = subprocess.run(["git", "archive", revision], cwd=ROOT, capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def _cell(outcome: dict, what: str) -> str:
    cpu = outcome.get(f"{what}_cpu")
    if cpu is None:
        return "— (refused)" if what != "web" and outcome.get("web") != "accepted" else "—"
    return f"{cpu:.2f} s ({outcome.get(what, '')})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--before", help="a git revision to measure too (the code before the limits)")
    parser.add_argument("--kinds", nargs="*", help="only the inputs whose name contains one of these")
    args = parser.parse_args(argv)
    chosen = {
        name: data
        for name, data in inputs().items()
        if not args.kinds or any(k.lower() in name.lower() for k in args.kinds)
    }
    rows, worst = [], {"before web": 0.0, "before worker": 0.0, "web": 0.0, "worker": 0.0}
    with tempfile.TemporaryDirectory() as scratch:
        before_root = export(args.before, Path(scratch) / "before") if args.before else None
        if before_root:
            (before_root / ".venv").symlink_to(ROOT / ".venv")
        for name, data in chosen.items():
            path = Path(scratch) / "input.bin"
            path.write_bytes(data)
            now = measure(ROOT, str(path))
            row = [name, f"{len(data) / 1e6:.2f} MB"]
            if before_root:
                then = measure(before_root, str(path))
                row += [_cell(then, "web"), _cell(then, "worker")]
                worst["before web"] = max(worst["before web"], then.get("web_cpu") or 0)
                worst["before worker"] = max(worst["before worker"], then.get("worker_cpu") or 0)
            row += [_cell(now, "web"), _cell(now, "worker"), _cell(now, "rendition")]
            worst["web"] = max(worst["web"], now.get("web_cpu") or 0)
            worst["worker"] = max(worst["worker"], now.get("worker_cpu") or 0)
            rows.append(row)
            print(f"measured {name}", flush=True)
    headers = ["input", "file"]
    if args.before:
        headers += [f"web, before ({args.before})", "worker decode, before"]
    headers += ["web, now", "worker decode, now", "public copy, now"]
    output = table(headers, rows)
    summary = ", ".join(f"{key} {value:.2f} s" for key, value in worst.items() if value or "before" not in key)
    print("\n" + output + f"\n\nworst: {summary}")
    if not args.no_write:
        write_section(
            "hostile_intake",
            "CPU per hostile input: the web request and the worker (issue 28)",
            "CPU seconds (`time.process_time`, one fresh process per measurement) of the web request's "
            "validation and of the worker's decode, with the outcome: the web's answer (status and code) "
            "and whether the worker decoded it (only what the web accepted reaches the worker). The "
            "public copy (a full decode and re-encode, made by the worker for accepted uploads) is shown apart. "
            "Budgets: 1 s in the web, 2 s in the worker. The limits are in `moderation/format_limits.py`. "
            f"Worst case: {summary}. Other engineers' work shared the 2 CPU cores during the run.\n\n" + output,
            "python -m bench.hostile_intake" + (f" --before {args.before}" if args.before else ""),
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
