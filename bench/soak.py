"""Soak: a steady rate of uploads for ten minutes through gunicorn, Celery
workers, beat, PostgreSQL and Redis, with the worker killed (SIGKILL) and
restarted in the middle. Reports uploads sent, final states, and lost (must be 0).

    python -m bench.soak [--minutes 10] [--rate 4] [--no-write]

Runs against a scratch PostgreSQL database (BENCH_DATABASE_URL, default
postgres://postgres@127.0.0.1:5432/moderation_bench) and a Redis database of
its own (BENCH_REDIS_URL, default redis://127.0.0.1:6379/3).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor

from bench.common import ROOT, table, write_section


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=4.0, help="uploads per second")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)

    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.local",
        "DJANGO_DEBUG": "false",
        "DATABASE_URL": os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/moderation_bench"),
        "REDIS_URL": os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/3"),
        "CELERY_QUEUE": f"soak-{uuid.uuid4().hex[:6]}",
        "VAR_DIR": str(ROOT / "var" / "bench-soak"),
        "SWEEP_STUCK_AFTER_SECONDS": "30",
        "LOG_LEVEL": "WARNING",
    }
    env.pop("CELERY_BROKER_URL", None)
    python = sys.executable
    run = lambda *cmd: subprocess.run([python, "manage.py", *cmd], cwd=ROOT, env=env, check=True)  # noqa: E731
    run("migrate", "--verbosity", "0")
    run("install_models")
    run("train_classifier", "--architecture", "seed-cnn", "--epochs", "1", "--limit", "10000", "--if-no-active")
    key = subprocess.run([python, "manage.py", "create_partner", f"soak-{uuid.uuid4().hex[:6]}"], cwd=ROOT, env=env,
                         check=True, capture_output=True, text=True).stdout.split()[-1]
    subprocess.run([python, "manage.py", "shell", "-c",
                    "from moderation.models import Partner; Partner.objects.filter(name__startswith='soak-')"
                    ".update(burst_limit=10**6, sustained_limit=10**7, daily_quota=10**7)"], cwd=ROOT, env=env, check=True)

    port = _free_port()
    logs = open(ROOT / "var" / "bench-soak.log", "ab")

    def start(*cmd):
        return subprocess.Popen([python, "-m", *cmd], cwd=ROOT, env=env, stdout=logs, stderr=subprocess.STDOUT,
                                start_new_session=True)

    worker_cmd = ("celery", "-A", "config", "worker", "--concurrency", "2", "--loglevel", "WARNING", "-Q", env["CELERY_QUEUE"])
    web = start("gunicorn", "config.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", "2", "--threads", "4")
    worker = start(*worker_cmd)
    beat = start("celery", "-A", "config", "beat", "--loglevel", "WARNING", "--schedule",
                 str(ROOT / "var" / "bench-soak-beat"))
    time.sleep(8)

    from io import BytesIO

    from PIL import Image
    from skimage import data as samples

    buffer = BytesIO()
    Image.fromarray(samples.coffee()).resize((1200, 800)).save(buffer, "JPEG", quality=90)
    photo = buffer.getvalue()
    ids, failures, lock = [], [], threading.Lock()

    def send(i: int) -> None:
        boundary = uuid.uuid4().hex
        body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"p{i}.jpg\"\r\n"
                "Content-Type: image/jpeg\r\n\r\n").encode() + photo + f"\r\n--{boundary}--\r\n".encode()
        request = urllib.request.Request(f"http://127.0.0.1:{port}/api/v1/uploads/", data=body, method="POST",
                                         headers={"Authorization": f"Api-Key {key}",
                                                  "Content-Type": f"multipart/form-data; boundary={boundary}"})
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                upload_id = json.loads(response.read())["id"]
            with lock:
                ids.append(upload_id)
        except Exception as exc:  # noqa: BLE001 - counted and reported
            with lock:
                failures.append(repr(exc)[:200])

    duration = args.minutes * 60
    total = int(duration * args.rate)
    started = time.monotonic()
    killed_at = restarted_at = None
    from tqdm import tqdm

    with ThreadPoolExecutor(max_workers=16) as pool:
        for i in tqdm(range(total), desc="uploads sent", unit="upload"):
            target = started + i / args.rate
            time.sleep(max(0.0, target - time.monotonic()))
            pool.submit(send, i)
            elapsed = time.monotonic() - started
            if killed_at is None and elapsed >= duration / 2:
                os.killpg(worker.pid, signal.SIGKILL)
                worker.wait()
                killed_at = elapsed
            if killed_at is not None and restarted_at is None and elapsed >= killed_at + 10:
                worker = start(*worker_cmd)
                restarted_at = elapsed
    sent_seconds = time.monotonic() - started

    os.environ.update({k: env[k] for k in ("DATABASE_URL", "REDIS_URL", "VAR_DIR", "DJANGO_SETTINGS_MODULE")})
    import django

    django.setup()
    from django.db.models import Count

    from moderation.models import SETTLED_STATUSES, Upload

    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        settled = Upload.objects.filter(pk__in=ids, status__in=SETTLED_STATUSES).count()
        if settled == len(ids):
            break
        time.sleep(5)
    states = dict(Upload.objects.filter(pk__in=ids).values_list("status").annotate(n=Count("id")).order_by())
    settled = sum(n for s, n in states.items() if s in SETTLED_STATUSES)
    for proc in (web, worker, beat):
        os.killpg(proc.pid, signal.SIGTERM)
    rows = [
        ["duration", f"{sent_seconds / 60:.1f} min at {args.rate:g} uploads/s (1200x800 JPEG, every model)"],
        ["uploads sent", total],
        ["accepted (202)", len(ids)],
        ["refused or errored requests", len(failures)],
        ["worker killed (SIGKILL) / restarted", f"at {killed_at:.0f} s / at {restarted_at:.0f} s"],
        ["final or in review", settled],
        ["by state", ", ".join(f"{s} {n}" for s, n in sorted(states.items()))],
        ["failed", states.get("failed", 0)],
        ["lost (accepted, never settled)", len(ids) - settled],
    ]
    output = table(["soak", "result"], rows)
    print("\n" + output)
    if failures:
        print("request errors:", failures[:5])
    if not args.no_write:
        write_section("soak", "Soak: ten minutes with a worker killed", output, "python -m bench.soak")
    return 0 if len(ids) == settled and not failures else 1


if __name__ == "__main__":
    sys.exit(main())
