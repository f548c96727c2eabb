"""Soak: a steady rate of uploads for ten minutes through gunicorn, Celery
workers, beat, PostgreSQL and Redis, with the worker killed (SIGKILL) and
restarted in the middle. Reports uploads sent, final states, and lost (must be 0).

    python -m bench.soak [--minutes 10] [--rate 4] [--no-write]

The platform runs as in bench.stack (scratch database, own Redis database and queue).
"""

from __future__ import annotations

import argparse
import sys
import time
from concurrent.futures import ThreadPoolExecutor

from tqdm import tqdm

from bench.common import table, write_section
from bench.stack import Stack, Uploads, sample_jpegs, settled_count, wait_settled


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=4.0, help="uploads per second")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)

    stack = Stack("soak")
    stack.prepare()
    stack.env["SWEEP_STUCK_AFTER_SECONDS"] = "30"
    stack.start()
    stack.use_database()
    photos = sample_jpegs(size=(1200, 800))
    uploads = Uploads()
    duration = args.minutes * 60
    total = int(duration * args.rate)
    started = time.monotonic()
    killed_at = restarted_at = None
    with ThreadPoolExecutor(max_workers=16) as pool:
        for i in tqdm(range(total), desc="uploads sent", unit="upload"):
            time.sleep(max(0.0, started + i / args.rate - time.monotonic()))
            pool.submit(uploads.send, stack, photos[i % len(photos)])
            elapsed = time.monotonic() - started
            if killed_at is None and elapsed >= duration / 2:
                stack.kill_worker()
                killed_at = elapsed
            if killed_at is not None and restarted_at is None and elapsed >= killed_at + 10:
                stack.start_worker()
                restarted_at = elapsed
    sent_seconds = time.monotonic() - started
    try:
        states = wait_settled(list(uploads.sent), 300)
    finally:
        stack.stop()
    settled = settled_count(states)
    rows = [
        ["duration", f"{sent_seconds / 60:.1f} min at {args.rate:g} uploads/s (1200x800 JPEGs, every model)"],
        ["uploads sent", total],
        ["accepted (202)", len(uploads.sent)],
        ["refused or errored requests", len(uploads.failures)],
        ["worker killed (SIGKILL) / restarted", f"at {killed_at:.0f} s / at {restarted_at:.0f} s"],
        ["final or in review", settled],
        ["by state", ", ".join(f"{s} {n}" for s, n in sorted(states.items()))],
        ["failed", states.get("failed", 0)],
        ["lost (accepted, never settled)", len(uploads.sent) - settled],
    ]
    output = table(["soak", "result"], rows)
    print("\n" + output)
    if uploads.failures:
        print("request errors:", uploads.failures[:5])
    if not args.no_write:
        write_section("soak", "Soak: ten minutes with a worker killed", output, "python -m bench.soak")
    return 0 if len(uploads.sent) == settled and not uploads.failures else 1


if __name__ == "__main__":
    sys.exit(main())
