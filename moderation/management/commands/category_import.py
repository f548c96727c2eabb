"""python manage.py category_import NAME PATH [--negative]: embed every image
of a folder (recursively) or a zip with the active backbone and add them to a
custom category as examples (one audit row each)."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from moderation.errors import ApplicationError
from moderation.services.categories import category_get, examples_import, image_files


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser) -> None:
        parser.add_argument("name", help="the custom category's name")
        parser.add_argument("path", help="a folder of images or a zip file")
        parser.add_argument("--negative", action="store_true", help="add them as negative examples")

    def handle(self, *args, name: str, path: str, negative: bool, **options) -> None:
        source = Path(path)
        if not source.exists():
            raise CommandError(f"{path} does not exist")
        try:
            category = category_get(name=name)
            files = list(image_files(source))
            self.stdout.write(f"embedding {len(files)} images from {path} …")
            added = examples_import(
                actor=None, category=category, files=files, positive=not negative, progress="embedding"
            )
        except ApplicationError as exc:
            raise CommandError(f"{exc.code}: {exc.message}") from None
        polarity = "negative" if negative else "positive"
        self.stdout.write(
            self.style.SUCCESS(
                f"added {len(added)} {polarity} examples to {category.name!r}; a head trains on the training queue"
            )
        )
