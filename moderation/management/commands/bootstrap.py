from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand

from classifier.facade import training_run_upgrade_queue
from classifier.registry import active_version_id
from moderation.services.accounts import moderator_create, moderator_exists


class Command(BaseCommand):
    help = (
        "Make a fresh install usable: a demo moderator, the pretrained models, an active product model, and "
        "(once) a background run of the stronger architecture."
    )

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
        run = training_run_upgrade_queue(architecture=settings.UPGRADE_ARCHITECTURE)
        if run is not None:
            self.stdout.write(
                f"Queued training run {run.pk}: {run.architecture} from scratch, in the background at a lower CPU "
                "priority; the gate promotes it if it beats the baseline (progress: admin, /lead/metrics/)."
            )
