"""Import a list of PDQ hashes (hex, one a line) into a bank and start its
retroactive search: `manage.py bank_import known-bad hashes.txt`."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from moderation.errors import ApplicationError
from moderation.models import HashBank
from moderation.services.banks import bank_hashes_import


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser):
        parser.add_argument("bank", help="the bank's name")
        parser.add_argument("file", type=Path, help="hex PDQ hashes, one a line")
        parser.add_argument("--note", default="", help="kept with every entry")

    def handle(self, *args, bank: str, file: Path, note: str, **options):
        target = HashBank.objects.filter(name=bank).first()
        if target is None:
            raise CommandError(f"No bank named {bank!r}.")
        try:
            lines = file.read_text().splitlines()
            added, search = bank_hashes_import(bank=target, hashes=lines, note=note or f"imported from {file.name}")
        except (OSError, ApplicationError) as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"{added:,} new entries in {target.name!r} ({len(lines):,} lines read).")
        if search is not None:
            self.stdout.write(
                f"Retroactive search #{search.pk} queued over uploads since {search.since:%Y-%m-%d}; "
                "its progress is in the admin (Bank retro searches)."
            )
