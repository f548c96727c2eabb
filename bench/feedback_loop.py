"""The feedback loop, end to end, in a scratch installation (its own SQLite
database and media under var/bench-feedback/), so nothing of yours is touched.

    python -m bench.feedback_loop [--corrections 500] [--no-write]

Runs `python manage.py feedback_loop --photos bench/data/feedback_photos`
there (the Fashion-MNIST case, then the real-photo case) and records its
printout in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import sys
from contextlib import redirect_stdout

from bench.common import ROOT, write_section


class Tee(io.TextIOBase):
    def __init__(self, *streams):
        self.streams = streams

    def write(self, text):
        for stream in self.streams:
            stream.write(text)
        return len(text)

    def flush(self):
        for stream in self.streams:
            stream.flush()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corrections", type=int, default=500)
    parser.add_argument("--evaluate", type=int, default=2000)
    parser.add_argument("--shuffled", type=int, default=300)
    parser.add_argument("--photo-corrections", type=int, default=67, help="real photos (hoodies) a moderator labels")
    parser.add_argument("--keep", action="store_true", help="reuse the scratch installation (and its baseline)")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)

    scratch = ROOT / "var" / "bench-feedback"
    if scratch.exists() and not args.keep:
        shutil.rmtree(scratch)
    os.environ["VAR_DIR"] = str(scratch)
    os.environ.pop("DATABASE_URL", None)
    os.environ.pop("MEDIA_ROOT", None)
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.local"
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    captured = io.StringIO()
    with redirect_stdout(Tee(sys.stdout, captured)):
        call_command(
            "feedback_loop",
            corrections=args.corrections,
            evaluate=args.evaluate,
            shuffled=args.shuffled,
            photos=str(ROOT / "bench" / "data" / "feedback_photos"),
            photo_corrections=args.photo_corrections,
            stdout=sys.stdout,
        )
    if not args.no_write:
        write_section(
            "feedback_loop",
            "The feedback loop: corrections → retraining → gate",
            "The same as `python manage.py feedback_loop`, in a scratch installation.\n\n"
            "```\n" + captured.getvalue().strip() + "\n```",
            "python -m bench.feedback_loop",
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
