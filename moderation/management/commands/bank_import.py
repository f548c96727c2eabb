"""Import a list of PDQ hashes into a bank and start its retroactive search:
`manage.py bank_import known-bad hashes.txt`. The list is one hex hash a
line, ThreatExchange "pdq <hash>" lines, or a CSV with a pdq_hash or
signal_str column (moderation.services.bank_files)."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from moderation.errors import ApplicationError
from moderation.models import HashBank
from moderation.services.bank_files import bank_hashes_parse_checked
from moderation.services.banks import bank_hashes_import


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser):
        parser.add_argument("bank", help="the bank's name")
        parser.add_argument("file", type=Path, help="PDQ hashes: one a line, 'pdq <hash>' lines, or a CSV")
        parser.add_argument("--note", default="", help="kept with every entry")

    def handle(self, *args, bank: str, file: Path, note: str, **options):
        target = HashBank.objects.filter(name=bank).first()
        if target is None:
            raise CommandError(f"No bank named {bank!r}.")
        try:
            parsed = bank_hashes_parse_checked(file.read_text(encoding="utf-8-sig"))
            added, search = bank_hashes_import(
                bank=target, hashes=parsed.hashes, note=note or f"imported from {file.name}"
            )
        except (OSError, UnicodeDecodeError, ApplicationError) as exc:
            raise CommandError(str(exc)) from exc
        skipped = f", {parsed.skipped:,} of other signal types skipped" if parsed.skipped else ""
        self.stdout.write(
            f"{added:,} new entries in {target.name!r} ({len(parsed.hashes):,} hashes read as {parsed.format}{skipped})."
        )
        if search is not None:
            self.stdout.write(
                f"Retroactive search #{search.pk} queued over uploads since {search.since:%Y-%m-%d}; "
                "its progress is in the admin (Bank retro searches)."
            )
