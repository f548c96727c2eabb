"""A burst of stills through the API of a platform that is already running
(`make run`: SQLite and the filesystem broker on one machine), timed from the
first send to the last verdict.

    make run        # in one terminal
    DJANGO_SETTINGS_MODULE=config.settings.local .venv/bin/python -m bench.api_burst [--uploads 40] [--clients 4]

It shares the running platform's database: it makes a partner without rate
limits (`bench-burst-…`, its key revoked when the burst ends), sends one-megapixel JPEGs of
scikit-image's photos from `--clients` threads, and waits for every verdict.
Prints its figures; writes nothing to docs (the platform it measures is
whatever is running).
"""

from __future__ import annotations

import argparse
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

from tqdm import tqdm

from bench.common import PARTNER_WITHOUT_LIMITS
from bench.stack import api_upload, sample_jpegs, settled_count, wait_settled


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--uploads", type=int, default=40)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds to wait for the verdicts")
    args = parser.parse_args(argv)

    import django

    django.setup()
    from django.conf import settings

    from moderation.models import ApiKey, Partner
    from moderation.services.partners import api_key_revoke, partner_create

    partner, key = partner_create(name=f"bench-burst-{uuid.uuid4().hex[:6]}")
    Partner.objects.filter(pk=partner.pk).update(**PARTNER_WITHOUT_LIMITS)
    photos = sample_jpegs()
    started = time.monotonic()
    try:
        with ThreadPoolExecutor(args.clients) as clients:
            sends = clients.map(lambda i: api_upload(args.url, key, photos[i % len(photos)]), range(args.uploads))
            ids = list(tqdm(sends, total=args.uploads, desc="sending", unit="upload"))
        sent = time.monotonic() - started
        states = wait_settled(ids, args.timeout, poll=0.1)
        elapsed = time.monotonic() - started
    finally:
        for api_key in ApiKey.objects.filter(partner=partner):
            api_key_revoke(key=api_key)
    settled = settled_count(states)
    print(
        f"{args.uploads} stills from {args.clients} clients to {args.url} "
        f"(broker {settings.CELERY_BROKER_URL.split(':')[0]}, database {settings.DATABASES['default']['ENGINE'].rsplit('.', 1)[-1]}): "
        f"sent in {sent:.1f} s, {settled} settled after {elapsed:.1f} s -> {settled / elapsed:.2f} uploads/s; "
        f"states {states}"
    )
    return 0 if settled == args.uploads else 1


if __name__ == "__main__":
    raise SystemExit(main())
