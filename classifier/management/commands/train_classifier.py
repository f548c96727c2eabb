from django.core.management.base import BaseCommand, CommandError

from classifier.ml.architectures import ARCHITECTURES
from classifier.ml.datasets import DatasetNotFound
from classifier.registry import active_version_id
from classifier.services import product_model_train


class Command(BaseCommand):
    help = "Train a product classifier on Fashion-MNIST and register it as a model version."

    def add_arguments(self, parser):
        parser.add_argument("--architecture", default="seed-cnn", choices=sorted(ARCHITECTURES))
        parser.add_argument("--epochs", type=int, default=5)
        parser.add_argument("--limit", type=int, default=None, help="Train on the first N images only.")
        parser.add_argument("--test-limit", type=int, default=None)
        parser.add_argument(
            "--activate",
            choices=["always", "never", "if-none"],
            default="if-none",
            help="Activate the new version always, never, or only when none is active (default).",
        )
        parser.add_argument("--if-no-active", action="store_true", help="Do nothing when a version is active.")
        parser.add_argument("--threads", type=int, default=None)

    def handle(self, *args, **options):
        if options["if_no_active"] and active_version_id() is not None:
            self.stdout.write("An active product model exists; nothing to train.")
            return
        try:
            version = product_model_train(
                architecture=options["architecture"],
                epochs=options["epochs"],
                train_limit=options["limit"],
                test_limit=options["test_limit"],
                activate=options["activate"],
                threads=options["threads"],
            )
        except DatasetNotFound as exc:
            raise CommandError(str(exc)) from exc
        metrics, training = version.metrics, version.training
        worst = sorted(metrics["per_class"].items(), key=lambda kv: kv[1]["f1"])[:3]
        lines = [
            "",
            f"Model version    {version.name}  ({version.status})",
            f"Architecture     {version.architecture}, {training['epochs']} epochs",
            f"Trained on       {training['base_examples']} images in {training['train_seconds']:.1f} s",
            f"Test accuracy    {metrics['accuracy']:.4f}  on {metrics['support']} images",
            f"Macro F1         {metrics['macro_f1']:.4f}",
            "Weakest classes  " + ", ".join(f"{name} (F1 {m['f1']:.3f})" for name, m in worst),
            f"Artifact         {version.artifact.name}",
        ]
        self.stdout.write("\n".join(lines))
