"""Write a bank's PDQ hashes to a file or stdout:
`manage.py bank_export known-bad --format threatexchange > known-bad.txt`.
Formats: csv (ours), threatexchange ("pdq <hash>" a line, the signal file
HMA and the threatexchange CLI read), threatexchange-csv (what
`threatexchange dataset -P --csv` prints)."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from moderation.models import HashBank
from moderation.services.bank_files import EXPORT_FORMATS, bank_export_lines


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser):
        parser.add_argument("bank", help="the bank's name")
        parser.add_argument("--format", choices=list(EXPORT_FORMATS), default="csv")

    def handle(self, *args, bank: str, format: str, **options):
        target = HashBank.objects.filter(name=bank).first()
        if target is None:
            raise CommandError(f"No bank named {bank!r}.")
        count = 0
        for line in bank_export_lines(target, format):
            self.stdout.write(line, ending="")
            count += 1
        self.stderr.write(f"{target.name!r}: {count:,} lines written as {format}.")
