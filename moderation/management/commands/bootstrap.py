from django.core.management import call_command
from django.core.management.base import BaseCommand

from classifier.registry import active_version_id
from moderation.services.accounts import moderator_create, moderator_exists


class Command(BaseCommand):
    help = "Make a fresh install usable: a demo moderator and an active product model."

    def add_arguments(self, parser):
        parser.add_argument("--epochs", type=int, default=5, help="Epochs for the baseline model.")

    def handle(self, *args, epochs, **options):
        if not moderator_exists():
            user, password = moderator_create(username="moderator")
            self.stdout.write(self.style.SUCCESS("Demo moderator created (shown once):"))
            self.stdout.write(f"  username: {user.username}\n  password: {password}")
        self.stdout.write("Pretrained models (ImageNet tagger, adult-content scorer):")
        call_command("install_models")
        if active_version_id() is None:
            self.stdout.write("No active product model: training the baseline (seed-cnn) on Fashion-MNIST…")
            call_command("train_classifier", architecture="seed-cnn", epochs=epochs, activate="if-none")
        else:
            self.stdout.write("An active product model is in place.")
