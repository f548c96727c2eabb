"""Start web server, Celery workers and Celery beat; stop them all on Ctrl-C.

Three workers: one for uploads (the default queue); one for webhook
deliveries (their own queue, so a slow partner never holds a classification
slot); and one for training (its own queue, one task at a time, at a lower CPU
priority), so that a model training in the background never holds a verdict
back."""

import os
import signal
import subprocess
import sys
import time

from django.conf import settings
from django.core.management.base import BaseCommand


def platform_commands(
    *, bind: str, web_workers: int, concurrency: int, webhook_concurrency: int = 2
) -> dict[str, tuple[list[str], int]]:
    """Each process's command line and niceness."""
    python = sys.executable
    celery = [python, "-m", "celery", "-A", "config"]
    return {
        "web": (
            [
                python,
                "-m",
                "gunicorn",
                "config.wsgi",
                "--bind",
                bind,
                "--workers",
                str(web_workers),
                "--threads",
                "4",
                "--access-logfile",
                "-",
            ],
            0,
        ),
        "worker": (
            [
                *celery,
                "worker",
                "--loglevel",
                "INFO",
                "--concurrency",
                str(concurrency),
                "--hostname",
                "worker@%h",
                "--queues",
                settings.CELERY_TASK_DEFAULT_QUEUE,
            ],
            0,
        ),
        # Deliveries wait on partners, not on the CPU.
        "webhooks": (
            [
                *celery,
                "worker",
                "--loglevel",
                "INFO",
                "--concurrency",
                str(webhook_concurrency),
                "--hostname",
                "webhooks@%h",
                "--queues",
                settings.CELERY_WEBHOOK_QUEUE,
            ],
            0,
        ),
        "trainer": (
            [
                *celery,
                "worker",
                "--loglevel",
                "INFO",
                "--concurrency",
                "1",
                "--hostname",
                "trainer@%h",
                "--queues",
                settings.CELERY_TRAINING_QUEUE,
            ],
            settings.TRAINING_WORKER_NICENESS,
        ),
        "beat": ([*celery, "beat", "--loglevel", "INFO"], 0),
    }


def default_web_workers() -> int:
    """Two web processes when the cache is shared between processes; one when
    it is local to each (a laptop without Redis), so that every request is
    counted against the same rate limits and quotas."""
    return 1 if settings.CACHES["default"]["BACKEND"].endswith("LocMemCache") else 2


class Command(BaseCommand):
    help = (
        "Run the web server (gunicorn), Celery workers for uploads, webhook deliveries and training, "
        "and Celery beat until interrupted."
    )

    def add_arguments(self, parser):
        parser.add_argument("--bind", default="127.0.0.1:8000")
        parser.add_argument(
            "--web-workers",
            type=int,
            default=None,
            help="web processes (default: 2 on a shared cache such as Redis; 1 on a process-local cache, "
            "whose rate-limit counters and quotas another process would not see)",
        )
        parser.add_argument("--concurrency", type=int, default=2)
        parser.add_argument(
            "--webhook-concurrency",
            type=int,
            default=2,
            help="processes delivering webhooks (they wait on partners, not on the CPU)",
        )

    def handle(self, *args, bind, web_workers, concurrency, webhook_concurrency, **options):
        if web_workers is None:
            web_workers = default_web_workers()
        commands = platform_commands(
            bind=bind, web_workers=web_workers, concurrency=concurrency, webhook_concurrency=webhook_concurrency
        )
        processes: dict[str, subprocess.Popen] = {}
        stopping = False

        def stop(*_):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        env = os.environ.copy()
        for name, (command, nice) in commands.items():
            # Own process groups, so that the terminal's Ctrl-C reaches us
            # once and we stop the children in order.
            processes[name] = subprocess.Popen(
                command, env=env, start_new_session=True, preexec_fn=(lambda n=nice: os.nice(n)) if nice else None
            )
            self.stdout.write(f"started {name} (pid {processes[name].pid})")
        self.stdout.write(self.style.SUCCESS(f"Platform running on http://{bind}/ — press Ctrl-C to stop."))
        try:
            while not stopping:
                exited = [name for name, proc in processes.items() if proc.poll() is not None]
                if exited:
                    self.stderr.write(f"{', '.join(exited)} exited; stopping the rest.")
                    break
                time.sleep(0.5)
        finally:
            for proc in processes.values():
                if proc.poll() is None:
                    proc.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + 15
            for name, proc in processes.items():
                try:
                    proc.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
                self.stdout.write(f"stopped {name} (exit {proc.returncode})")
