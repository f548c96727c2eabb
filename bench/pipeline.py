"""The whole pipeline under load: gunicorn + Celery workers on PostgreSQL and
Redis, clients uploading through the partner API, every model the platform
runs on an upload. Today's configuration and the new one take the same load
in the same run, so their ratio holds even on a shared machine.

    python -m bench.pipeline [--rate 5] [--seconds 20] [--burst 200]
                             [--gif-rate 0.5] [--gif-burst 40] [--adult-model open_nsfw|nsfwjs]
                             [--configurations "today;new"] [--rounds 1] [--profile] [--no-write]

Per configuration, for still 1-megapixel JPEGs and for 8-frame animated GIFs:
- fixed rate: `--rate` (GIFs: `--gif-rate`) uploads/s for `--seconds`; time
  from sending the upload to its verdict (the upload's verdict_at), p50/p95/p99;
- maximum rate: `--burst` (`--gif-burst`) uploads from 16 client threads as
  fast as the server takes them; sustained uploads/s = uploads / (last
  verdict - first send).
Uploads that never reach a settled state are counted as lost. Then, with the
platform stopped, the models alone on one upload in this process (one
thread, every model in turn: the CPU an upload costs): the models-only
ceiling is 2 cores / that time, and the platform's share of it is its
sustained rate / the ceiling. Each model's time is printed
beside its fidelity figure (its version's recorded agreement with the float
model it replaces; the float models are the reference).

`--profile`: one more burst per configuration (not measured) with py-spy
sampling the worker, and a table of where its CPU time goes.

Configurations (settings knobs, so that today's is reproducible):
- today: UPLOAD_BACKLOG_LIMIT=0 (no bound), PUBLIC_COPY_PARTNER_UPLOADS=1 (a
  public copy of every upload), POLICY_CACHE_SECONDS=0 (thresholds and flag
  categories read on every upload), API_READ_BACK_ACCEPTED=1 (a new upload
  read back from the database for its 202), INFERENCE_ADULT_MAX_BATCH=0 (an
  animation's frames through Open-NSFW as one batch), INFERENCE_BATCH_SIZES_KEPT=1
  (a LiteRT interpreter re-allocated whenever the batch size changes),
  INFERENCE_PARALLEL_MODELS=0 (the adult model after the others),
  INFERENCE_ADULT_FOLDED=0 (Open-NSFW's graph as published), Open-NSFW;
- new: the defaults (bounded backlog, no public copy of partner uploads nobody
  is served, policy settings read every 5 s, a 202 from the row just
  written, Open-NSFW one frame at a time, an interpreter per recent batch
  size, the adult model in a thread beside the others, Open-NSFW's
  per-channel layers folded into its convolutions), with `--adult-model`'s scorer;
- naive: today's, plus models loaded by every task and full-size decoding.
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

from bench.common import PARTNER_WITHOUT_LIMITS, ms_per_call, table, write_section
from bench.stack import Stack, Uploads, sample_gifs, sample_jpegs, settled_count, wait_settled

TODAY = {
    "UPLOAD_BACKLOG_LIMIT": "0",
    "PUBLIC_COPY_PARTNER_UPLOADS": "1",
    "POLICY_CACHE_SECONDS": "0",
    "API_READ_BACK_ACCEPTED": "1",
    "INFERENCE_ADULT_MAX_BATCH": "0",
    "INFERENCE_BATCH_SIZES_KEPT": "1",
    "INFERENCE_PARALLEL_MODELS": "0",
    "INFERENCE_ADULT_FOLDED": "0",
}
# name -> (worker processes, environment of every process, the adult model it serves)
CONFIGURATIONS: dict[str, tuple[int, dict[str, str], str | None]] = {
    "today": (2, TODAY, "open_nsfw"),
    "new": (2, {}, None),  # None: --adult-model
    "naive": (2, {**TODAY, "INFERENCE_CACHE_MODELS": "0", "INFERENCE_REDUCED_DECODE": "0"}, "open_nsfw"),
    "new, 1 process x 2 model threads": (1, {"INFERENCE_THREADS": "2"}, None),
}
CORES = 2
# Costs are timed serially: the adult model's thread beside the others changes
# when a verdict comes, not how much CPU an upload takes.
SERIAL = {"INFERENCE_PARALLEL_MODELS": "0"}


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


def summarise(name: str, kind: str, phase: str, uploads: Uploads, states: dict[str, int], offered: str) -> list[object]:
    verdicts = verdict_times(uploads)
    lat = np.array([verdicts[pk] - sent for pk, sent in uploads.sent.items() if pk in verdicts]) * 1000
    span = max(verdicts.values()) - min(uploads.sent.values()) if verdicts else float("nan")
    settled = settled_count(states)
    p50, p95, p99 = np.percentile(lat, [50, 95, 99]) if len(lat) else [float("nan")] * 3
    return [
        name,
        kind,
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


def serve_adult(model: str) -> str:
    """Make `model` ("open_nsfw" or "nsfwjs") the active adult-content version
    (workers started afterwards load it); its name, or why it is not served."""
    from classifier.facade import ModelRole, ModelVersion
    from classifier.registry import active_version, model_version_activate

    wanted = (
        ModelVersion.objects.filter(role=ModelRole.ADULT)
        .filter(architecture__startswith="nsfwjs" if model == "nsfwjs" else "open-nsfw")
        .exclude(architecture__contains="int8")
        .exclude(status="rejected")
        .order_by("-pk")
        .first()
    )
    if wanted is None:
        current = active_version(ModelRole.ADULT)
        return f"{current.name if current else 'none'} ({model} is not installed here)"
    if active_version(ModelRole.ADULT) != wanted:
        model_version_activate(version=wanted, reason=f"bench.pipeline: {model}")
    return wanted.name


def fidelity(version) -> str:
    """A version's recorded fidelity figure, for the table beside its speed."""
    metrics = version.metrics or {}
    figures = metrics.get("fidelity_vs_float") or metrics.get("agreement_with_open_nsfw")
    if figures:
        keys = ("top1_agreement", "decision_agreement", "images")
        shown = [
            f"{k} {figures[k]:.4g}" if isinstance(figures[k], float) else f"{k} {figures[k]}"
            for k in keys
            if k in figures
        ]
        basis = "vs float" if "fidelity_vs_float" in metrics else "vs Open-NSFW"
        return f"{', '.join(shown) or figures} ({basis})"
    if version.role in ("imagenet", "adult"):
        return "reference (the float model)"
    accuracy = metrics.get("accuracy") or metrics.get("test_accuracy")
    return f"test accuracy {accuracy:.4f}" if isinstance(accuracy, float) else "-"


def inference_settings(env: dict[str, str], prefix: str = "INFERENCE_") -> dict[str, object]:
    """Apply a configuration's knobs (those named `prefix`…) to this process's
    settings; the values they replace."""
    from django.conf import settings

    replaced = {}
    for key, raw in env.items():
        if key.startswith(prefix) and hasattr(settings, key):
            current = getattr(settings, key)
            replaced[key] = current
            value = raw.lower() not in ("0", "false", "") if isinstance(current, bool) else type(current)(raw)
            setattr(settings, key, value)
    return replaced


def models_alone(
    still: bytes, gif: bytes, seconds: float, env: dict[str, str]
) -> tuple[dict[str, float], list[list[object]]]:
    """ms per upload of the models alone (decode, every model, PDQ) on one
    still and one GIF, in this process with one thread per model and the
    configuration's inference settings; and each active model's ms per image
    beside its fidelity."""
    from django.conf import settings

    replaced = inference_settings({**env, **SERIAL})
    try:
        return _models_alone(still, gif, seconds)
    finally:
        for key, value in replaced.items():
            setattr(settings, key, value)


def _models_alone(still: bytes, gif: bytes, seconds: float) -> tuple[dict[str, float], list[list[object]]]:
    from django.conf import settings

    from classifier.facade import ModelVersion
    from classifier.inference import _active_models, analyze_frames, forget_loaded_models
    from classifier.ml.hashing import pdq_hash
    from classifier.ml.preprocessing import DECODE_SIDE, image_to_product_pixels, normalize, open_image, photo_input

    forget_loaded_models()
    frames = settings.ANIMATION_SAMPLE_FRAMES
    per_upload = {
        "still": ms_per_call(lambda: analyze_frames(still, max_frames=frames), seconds),
        "gif": ms_per_call(lambda: analyze_frames(gif, max_frames=frames), seconds),
    }
    product, backbone, adult, head = _active_models()
    image = open_image(still, target_side=DECODE_SIDE)
    rows: list[list[object]] = []

    def row(label: str, loaded, call) -> None:
        version = ModelVersion.objects.get(pk=loaded.version_id) if loaded is not None else None
        name = f"{label}: {version.name} ({version.architecture})" if version else label
        rows.append([name, ms_per_call(call, seconds / 2), fidelity(version) if version else "-"])

    rows.append(
        [
            "decode (reduced-size JPEG)",
            ms_per_call(lambda: open_image(still, target_side=DECODE_SIDE), seconds / 2),
            "-",
        ]
    )
    if backbone is not None:
        batch = photo_input(image)[None]
        row("ImageNet tagger", backbone, lambda: backbone.runtime.predict_all(batch))
        embedding = backbone.runtime.output_by_width(backbone.runtime.predict_all(batch), 1280)
    if head and backbone is not None:
        row("product model", product, lambda: product.runtime.predict(embedding))
    else:
        pixels = normalize(image_to_product_pixels(image))[None]
        row("product model", product, lambda: product.runtime.predict(pixels))
    if adult is not None:
        row("adult-content", adult, lambda: adult.runtime.score_images([image]))
    rows.append(["PDQ hash", ms_per_call(lambda: pdq_hash(image), seconds / 2), "exact"])
    return per_upload, rows


def per_upload_costs(
    names: list[str], stills: list[bytes], gifs: list[bytes], rounds: int
) -> tuple[str, dict[tuple[str, str], float]]:
    """CPU time per upload of the web request and of the worker's task, each
    configuration's settings applied in this one process in turn (A B B A),
    the fastest of `rounds` turns: what the platform costs per upload, free of
    the machine's other load that the whole-platform phases share."""
    from django.conf import settings
    from django.core.files.uploadedfile import SimpleUploadedFile
    from rest_framework.test import APIClient

    from classifier.inference import forget_loaded_models
    from moderation.models import Partner
    from moderation.services.partners import partner_create
    from moderation.services.uploads import upload_classify

    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    partner, key = partner_create(name=f"bench-pipeline-inprocess-{time.time_ns()}")
    Partner.objects.filter(pk=partner.pk).update(**PARTNER_WITHOUT_LIMITS)
    client = APIClient()
    knobs = {k for n in names for k in CONFIGURATIONS[n][1]}
    defaults = {k: getattr(settings, k) for k in knobs if hasattr(settings, k)}

    def web(images: list[bytes], n: int) -> tuple[float, list[str]]:
        started, ids = time.perf_counter(), []
        for i in range(n):
            response = client.post(
                "/api/v1/uploads/",
                {"image": SimpleUploadedFile("upload", images[i % len(images)])},
                format="multipart",
                HTTP_AUTHORIZATION=f"Api-Key {key}",
            )
            ids.append(response.json()["id"])
        return (time.perf_counter() - started) / n * 1000, ids

    def worker(ids: list[str]) -> float:
        started = time.perf_counter()
        for upload_id in ids:
            upload_classify(upload_id=upload_id)
        return (time.perf_counter() - started) / len(ids) * 1000

    best: dict[tuple[str, str], float] = {}
    for turn in range(rounds):
        for name in names if turn % 2 == 0 else names[::-1]:
            for k, v in defaults.items():
                setattr(settings, k, v)
            inference_settings({**CONFIGURATIONS[name][1], **SERIAL}, prefix="")
            forget_loaded_models()
            worker(web(stills, 2)[1])  # warm: models loaded, caches filled
            figures = {}
            figures["web, still"], ids = web(stills, 8)
            figures["worker, still"] = worker(ids)
            figures["web, GIF"], ids = web(gifs, 3)
            figures["worker, GIF"] = worker(ids)
            for what, ms in figures.items():
                best[(name, what)] = min(best.get((name, what), float("inf")), ms)
    for k, v in defaults.items():
        setattr(settings, k, v)
    forget_loaded_models()
    rows = []
    for name in names:
        still = best[(name, "web, still")] + best[(name, "worker, still")]
        gif = best[(name, "web, GIF")] + best[(name, "worker, GIF")]
        rows.append(
            [
                name,
                best[(name, "web, still")],
                best[(name, "worker, still")],
                still,
                best[(name, "web, GIF")],
                best[(name, "worker, GIF")],
                gif,
            ]
        )
        best[(name, "still")], best[(name, "GIF")] = still, gif
    headers = ["configuration", "web ms/still", "worker ms/still", "ms/still", "web ms/GIF", "worker ms/GIF", "ms/GIF"]
    return table(headers, rows), best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=5.0, help="fixed-rate phase, stills: uploads per second")
    parser.add_argument("--gif-rate", type=float, default=0.5, help="fixed-rate phase, GIFs: uploads per second")
    parser.add_argument("--seconds", type=float, default=20.0, help="fixed-rate phases: duration")
    parser.add_argument("--burst", type=int, default=200, help="maximum-rate phase, stills: uploads")
    parser.add_argument("--gif-burst", type=int, default=40, help="maximum-rate phase, GIFs: uploads")
    parser.add_argument(
        "--adult-model",
        choices=["open_nsfw", "nsfwjs"],
        default="open_nsfw",
        help="the adult-content model of the configurations without one of their own (new)",
    )
    parser.add_argument(
        "--configurations", default="today;new", help=f"names separated by ';': {'; '.join(CONFIGURATIONS)}"
    )
    parser.add_argument("--models-seconds", type=float, default=3.0, help="timing of the models alone, per upload kind")
    parser.add_argument("--settle-timeout", type=float, default=300.0)
    parser.add_argument("--profile", action="store_true", help="py-spy the worker during one more, unmeasured burst")
    parser.add_argument(
        "--rounds", type=int, default=1, help="rounds of every configuration, in A B B A order; figures are their means"
    )
    parser.add_argument(
        "--cost-rounds", type=int, default=4, help="turns of the in-process per-upload cost comparison (0: none)"
    )
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument(
        "--reuse", action="store_true", help="development: keep the earlier run's scratch database and models"
    )
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.configurations.split(";") if n.strip()]
    unknown = [n for n in names if n not in CONFIGURATIONS]
    if unknown:
        parser.error(f"unknown configurations {unknown}; known: {list(CONFIGURATIONS)}")

    started = time.monotonic()
    stack = Stack("pipeline")
    print("preparing the scratch platform (schema, models, partner)…", flush=True)
    stack.prepare(reuse=args.reuse)
    stack.use_database()
    kinds = {"still 1 MP JPEG": sample_jpegs(), "GIF, 8 frames 480x270": sample_gifs()}
    still_kind, gif_kind = kinds
    rates = {still_kind: (args.rate, args.burst), gif_kind: (args.gif_rate, args.gif_burst)}
    headers = [
        "configuration",
        "upload",
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
    rows: list[list[object]] = []
    ceiling_rows: list[list[object]] = []
    model_rows: list[list[object]] = []
    profiles: dict[str, str] = {}
    # Rounds in A B B A order: a load that drifts over the run weighs on every
    # configuration alike.
    schedule = [(r + 1, n) for r in range(args.rounds) for n in (names if r % 2 == 0 else names[::-1])]
    row_rounds: list[int] = []
    timings: dict[str, list[dict[str, float]]] = collections.defaultdict(list)
    cpu_use: dict[tuple[str, str], list[dict[str, float]]] = collections.defaultdict(list)
    for round_no, name in schedule:
        concurrency, env, adult_model = CONFIGURATIONS[name]
        serving = serve_adult(adult_model or args.adult_model)
        print(f"{name} (round {round_no}): adult-content model {serving}", flush=True)
        stack.start(concurrency=concurrency, env=env)
        try:
            for kind, photos in kinds.items():
                rate, count = rates[kind]
                warm = burst(stack, photos, 4, f"{name} warm-up")
                wait_settled(list(warm.sent), 120)
                uploads, took = fixed_rate(stack, photos, rate, args.seconds, f"{name}, {kind}")
                states = wait_settled(list(uploads.sent), args.settle_timeout)
                rows.append(summarise(name, kind, "fixed rate", uploads, states, f"{len(uploads.sent) / took:.1f}/s"))
                row_rounds.append(round_no)
                print(table(headers, rows[-1:]), flush=True)
                cpu_before, wall_before = stack.cpu_seconds(), time.monotonic()
                uploads = burst(stack, photos, count, f"{name}, {kind}")
                states = wait_settled(list(uploads.sent), args.settle_timeout, poll=0.2)
                cpu_use[(name, kind)].append(
                    cpu_per_upload(cpu_before, stack.cpu_seconds(), len(uploads.sent), time.monotonic() - wall_before)
                )
                rows.append(summarise(name, kind, "maximum rate", uploads, states, "16 clients"))
                row_rounds.append(round_no)
                print(table(headers, rows[-1:]), flush=True)
            if args.profile and name not in profiles:
                profiles[name] = profile_worker(stack, kinds[still_kind], args.burst // 2, args.settle_timeout)
        finally:
            stack.stop()
        per_upload, models = models_alone(kinds[still_kind][0], kinds[gif_kind][0], args.models_seconds, env)
        timings[name].append(per_upload)
        if round_no == 1:
            model_rows += [[name, *r] for r in models]
    for name in names:
        for kind, key in ((still_kind, "still"), (gif_kind, "gif")):
            ms = float(np.mean([t[key] for t in timings[name]]))
            ceiling = CORES * 1000 / ms
            sustained = mean_of(rows, name, kind, "maximum rate", 6)
            ceiling_rows.append([name, kind, ms, ceiling, sustained, f"{100 * sustained / ceiling:.0f} %"])

    costs, cost = (
        ("", {})
        if not args.cost_rounds
        else per_upload_costs(names, kinds[still_kind], kinds[gif_kind], args.cost_rounds)
    )
    output = table(
        [headers[0], "round", *headers[1:]], [[r[0], n, *r[1:]] for r, n in zip(rows, row_rounds, strict=True)]
    )
    output += "\n\n" + table(
        [
            "configuration",
            "upload",
            "models alone ms/upload (1 process, 1 thread)",
            f"models-only ceiling, {CORES} cores (uploads/s)",
            "platform sustained (uploads/s)",
            "platform / ceiling",
        ],
        ceiling_rows,
    )
    output += (
        "\n\nWhere the machine's CPU went in the maximum-rate phases (from the first upload sent to the last "
        "verdict, read from /proc; PostgreSQL and Redis as whole servers), in CPU milliseconds per upload, the "
        "mean over rounds; cores busy = all of it / the phase's wall time:\n\n" + cpu_table(cpu_use)
    )
    output += "\n\n" + table(["configuration", "model (version)", "ms/img (1 thread)", "fidelity"], model_rows)
    if costs:
        output += (
            "\n\nPer upload, the web request and the worker's task timed in one process (the API through DRF's "
            f"test client, then `upload_classify`), each configuration's settings in turn, the fastest of "
            f"{args.cost_rounds} turns, every model in turn (no thread beside): the platform's own CPU cost "
            "per upload, free of the other load the whole-platform phases share the machine with.\n\n" + costs
        )
        if ("today", "still") in cost and ("new", "still") in cost:
            output += (
                f"\n\nUploads per core, new / today: stills {cost[('today', 'still')] / cost[('new', 'still')]:.2f}x, "
                f"8-frame GIFs {cost[('today', 'GIF')] / cost[('new', 'GIF')]:.2f}x (web + worker ms per upload)."
            )
    summary = goals(rows, ceiling_rows, still_kind, gif_kind)
    if summary:
        output += "\n\n" + summary
    for name, profile in profiles.items():
        if profile:
            output += (
                f"\n\nWhere the worker spends its CPU time at maximum rate, {name} (a separate burst of stills "
                "sampled by py-spy at 200 Hz, after the measured phases):\n\n" + profile
            )
    print("\n" + output)
    print(f"\nwhole run: {time.monotonic() - started:.0f} s")
    lost = sum(r[-1] for r in rows)
    if not args.no_write:
        note = (
            "Stills: 1224x816 JPEGs (five scikit-image photos); GIFs: 480x270, 8 frames, each a different photo or "
            "mirror image (no frame judged once for two). Through `POST /api/v1/uploads/`; gunicorn 2 workers x 4 "
            "threads, one Celery worker (2 processes, one thread per model unless named), beat; PostgreSQL and Redis "
            "on the same machine, and the benchmark's 16 client threads too; every model runs on every upload "
            "(product model, EfficientNet-Lite0, the adult-content model, PDQ + bank lookup), on every judged frame "
            "of a GIF. Latency: from the client sending the upload to its `verdict_at`. Verdicts/s: settled uploads "
            f"/ (last verdict - first send). Fixed rate: {args.rate:g}/s stills, {args.gif_rate:g}/s GIFs, for "
            f"{args.seconds:g} s each; maximum rate: {args.burst} stills, {args.gif_burst} GIFs from 16 client "
            f"threads. {args.rounds} round(s) of each configuration in A B B A order; the ceiling and goal tables "
            "take the means over rounds. Configurations: "
            + "; ".join(
                f"{n}: {CONFIGURATIONS[n][0]} worker processes, "
                + (", ".join(f"{k}={v}" for k, v in CONFIGURATIONS[n][1].items()) or "the defaults")
                + f", adult model {CONFIGURATIONS[n][2] or args.adult_model}"
                for n in names
            )
            + "."
        )
        write_section(
            "pipeline",
            "Pipeline: uploads to verdicts, today's configuration against the new one",
            note + "\n\n" + output,
            "python -m bench.pipeline" + "".join(f" {a}" for a in (sys.argv[1:] if argv is None else argv)),
        )
    return 0 if lost == 0 else 1


CPU_PARTS = ["worker", "web", "PostgreSQL", "Redis", "beat", "benchmark client", "other"]


def cpu_per_upload(before: dict[str, float], after: dict[str, float], uploads: int, wall: float) -> dict[str, float]:
    """CPU milliseconds per upload of each part of the machine between two
    Stack.cpu_seconds readings, their total, and the cores they kept busy."""
    used = {part: max(0.0, after.get(part, 0.0) - before.get(part, 0.0)) for part in CPU_PARTS}
    total = sum(used.values())
    return {
        **{part: 1000 * seconds / max(1, uploads) for part, seconds in used.items()},
        "total": 1000 * total / max(1, uploads),
        "cores busy": total / wall if wall > 0 else float("nan"),
    }


def cpu_table(cpu_use: dict[tuple[str, str], list[dict[str, float]]]) -> str:
    columns = [*CPU_PARTS, "total", "cores busy"]
    rows = [
        [name, kind, *(float(np.mean([reading[c] for reading in readings])) for c in columns)]
        for (name, kind), readings in cpu_use.items()
    ]
    return table(["configuration", "upload", *(f"{c} ms" if c not in ("cores busy",) else c for c in columns)], rows)


def mean_of(rows: list[list[object]], name: str, kind: str, phase: str, column: int) -> float:
    """The mean over rounds of one figure of a (configuration, upload, phase)."""
    values = [float(r[column]) for r in rows if (r[0], r[1], r[2]) == (name, kind, phase)]  # type: ignore[arg-type]
    return float(np.mean(values)) if values else float("nan")


def goals(rows: list[list[object]], ceiling_rows: list[list[object]], still: str, gif: str) -> str:
    """The issue's goals, new against today, from this run's figures (means over rounds)."""
    names = {r[0] for r in rows}
    if not {"today", "new"} <= names:
        return ""
    share = {(r[0], r[1]): r[4] / r[3] for r in ceiling_rows}

    def ratio(a: float, b: float) -> float:
        return a / b if b else float("nan")

    rate_new, rate_today = (
        mean_of(rows, "new", still, "maximum rate", 6),
        mean_of(rows, "today", still, "maximum rate", 6),
    )
    p95_new, p95_today = mean_of(rows, "new", still, "fixed rate", 8), mean_of(rows, "today", still, "fixed rate", 8)
    gif_new = mean_of(rows, "new", gif, "maximum rate", 6)
    gif_today = mean_of(rows, "today", gif, "maximum rate", 6)
    lost = sum(int(r[-1]) for r in rows)  # type: ignore[call-overload]
    lines = [
        [
            "sustained stills/s, new / today",
            f"{ratio(rate_new, rate_today):.2f}x ({rate_new:.1f} / {rate_today:.1f})",
            ">= 2x",
        ],
        [
            "platform / its models-only ceiling, new (stills)",
            f"{100 * share.get(('new', still), float('nan')):.0f} %",
            ">= 70 %",
        ],
        [
            "p95 upload->verdict at the fixed still rate, new / today",
            f"{ratio(p95_new, p95_today):.2f} ({p95_new:.0f} / {p95_today:.0f} ms)",
            "<= 0.67",
        ],
        [
            "sustained 8-frame GIFs/s, new / today",
            f"{ratio(gif_new, gif_today):.2f}x ({gif_new:.2f} / {gif_today:.2f})",
            "-",
        ],
        [
            "8-frame GIFs/s / stills/s, new",
            f"{ratio(gif_new, rate_new):.2f} ({gif_new:.2f} / {rate_new:.1f})",
            ">= 0.25",
        ],
        ["lost uploads, every phase", str(lost), "0"],
    ]
    return table(["goal (issue 18)", "this run", "goal"], lines)


if __name__ == "__main__":
    sys.exit(main())
