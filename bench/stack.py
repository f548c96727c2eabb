"""A whole platform on this machine for the end-to-end benchmarks: gunicorn,
Celery worker(s) and beat on PostgreSQL and Redis, with a partner key and
1-megapixel-class JPEGs to upload.

Runs against a scratch PostgreSQL database (BENCH_DATABASE_URL, default
postgres://postgres@127.0.0.1:5432/moderation_bench, created anew by each run), its
media under var/bench-platform/, and a Redis database of its own
(BENCH_REDIS_URL, default redis://127.0.0.1:6379/3); each start gets its own
Celery queue, so runs never share messages.
"""

from __future__ import annotations

import json
import mimetypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from io import BytesIO
from pathlib import Path

from bench.common import PARTNER_WITHOUT_LIMITS, ROOT

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/moderation_bench"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def sample_jpegs(size: tuple[int, int] = (1224, 816), quality: int = 90) -> list[bytes]:
    """Real photos (scikit-image's samples) as JPEGs of about one megapixel."""
    from PIL import Image
    from skimage import data as samples

    photos = []
    for name in ("coffee", "chelsea", "astronaut", "rocket", "immunohistochemistry"):
        pixels = getattr(samples, name)()
        buffer = BytesIO()
        Image.fromarray(pixels).convert("RGB").resize(size).save(buffer, "JPEG", quality=quality)
        photos.append(buffer.getvalue())
    return photos


def sample_gifs(size: tuple[int, int] = (480, 270), frames: int = 8) -> list[bytes]:
    """Animated GIFs of `frames` different photos each (no two frames alike,
    so none is judged once for two), 100 ms a frame."""
    from PIL import Image, ImageOps
    from skimage import data as samples

    names = ("coffee", "chelsea", "astronaut", "rocket", "immunohistochemistry")
    photos = [Image.fromarray(getattr(samples, n)()).convert("RGB").resize(size) for n in names]
    photos += [ImageOps.mirror(p) for p in photos]
    gifs = []
    for start in range(len(names)):
        chosen = [photos[(start + i) % len(photos)] for i in range(frames)]
        buffer = BytesIO()
        chosen[0].save(buffer, "GIF", save_all=True, append_images=chosen[1:], duration=100, loop=0)
        gifs.append(buffer.getvalue())
    return gifs


def ensure_database(url: str, *, fresh: bool = False) -> None:
    """Create the PostgreSQL database named in `url` when missing (dropped and
    created anew with `fresh`)."""
    import psycopg

    name = url.rsplit("/", 1)[1]
    with psycopg.connect(url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
        if fresh:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


class Stack:
    """One platform: prepared once, then started and stopped per configuration."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings.local",
            "DJANGO_DEBUG": "false",
            "DATABASE_URL": os.environ.get("BENCH_DATABASE_URL", DEFAULT_DATABASE_URL),
            "REDIS_URL": os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/3"),
            # One media folder for every stack: they share the database, and
            # its model versions point at files in it.
            "VAR_DIR": str(ROOT / "var" / "bench-platform"),
            "LOG_LEVEL": "WARNING",
            # Measure the pipeline, not the QA sampler's extra rows.
            "QA_SAMPLE_RATE": "0",
        }
        self.env.pop("CELERY_BROKER_URL", None)
        self.base_env = dict(self.env)
        self.var = Path(self.env["VAR_DIR"])
        self.var.mkdir(parents=True, exist_ok=True)
        self.processes: dict[str, subprocess.Popen] = {}
        self.port = free_port()
        self.key = ""
        self.log = open(ROOT / "var" / f"bench-{name}.log", "ab")  # noqa: SIM115 - open for the stack's life

    def manage(self, *args: str, capture: bool = False) -> str:
        result = subprocess.run(
            [sys.executable, "manage.py", *args], cwd=ROOT, env=self.env, check=True, capture_output=capture, text=True
        )
        return result.stdout if capture else ""

    def prepare(self, *, reuse: bool = False) -> None:
        """A fresh database and media folder (nothing left from an earlier run),
        the photo models, a product model, and a partner without limits.
        `reuse` (development): keep an earlier run's database and models,
        only migrating it and adding a partner."""
        if not reuse:
            ensure_database(self.env["DATABASE_URL"], fresh=True)
            shutil.rmtree(self.var / "media", ignore_errors=True)
        self.manage("migrate", "--verbosity", "0")
        if not reuse:
            self.manage("install_models")
            self.manage("train_classifier", "--architecture", "seed-cnn", "--epochs", "1", "--limit", "10000")
        partner = f"bench-{self.name}-{uuid.uuid4().hex[:6]}"
        self.key = self.manage("create_partner", partner, capture=True).split()[-1]
        self.manage(
            "shell",
            "-c",
            "from moderation.models import Partner; "
            f"Partner.objects.filter(name={partner!r})"
            f".update(**{PARTNER_WITHOUT_LIMITS!r})",
        )

    def _start(self, role: str, args: list[str], env: dict[str, str]) -> None:
        self.processes[role] = subprocess.Popen(
            [sys.executable, "-m", *args],
            cwd=ROOT,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def start(
        self,
        *,
        web_workers: int = 2,
        web_threads: int = 4,
        concurrency: int = 2,
        beat: bool = True,
        worker_env: dict[str, str] | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        """Web, worker (with `worker_env` on top) and beat, on a queue of their
        own; `env` (settings for every process) stays until the next start."""
        self.env = {**self.base_env, **(env or {})}
        self.env["CELERY_QUEUE"] = f"{self.name}-{uuid.uuid4().hex[:6]}"
        self._worker = (
            [
                "celery",
                "-A",
                "config",
                "worker",
                "--concurrency",
                str(concurrency),
                "--loglevel",
                "WARNING",
                "-Q",
                self.env["CELERY_QUEUE"],
            ],
            {**self.env, **(worker_env or {})},
        )
        self._start(
            "web",
            [
                "gunicorn",
                "config.wsgi",
                "--bind",
                f"127.0.0.1:{self.port}",
                "--workers",
                str(web_workers),
                "--threads",
                str(web_threads),
            ],
            self.env,
        )
        self.start_worker()
        if beat:
            self._start(
                "beat",
                [
                    "celery",
                    "-A",
                    "config",
                    "beat",
                    "--loglevel",
                    "WARNING",
                    "--schedule",
                    str(ROOT / "var" / f"bench-{self.name}-beat"),
                ],
                self.env,
            )
        self.wait_ready()

    def start_worker(self) -> None:
        self._start("worker", *self._worker)

    def kill_worker(self) -> None:
        proc = self.processes.pop("worker")
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health/", timeout=5) as response:
                    if response.status == 200:
                        break
            except OSError:
                time.sleep(0.5)
        else:
            raise RuntimeError(f"the web server did not answer within {timeout:.0f} s; see var/bench-{self.name}.log")
        time.sleep(3)  # the worker's start-up (model loading happens on the first task)

    def stop(self) -> None:
        for proc in self.processes.values():
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                continue
        for proc in self.processes.values():
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        self.processes.clear()

    def cpu_seconds(self) -> dict[str, float]:
        """CPU seconds (user + system) used so far by each part of the machine
        the platform runs on: its web, worker and beat process groups, the
        PostgreSQL and Redis servers (with anything else they serve), this
        benchmark's own process, and everything else. Each process counts with
        the children it has reaped (a recycled prefork child, a PostgreSQL
        backend that closed), so a difference of two readings holds the CPU of
        processes that ended between them. Linux (/proc)."""
        groups = {proc.pid: role for role, proc in self.processes.items()}
        tick = os.sysconf("SC_CLK_TCK")
        used: dict[str, float] = {}
        with os.scandir("/proc") as entries:
            for entry in entries:
                if not entry.name.isdigit():
                    continue
                try:
                    stat = Path(entry.path, "stat").read_text()
                except OSError:  # ended meanwhile
                    continue
                command = stat[stat.index("(") + 1 : stat.rindex(")")]
                fields = stat[stat.rindex(")") + 2 :].split()
                # fields[2]: the process group; [11] to [14]: utime, stime, and those of reaped children, in ticks.
                if int(entry.name) == os.getpid():
                    part = "benchmark client"
                elif int(fields[2]) in groups:
                    part = groups[int(fields[2])]
                elif command == "postgres":
                    part = "PostgreSQL"
                elif command.startswith("redis-server"):
                    part = "Redis"
                else:
                    part = "other"
                used[part] = used.get(part, 0.0) + sum(int(f) for f in fields[11:15]) / tick
        return used

    def upload(self, photo: bytes, name: str = "") -> str:
        """POST one image through the partner API; the upload's id."""
        return api_upload(f"http://127.0.0.1:{self.port}", self.key, photo, name)

    def use_database(self) -> None:
        """Point this process's Django at the stack's database (for reading results)."""
        os.environ.update({k: self.env[k] for k in ("DATABASE_URL", "REDIS_URL", "VAR_DIR", "DJANGO_SETTINGS_MODULE")})
        import django

        django.setup()


def api_post_image(base_url: str, key: str, image: bytes, name: str = "", timeout: float = 60) -> tuple[int, dict]:
    """POST one image through a running platform's partner API: (HTTP status, JSON body)."""
    boundary = uuid.uuid4().hex
    name = name or ("animation.gif" if image.startswith(b"GIF8") else "photo.jpg")
    content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="{name}"\r\n'
            f"Content-Type: {content_type}\r\n\r\n"
        ).encode()
        + image
        + f"\r\n--{boundary}--\r\n".encode()
    )
    request = urllib.request.Request(
        f"{base_url}/api/v1/uploads/",
        data=body,
        method="POST",
        headers={"Authorization": f"Api-Key {key}", "Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return response.status, json.loads(response.read())


def api_upload(base_url: str, key: str, photo: bytes, name: str = "") -> str:
    """POST one image through a running platform's partner API; the upload's id."""
    return api_post_image(base_url, key, photo, name)[1]["id"]


class Uploads:
    """Uploads sent by client threads: ids with their send times, and errors."""

    def __init__(self) -> None:
        self.sent: dict[str, float] = {}
        self.failures: list[str] = []
        self._lock = threading.Lock()

    def send(self, stack: Stack, photo: bytes) -> None:
        started = time.time()
        try:
            upload_id = stack.upload(photo)
        except Exception as exc:  # noqa: BLE001 - counted and reported
            with self._lock:
                self.failures.append(repr(exc)[:200])
            return
        with self._lock:
            self.sent[upload_id] = started


def wait_settled(ids: list[str], timeout: float, poll: float = 1.0) -> dict[str, int]:
    """Wait until every upload reached a settled state (or the timeout),
    looking every `poll` seconds; counts by state."""
    from django.db.models import Count

    from moderation.models import SETTLED_STATUSES, Upload

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if Upload.objects.filter(pk__in=ids, status__in=SETTLED_STATUSES).count() == len(ids):
            break
        time.sleep(poll)
    return dict(Upload.objects.filter(pk__in=ids).values_list("status").annotate(n=Count("id")).order_by())


def settled_count(states: dict[str, int]) -> int:
    from moderation.models import SETTLED_STATUSES

    return sum(n for state, n in states.items() if state in SETTLED_STATUSES)
