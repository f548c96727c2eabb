"""The whole pipeline under load: gunicorn + Celery workers on PostgreSQL and
Redis, clients uploading 1-megapixel JPEGs through the partner API, every model
the platform runs on an upload. The platform's configuration and a naive one
take the same load in the same run.

    python -m bench.pipeline [--rate 5] [--seconds 60] [--burst 400] [--no-write]

Per configuration:
- fixed rate: `--rate` uploads/s for `--seconds`; time from sending the upload
  to its verdict (the upload's verdict_at), p50/p95/p99;
- maximum rate: `--burst` uploads from 16 client threads as fast as the server
  takes them; sustained uploads/s = uploads / (last verdict - first send).
Uploads that never reach a final state (or review) are counted as lost.
Then, unless --no-profile, py-spy samples the platform's worker during one more
burst (not measured) and a table shows where its CPU time goes.

Naive: one task per image with the models loaded by each task and JPEGs
decoded at full size (INFERENCE_CACHE_MODELS=0, INFERENCE_REDUCED_DECODE=0).
The benchmark's client threads run on the same machine and take some of its CPU.
"""

from __future__ import annotations

import argparse
import collections
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from tqdm import tqdm

from bench.common import table, write_section
from bench.stack import Stack, Uploads, sample_jpegs, settled_count, wait_settled

# name -> (worker processes, worker environment)
CONFIGURATIONS = {
    "platform": (2, {}),
    "platform, 1 process x 2 model threads": (1, {"INFERENCE_THREADS": "2"}),
    "naive": (2, {"INFERENCE_CACHE_MODELS": "0", "INFERENCE_REDUCED_DECODE": "0"}),
}


def verdict_times(uploads: Uploads) -> dict[str, float]:
    """Each settled upload's verdict time (epoch seconds), by id."""
    from moderation.models import Upload

    return {
        str(pk): at.timestamp()
        for pk, at in Upload.objects.filter(pk__in=list(uploads.sent), verdict_at__isnull=False).values_list(
            "pk", "verdict_at"
        )
    }


def fixed_rate(stack: Stack, photos: list[bytes], rate: float, seconds: float, label: str) -> tuple[Uploads, float]:
    uploads = Uploads()
    total = int(rate * seconds)
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=16) as pool:
        for i in tqdm(range(total), desc=f"{label}: {rate:g}/s", unit="upload", leave=False):
            time.sleep(max(0.0, started + i / rate - time.monotonic()))
            pool.submit(uploads.send, stack, photos[i % len(photos)])
    return uploads, time.monotonic() - started


def burst(stack: Stack, photos: list[bytes], count: int, label: str) -> Uploads:
    uploads = Uploads()
    with (
        ThreadPoolExecutor(max_workers=16) as pool,
        tqdm(total=count, desc=f"{label}: as fast as possible", unit="upload", leave=False) as bar,
    ):
        for future in [pool.submit(uploads.send, stack, photos[i % len(photos)]) for i in range(count)]:
            future.add_done_callback(lambda _: bar.update(1))
        pool.shutdown(wait=True)
    return uploads


def summarise(name: str, phase: str, uploads: Uploads, states: dict[str, int], offered: str) -> list[object]:
    verdicts = verdict_times(uploads)
    lat = np.array([verdicts[pk] - sent for pk, sent in uploads.sent.items() if pk in verdicts]) * 1000
    span = max(verdicts.values()) - min(uploads.sent.values()) if verdicts else float("nan")
    settled = settled_count(states)
    p50, p95, p99 = np.percentile(lat, [50, 95, 99]) if len(lat) else [float("nan")] * 3
    return [
        name,
        phase,
        offered,
        len(uploads.sent),
        len(uploads.failures),
        settled / span if span else 0.0,
        float(p50),
        float(p95),
        float(p99),
        len(uploads.sent) - settled,
    ]


# Where a worker's time goes: the share of its on-CPU samples inside these frames.
PROFILE_FRAMES = {
    "task (classify_upload)": "classify_upload",
    "  claim the upload (_start_processing)": "_start_processing",
    "  models (analyze_many)": "analyze_many",
    "    decode (open_image)": "open_image",
    "    PDQ hash": "pdq_hash",
    "    EfficientNet-Lite0 (LiteRT)": "predict_all",
    "    product model (LiteRT)": "predict",
    "    Open-NSFW (onnxruntime)": "score_images",
    "  store and decide (upload_apply_analysis)": "upload_apply_analysis",
    "Celery, kombu and the rest (outside the task)": None,
}


def start_profiler(pid: int, path: str) -> subprocess.Popen | None:
    """py-spy sampling the worker and its child processes (needs ptrace rights)."""
    try:
        spy = os.path.join(os.path.dirname(sys.executable), "py-spy")
        if os.path.exists(path):
            os.remove(path)  # never report an earlier run's samples
        return subprocess.Popen(
            [
                spy if os.path.exists(spy) else "py-spy",
                "record",
                "--pid",
                str(pid),
                "--subprocesses",
                "--format",
                "raw",
                "--rate",
                "200",
                "--nonblocking",
                "-o",
                path,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    except FileNotFoundError:
        return None


def profile_table(path: str) -> str:
    """py-spy's collapsed stacks (on-CPU samples only) -> share per stage."""
    counts: collections.Counter[str] = collections.Counter()
    total = 0
    with open(path) as fh:
        for line in fh:
            stack, _, n = line.rstrip().rpartition(" ")
            if not stack:
                continue
            frames = {frame.split(" (")[0] for frame in stack.split(";")}
            total += int(n)
            for label, frame in PROFILE_FRAMES.items():
                if (frame in frames) if frame else ("classify_upload" not in frames):
                    counts[label] += int(n)
    rows = [[label, f"{100 * counts[label] / total:.1f} %" if total else "-"] for label in PROFILE_FRAMES]
    return table([f"worker stage (py-spy, {total} on-CPU samples)", "share"], rows)


def profile_worker(stack: Stack, photos: list[bytes], count: int, timeout: float) -> str:
    """Another burst, not measured, with py-spy sampling the worker (sampling
    costs CPU, so it never runs during the measured phases)."""
    path = str(stack.var / "worker-profile.txt")
    profiler = start_profiler(stack.processes["worker"].pid, path)
    if profiler is None:
        return ""
    uploads = burst(stack, photos, count, "profiling the worker")
    wait_settled(list(uploads.sent), timeout)
    profiler.send_signal(signal.SIGINT)
    profiler.wait(timeout=60)
    return profile_table(path) if os.path.exists(path) else ""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=5.0, help="fixed-rate phase: uploads per second")
    parser.add_argument("--seconds", type=float, default=60.0, help="fixed-rate phase: duration")
    parser.add_argument("--burst", type=int, default=400, help="maximum-rate phase: uploads")
    parser.add_argument("--configurations", default=";".join(CONFIGURATIONS), help="names separated by ';'")
    parser.add_argument("--settle-timeout", type=float, default=600.0)
    parser.add_argument(
        "--no-profile",
        dest="profile",
        action="store_false",
        help="skip the extra, unmeasured burst during which py-spy samples the platform's worker",
    )
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)

    stack = Stack("pipeline")
    print("preparing the scratch platform (schema, models, partner)…", flush=True)
    stack.prepare()
    stack.use_database()
    photos = sample_jpegs()
    rows = []
    profile = ""
    headers = [
        "configuration",
        "phase",
        "offered",
        "uploads",
        "request errors",
        "verdicts/s",
        "p50 ms",
        "p95 ms",
        "p99 ms",
        "lost",
    ]
    for name in args.configurations.split(";"):
        concurrency, worker_env = CONFIGURATIONS[name]
        stack.start(concurrency=concurrency, worker_env=worker_env)
        try:
            warm = burst(stack, photos, 8, f"{name} warm-up")
            wait_settled(list(warm.sent), 120)
            uploads, took = fixed_rate(stack, photos, args.rate, args.seconds, name)
            states = wait_settled(list(uploads.sent), args.settle_timeout)
            rows.append(summarise(name, "fixed rate", uploads, states, f"{len(uploads.sent) / took:.1f}/s"))
            print(table(headers, rows[-1:]), flush=True)
            uploads = burst(stack, photos, args.burst, name)
            states = wait_settled(list(uploads.sent), args.settle_timeout)
            rows.append(summarise(name, "maximum rate", uploads, states, "16 clients"))
            print(table(headers, rows[-1:]), flush=True)
            if args.profile and name == "platform":
                profile = profile_worker(stack, photos, args.burst // 2, args.settle_timeout)
        finally:
            stack.stop()
    output = table(headers, rows)
    print("\n" + output)
    by = {(r[0], r[1]): r for r in rows}
    if ("platform", "maximum rate") in by and ("naive", "maximum rate") in by:
        ratio = by[("platform", "maximum rate")][5] / max(by[("naive", "maximum rate")][5], 1e-9)
        summary = f"platform sustains {ratio:.1f}x the naive configuration's uploads/s"
        print("\n" + summary)
        output += (
            "\n\n"
            + summary
            + (
                ". At maximum rate the clients send faster than any configuration classifies, "
                "so the latencies there are mostly time in the queue."
            )
        )
    if profile:
        print("\n" + profile)
        output += (
            "\n\nWhere the platform's worker spends its CPU time at maximum rate (a separate burst sampled "
            "by py-spy at 200 Hz, after the measured phases):\n\n" + profile
        )
    lost = sum(r[-1] for r in rows)
    if not args.no_write:
        note = (
            f"1224x816 JPEGs (five scikit-image photos) through `POST /api/v1/uploads/`; gunicorn 2 workers x 4 "
            f"threads, one Celery worker (2 processes with one thread per model unless named), beat; PostgreSQL "
            f"and Redis on the same machine; every model runs on every upload (product CNN, EfficientNet-Lite0, "
            f"Open-NSFW, PDQ + bank lookup). "
            f"Latency: from the client sending the upload to the upload's `verdict_at`. Verdicts/s: settled "
            f"uploads / (last verdict - first send). Fixed rate: {args.rate:g}/s for {args.seconds:g} s; maximum "
            f"rate: {args.burst} uploads from 16 client threads. Naive: "
            + ", ".join(f"{k}={v}" for k, v in CONFIGURATIONS["naive"][1].items())
            + " (models loaded by every task, full-size JPEG decoding), one task per image."
        )
        write_section(
            "pipeline",
            "Pipeline: uploads to verdicts, platform against naive",
            note + "\n\n" + output,
            "python -m bench.pipeline",
        )
    return 0 if lost == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
