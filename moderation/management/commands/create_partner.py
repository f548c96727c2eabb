from django.core.management.base import BaseCommand, CommandError

from moderation.models import Partner
from moderation.services.partners import partner_create


class Command(BaseCommand):
    help = "Create a partner and print its API key (shown once; only a hash is stored)."

    def add_arguments(self, parser):
        parser.add_argument("name")

    def handle(self, *args, name, **options):
        if Partner.objects.filter(name=name).exists():
            raise CommandError(f"A partner named {name!r} exists.")
        partner, raw_key = partner_create(name=name)
        self.stdout.write(f"Partner {partner.name} (id {partner.pk}) created.")
        self.stdout.write(f"API key (shown once, store it now): {raw_key}")
