from django.core.management.base import BaseCommand, CommandError

from classifier.ml.architectures import ARCHITECTURES
from classifier.ml.datasets import DatasetNotFound
from classifier.registry import active_version_id
from classifier.retraining import TrainingBusy, product_model_train


class Command(BaseCommand):
    help = "Train a product classifier on Fashion-MNIST and register it as a model version."

    def add_arguments(self, parser):
        parser.add_argument("--architecture", default="seed-cnn", choices=sorted(ARCHITECTURES))
        parser.add_argument("--epochs", type=int, default=None, help="default: the architecture's recipe")
        parser.add_argument(
            "--minutes",
            type=float,
            default=None,
            help="Train as many epochs as fit in this many minutes, at most the recipe's "
            "(default: the recipe's budget; bn-cnn has 18 minutes).",
        )
        parser.add_argument("--limit", type=int, default=None, help="Train on the first N images only.")
        parser.add_argument("--test-limit", type=int, default=None)
        parser.add_argument(
            "--activate",
            choices=["always", "never", "if-none", "gate"],
            default="if-none",
            help="Activate the new version always, never, only when none is active (default), "
            "or when the promotion gate prefers it to the active version.",
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
                time_budget_seconds=options["minutes"] * 60 if options["minutes"] else None,
                train_limit=options["limit"],
                test_limit=options["test_limit"],
                activate=options["activate"],
                threads=options["threads"],
            )
        except (DatasetNotFound, TrainingBusy) as exc:
            raise CommandError(str(exc)) from exc
        metrics, training = version.metrics, version.training
        gate = version.gate or {}
        worst = sorted(metrics["per_class"].items(), key=lambda kv: kv[1]["f1"])[:3]
        lines = [
            "",
            f"Model version    {version.name}  ({version.status})",
            f"Architecture     {version.architecture}, {training['epochs']} epochs",
            f"Trained on       {training['base_examples']} base images + {training.get('corrections', 0)} "
            f"moderator examples in {training['train_seconds']:.1f} s",
            f"Test accuracy    {metrics['accuracy']:.4f}  on {metrics['support']} images",
            f"Macro F1         {metrics['macro_f1']:.4f}",
            "Weakest classes  " + ", ".join(f"{name} (F1 {m['f1']:.3f})" for name, m in worst),
            f"Artifact         {version.artifact.name}",
        ]
        if gate:
            lines.append(f"Gate             {'promoted' if gate.get('promote') else 'rejected'}: {gate.get('reason')}")
        self.stdout.write("\n".join(lines))
