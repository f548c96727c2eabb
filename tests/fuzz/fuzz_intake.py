"""`make fuzz`: property-based fuzzing of the intake (validation and decode),
each input within a CPU budget.

    FUZZ_SECONDS=600 python -m tests.fuzz.fuzz_intake

Hypothesis mutates the files in tests/fuzz/corpus/ (seeds/: one small file of
each accepted format and feature; costly/: the costliest inputs earlier runs
found; findings/: inputs that broke a property) the way hostile files are
made: a segment, chunk or frame repeated thousands of times, bytes flipped,
overwritten with values that matter to parsers (0xFF, lengths, markers),
inserted, deleted, truncated, spliced from another file. `hypothesis.target`
steers it towards the inputs that cost the most CPU. Each input must:

- get an answer from `validate_upload_image` (accepted, or an ApplicationError:
  a 4xx with its code), never another exception (a 500), within 1 s of CPU;
- if accepted, be decoded by the worker (`open_image` at the models' size, or
  `sample_frames` for an animation) within 2 s of CPU (an exception there
  is allowed: the upload ends `failed`).

An input over a budget is measured twice more (the machine is shared) and is
a finding only if every measurement is over. Findings are written to
findings/ (with why, in findings/findings.jsonl) and replayed by
tests/security/test_fuzz_corpus.py; the costliest inputs within budget
replace costly/ at the end. Runs for FUZZ_SECONDS (600 by default).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import re
import sys
import time
import warnings
from pathlib import Path

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
django.setup()

from django.conf import settings  # noqa: E402
from hypothesis import HealthCheck, Phase, given, target  # noqa: E402
from hypothesis import settings as hypothesis_settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.errors import Flaky  # noqa: E402
from PIL import Image  # noqa: E402

from classifier.ml.frames import sample_frames  # noqa: E402
from classifier.ml.preprocessing import DECODE_SIDE, open_image  # noqa: E402
from moderation.errors import ApplicationError  # noqa: E402
from moderation.validation import validate_upload_image  # noqa: E402

CORPUS = Path(__file__).resolve().parent / "corpus"
SEEDS, COSTLY, FINDINGS = CORPUS / "seeds", CORPUS / "costly", CORPUS / "findings"
WEB_BUDGET_S = 1.0
WORKER_BUDGET_S = 2.0
COSTLY_KEPT = 8  # per budget
COSTLY_MAX_BYTES = 512 * 1024  # what the repository keeps of one costly input (gzipped if need be)
# Where a segment, chunk or block starts, to repeat whole ones.
_BOUNDARIES = {
    "JPEG": re.compile(rb"\xff[\xc0-\xfe]"),
    "PNG": re.compile(rb"(?=....(?:IDAT|fcTL|fdAT|tEXt|zTXt|iTXt|iCCP|PLTE|tRNS|acTL|IEND))", re.S),
    "GIF": re.compile(rb"[\x21\x2c]"),
    "WEBP": re.compile(rb"(?=ANMF|ALPH|VP8|ICCP|EXIF)"),
    "BMP": re.compile(rb"\x00\x00"),
}
INTERESTING = [
    b"\xff",
    b"\x00",
    b"\xff\xff",
    b"\x00\x00",
    b"\x7f\xff\xff\xff",
    b"\xff\xff\xff\xff",
    b"\x00\x00\x00\x01",
    b"\xff\xda",
    b"\xff\xd9",
    b"\xff\xc2",
    b"\xff\xfe\x00\x02",
    b"IDAT",
    b"acTL",
    b"fcTL",
    b"\x21\xf9\x04",
    b"\x2c",
    b"\x3b",
]


def corpus_paths() -> list[Path]:
    return [
        p
        for folder in (SEEDS, COSTLY, FINDINGS)
        for p in sorted(folder.glob("*"))
        if p.is_file() and not p.name.startswith(".") and p.suffix not in (".jsonl", ".md")
    ]


def read_input(path: Path) -> bytes:
    """A corpus file; one kept compressed (`.gz`: a large input that repeats itself) is inflated."""
    data = path.read_bytes()
    return gzip.decompress(data) if path.suffix == ".gz" else data


def corpus_files() -> list[bytes]:
    return [read_input(p) for p in corpus_paths()]


def _stored(data: bytes) -> tuple[bytes, str] | None:
    """What the repository keeps of an input: itself, gzipped when that is
    what makes it small enough, or nothing."""
    if len(data) <= COSTLY_MAX_BYTES:
        return data, ""
    packed = gzip.compress(data, 9)
    return (packed, ".gz") if len(packed) <= COSTLY_MAX_BYTES else None


def _format(data: bytes) -> str:
    from moderation.validation import sniff_format

    return sniff_format(data[:16]) or "JPEG"


@st.composite
def hostile(draw, files: list[bytes]) -> bytes:
    data = bytearray(draw(st.sampled_from(files)))
    cap = settings.UPLOAD_MAX_BYTES
    for _ in range(draw(st.integers(1, 4))):
        size = len(data)
        if size < 2:
            break
        kind = draw(
            st.sampled_from(["segment", "segment", "repeat", "flip", "overwrite", "insert", "delete", "cut", "splice"])
        )
        if kind == "segment":  # repeat whole segments/chunks/blocks
            starts = [m.start() for m in _BOUNDARIES[_format(bytes(data))].finditer(bytes(data))] or [0]
            first = draw(st.integers(0, len(starts) - 1))
            last = min(len(starts), first + draw(st.integers(1, 3)))
            begin, end = starts[first], (starts[last] if last < len(starts) else size)
            span = bytes(data[begin:end]) or bytes(data[begin : begin + 1])
            times = draw(st.integers(2, max(2, min(20_000, (cap - size) // max(1, len(span))))))
            data[end:end] = span * times
        elif kind == "repeat":
            begin = draw(st.integers(0, size - 1))
            span = bytes(data[begin : begin + draw(st.integers(1, 512))])
            times = draw(st.integers(2, max(2, min(50_000, (cap - size) // len(span)))))
            data[begin:begin] = span * times
        elif kind == "flip":
            at = draw(st.integers(0, size - 1))
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "overwrite":
            at = draw(st.integers(0, size - 1))
            value = draw(st.sampled_from(INTERESTING) | st.binary(min_size=1, max_size=8))
            data[at : at + len(value)] = value
        elif kind == "insert":
            at = draw(st.integers(0, size))
            data[at:at] = draw(st.sampled_from(INTERESTING) | st.binary(min_size=1, max_size=64))
        elif kind == "delete":
            at = draw(st.integers(0, size - 1))
            del data[at : at + draw(st.integers(1, 256))]
        elif kind == "cut":
            del data[draw(st.integers(1, size - 1)) :]
        else:  # splice: the start of one file, the rest of another
            other = draw(st.sampled_from(files))
            data[draw(st.integers(0, size - 1)) :] = other[draw(st.integers(0, len(other) - 1)) :]
    return bytes(data[:cap])


class OverBudget(AssertionError):
    pass


def web_cost(data: bytes) -> tuple[float, bool]:
    started = time.process_time()
    try:
        validate_upload_image(data)
        accepted = True
    except ApplicationError:
        accepted = False
    return time.process_time() - started, accepted


def worker_cost(data: bytes) -> float:
    started = time.process_time()
    try:
        if int(getattr(Image.open(io.BytesIO(data)), "n_frames", 1) or 1) > 1:
            sample_frames(data, max_frames=settings.ANIMATION_SAMPLE_FRAMES)
        else:
            open_image(data, target_side=DECODE_SIDE)
    except Exception:  # noqa: BLE001, S110 - the worker marks the upload failed; only the cost counts here
        pass
    return time.process_time() - started


class Run:
    def __init__(self, seconds: float) -> None:
        self.deadline = time.monotonic() + seconds
        self.examples = 0
        self.worst = {"web": 0.0, "worker": 0.0}
        self.costly: dict[str, list[tuple[float, bytes]]] = {"web": [], "worker": []}
        self.last_failure: tuple[bytes, str] | None = None
        self.findings: list[dict] = []

    def keep_costly(self, budget: str, cpu: float, data: bytes) -> None:
        self.worst[budget] = max(self.worst[budget], cpu)
        if _stored(data) is None:
            return
        kept = self.costly[budget]
        if any(data == other for _, other in kept):
            return
        if len(kept) < COSTLY_KEPT or cpu > kept[-1][0]:
            kept.append((cpu, data))
            kept.sort(key=lambda pair: -pair[0])
            del kept[COSTLY_KEPT:]

    def check(self, data: bytes) -> None:
        """The properties of one input; raises for a finding."""
        self.examples += 1
        try:
            web, accepted = web_cost(data)
        except Exception as exc:
            self.last_failure = (data, f"validation raised {type(exc).__name__}: {exc}"[:300])
            raise
        target(web, label="web CPU seconds")
        if web > WEB_BUDGET_S and min(web, *(web_cost(data)[0] for _ in range(2))) > WEB_BUDGET_S:
            self.last_failure = (data, f"web CPU {web:.2f} s over the {WEB_BUDGET_S} s budget")
            raise OverBudget(self.last_failure[1])
        self.keep_costly("web", web, data)
        if not accepted:
            return
        worker = worker_cost(data)
        target(worker, label="worker CPU seconds")
        if worker > WORKER_BUDGET_S and min(worker, *(worker_cost(data) for _ in range(2))) > WORKER_BUDGET_S:
            self.last_failure = (data, f"worker CPU {worker:.2f} s over the {WORKER_BUDGET_S} s budget")
            raise OverBudget(self.last_failure[1])
        self.keep_costly("worker", worker, data)

    def record_finding(self) -> None:
        if self.last_failure is None:
            return
        data, why = self.last_failure
        digest = hashlib.sha256(data).hexdigest()[:16]
        stored, suffix = (data, "") if len(data) <= COSTLY_MAX_BYTES else (gzip.compress(data, 9), ".gz")
        name = f"{digest}.{_format(data).lower()}{suffix}"
        FINDINGS.mkdir(parents=True, exist_ok=True)
        (FINDINGS / name).write_bytes(stored)
        finding = {"file": name, "bytes": len(data), "why": why, "found": time.strftime("%Y-%m-%d %H:%M UTC")}
        with (FINDINGS / "findings.jsonl").open("a") as log:
            log.write(json.dumps(finding) + "\n")
        self.findings.append(finding)
        print(f"FINDING {name}: {why}", flush=True)
        self.last_failure = None

    def save_costly(self) -> None:
        """costly/ becomes the costliest inputs of this run, the corpus (and so
        the earlier costly/) measured at its start included."""
        COSTLY.mkdir(parents=True, exist_ok=True)
        for path in COSTLY.glob("*"):
            if path.is_file() and not path.name.startswith(".") and path.suffix != ".md":
                path.unlink()
        for budget, kept in self.costly.items():
            for cpu, data in kept:
                stored, suffix = _stored(data) or (b"", "")
                name = f"{budget}-{hashlib.sha256(data).hexdigest()[:12]}.{_format(data).lower()}{suffix}"
                (COSTLY / name).write_bytes(stored)
                print(f"kept {name}: {cpu:.3f} s of CPU ({budget}), {len(data)} bytes", flush=True)


def main() -> int:
    warnings.simplefilter("ignore")  # Pillow's warnings on broken files, by the thousand
    seconds = float(os.environ.get("FUZZ_SECONDS", "600"))
    run = Run(seconds)
    files = corpus_files()
    print(f"fuzzing the intake for {seconds:.0f} s from {len(files)} corpus files", flush=True)
    for data in files:  # the corpus itself first: every finding stays fixed
        try:
            run.check(data)
        except Exception:  # noqa: BLE001
            run.record_finding()

    @hypothesis_settings(
        max_examples=40,
        deadline=None,
        database=None,
        phases=[Phase.generate, Phase.target, Phase.shrink],
        suppress_health_check=list(HealthCheck),
        report_multiple_bugs=False,
    )
    @given(hostile(files))
    def intake(data: bytes) -> None:
        run.check(data)

    batches = 0
    while time.monotonic() < run.deadline:
        batches += 1
        try:
            intake()
        except (Flaky, Exception):  # noqa: BLE001 - every kind of finding is recorded, then fuzzing goes on
            run.record_finding()
        if batches % 5 == 0:
            left = max(0, run.deadline - time.monotonic())
            print(
                f"{run.examples} inputs, worst web {run.worst['web']:.3f} s, worker {run.worst['worker']:.3f} s, "
                f"{len(run.findings)} findings, {left:.0f} s left",
                flush=True,
            )
    run.save_costly()
    print(
        f"done: {run.examples} inputs in {seconds:.0f} s; worst CPU: web {run.worst['web']:.3f} s "
        f"(budget {WEB_BUDGET_S} s), worker {run.worst['worker']:.3f} s (budget {WORKER_BUDGET_S} s); "
        f"{len(run.findings)} findings" + "".join(f"\n  {f['file']}: {f['why']}" for f in run.findings),
        flush=True,
    )
    return 1 if run.findings else 0


if __name__ == "__main__":
    sys.exit(main())
