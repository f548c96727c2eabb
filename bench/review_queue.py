"""Review queue page: server time and database queries with 10k and 100k pending items.

    python -m bench.review_queue [--items 100000] [--no-write]

Uses a scratch database: on PostgreSQL when BENCH_DATABASE_URL is set (e.g.
postgres://postgres@127.0.0.1:5432/moderation_bench; this benchmark uses that
name + "_queue", created when missing), else SQLite under var/bench-queue/.
The page is requested in-process (Django's test client), so the time is the
server's own: view, queries, template.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import uuid

from bench.common import ROOT, table, write_section


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    os.environ["VAR_DIR"] = str(ROOT / "var" / "bench-queue")
    if os.environ.get("BENCH_DATABASE_URL"):
        from bench.stack import ensure_database

        # A database of its own: it empties the uploads table and leaves 100k items.
        url = os.environ["BENCH_DATABASE_URL"] + "_queue"
        ensure_database(url)
        os.environ["DATABASE_URL"] = url
    else:
        os.environ.pop("DATABASE_URL", None)
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.local"
    os.environ["DJANGO_DEBUG"] = "false"
    os.environ["DJANGO_ALLOWED_HOSTS"] = "testserver,127.0.0.1"
    import django

    django.setup()
    from django.core.files.base import ContentFile
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.utils import timezone

    from classifier.models import ModelVersion
    from moderation.models import Prediction, Upload, UploadStatus
    from moderation.services.accounts import moderator_create

    call_command("migrate", verbosity=0)
    Prediction.objects.all().delete()
    Upload.objects.all().delete()
    version = ModelVersion.objects.filter(role="product").first()
    if version is None:
        version = ModelVersion(role="product", architecture="seed-cnn", class_names=["a", "b"], status="retired")
        version.artifact.save("model.tflite", ContentFile(b"x"), save=False)
        version.save()
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.filter(username="bench-mod").first() or moderator_create(username="bench-mod")[0]
    client = Client()
    client.force_login(user)
    rows = []
    made = 0
    for target in sorted({10_000, args.items}):
        now = timezone.now()
        batch = []
        while made < target:
            upload = Upload(
                id=uuid.uuid4(),
                image="uploads/bench.png",
                image_format="PNG",
                content_type="image/png",
                width=28,
                height=28,
                byte_size=1,
                sha256="0" * 64,
                status=UploadStatus.IN_REVIEW,
                created_at=now,
                review_rank=float(made % 997),
            )
            batch.append(upload)
            made += 1
            if len(batch) == 5000 or made == target:
                Upload.objects.bulk_create(batch)
                Prediction.objects.bulk_create(
                    [
                        Prediction(upload=u, model_version=version, label="a", score=0.6, scores={"a": 0.6, "b": 0.4})
                        for u in batch
                    ]
                )
                batch = []
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE moderation_upload; ANALYZE moderation_prediction;")
        client.get("/review/")
        times, counts = [], []
        for _ in range(20):
            executed = []
            with connection.execute_wrapper(lambda execute, sql, *a, log=executed: log.append(sql) or execute(sql, *a)):
                started = time.perf_counter()
                response = client.get("/review/")
                times.append((time.perf_counter() - started) * 1000)
            counts.append(len(executed))
            assert response.status_code == 200
        deep = client.get("/review/").content.decode()
        rows.append(
            [
                f"{target:,}",
                connection.vendor,
                statistics.median(times),
                max(times),
                max(counts),
                "yes" if 'rel="next"' in deep else "no",
            ]
        )
        print(f"measured {target:,}", flush=True)
    output = table(
        ["pending items", "database", "median ms", "max ms (20 requests)", "queries", "next page link"], rows
    )
    print("\n" + output)
    if not args.no_write:
        write_section(
            "review_queue",
            "Review queue page",
            "Server time of GET /review/ (50 items a page, keyset pagination), measured in-process.\n\n" + output,
            "python -m bench.review_queue",
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
