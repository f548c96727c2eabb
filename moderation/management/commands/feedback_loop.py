"""Show the closed loop on real data, through the platform's own services.

1. The active model is the baseline trained on ordinary Fashion-MNIST.
2. Uploads arrive from a shifted distribution: test images drawn as dark
   products on a white background, the way shop photos look.
3. A moderator corrects the first N of them through the review service.
4. The scheduled retraining runs; the gate decides.
5. Accuracy on the rest of the shifted stream, and on the base test split,
   before and after. Then a run on shuffled labels, which the gate must refuse.

With --photos FOLDER (bench/data/feedback_photos), the same loop for the
real-photo product model: real photos of hoodies listed as pullovers, which
the model often calls coats, wait for a moderator where it does, who approves
them as "Pullover"; the retraining of the real-photo model goes through its
gate; then polo shirts labelled at random, which the gate must refuse.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand
from PIL import Image
from tqdm import tqdm

from classifier.facade import (
    FASHION_MNIST_CLASSES,
    PHOTO_PRODUCT_CLASSES,
    ModelRole,
    TrainingTrigger,
    load_split,
    retrain_if_due,
)
from classifier.inference import analyze, classify_product
from classifier.registry import active_version
from moderation.models import ClassPolicy, Upload, UploadStatus
from moderation.services.accounts import moderator_create
from moderation.services.review import review_decide
from moderation.services.uploads import upload_classify, upload_create


def _png(pixels: np.ndarray) -> bytes:
    import io

    buffer = io.BytesIO()
    Image.fromarray(pixels, "L").save(buffer, "PNG")
    return buffer.getvalue()


class Command(BaseCommand):
    help = "Demonstrate corrections -> retraining -> gate on a shifted stream of uploads."

    def add_arguments(self, parser):
        parser.add_argument("--corrections", type=int, default=500)
        parser.add_argument("--evaluate", type=int, default=2000, help="shifted uploads kept for evaluation")
        parser.add_argument("--shuffled", type=int, default=300, help="corrections with shuffled labels (gate refusal)")
        parser.add_argument("--baseline-epochs", type=int, default=5)
        parser.add_argument(
            "--photos", default="", help="a folder of real photos (hoodie/, polo/): the real-photo case"
        )
        parser.add_argument("--photo-corrections", type=int, default=67, help="real photos a moderator labels")
        parser.add_argument(
            "--photo-kind",
            default="hoodie:Pullover",
            help="FOLDER:LABEL, the real photos the model gets wrong, and their kind",
        )
        parser.add_argument("--photos-only", action="store_true", help="skip the Fashion-MNIST case")

    def handle(self, *args, corrections, evaluate, shuffled, baseline_epochs, photos, photo_corrections, **options):
        if not options.get("photos_only"):
            self._fashion(corrections, evaluate, shuffled, baseline_epochs)
        if photos:
            kind, label = options["photo_kind"].split(":", 1)
            self._real_photos(Path(photos), kind, label, photo_corrections, baseline_epochs)

    def _fashion(self, corrections, evaluate, shuffled, baseline_epochs):
        out = self.stdout.write
        if active_version() is None:
            out("No active model: training the baseline (seed-cnn) on ordinary Fashion-MNIST.")
            call_command("train_classifier", architecture="seed-cnn", epochs=baseline_epochs, activate="always")
        baseline = active_version()
        out(f"1. Active model: {baseline.name} ({baseline.architecture}), base test accuracy {baseline.accuracy:.4f}")

        # Every shifted upload is held for review in this demonstration.
        ClassPolicy.objects.update(approve_threshold=1.01)
        User = get_user_model()
        moderator = (
            User.objects.filter(username="loop-moderator").first() or moderator_create(username="loop-moderator")[0]
        )
        author = User.objects.filter(username="loop-author").first() or User.objects.create_user("loop-author")

        test = load_split("test")
        total = corrections + evaluate + shuffled
        shifted = 255 - test.images[:total]  # dark product on white
        truth = [FASHION_MNIST_CLASSES[i] for i in test.labels[:total]]
        out(f"2. {total} shifted uploads (dark product on white) through upload_create + the classify task body")
        uploads = []
        for i in tqdm(range(total), desc="uploads", unit="img"):
            upload = upload_create(
                data=_png(shifted[i]), filename=f"shop-{i}.png", caption="shop photo", uploader=author
            )
            upload_classify(upload_id=upload.pk)
            uploads.append(upload.pk)
        labels = dict(Upload.objects.filter(pk__in=uploads).values_list("pk", "predictions__label"))
        correct_uploads, eval_uploads, shuffled_uploads = (
            uploads[:corrections],
            uploads[corrections : corrections + evaluate],
            uploads[corrections + evaluate :],
        )
        eval_truth = truth[corrections : corrections + evaluate]
        before_shift = np.mean([labels[u] == t for u, t in zip(eval_uploads, eval_truth, strict=False)])
        out(f"   accuracy of {baseline.name} on the {evaluate} held-back shifted uploads: {before_shift:.4f}")

        out(f"3. The moderator corrects {corrections} uploads through the review service")
        for upload_id, label in tqdm(
            list(zip(correct_uploads, truth[:corrections], strict=False)), desc="decisions", unit="item"
        ):
            review_decide(upload_id=upload_id, moderator=moderator, verdict="approve", label=label)

        out("4. The scheduled retraining runs (the task body of classifier.retrain_scheduled)")
        started = time.perf_counter()
        run = retrain_if_due(trigger=TrainingTrigger.SCHEDULE, min_new=1)
        elapsed = time.perf_counter() - started
        gate = run.candidate.gate if run and run.candidate else {}
        out(
            f"   run {run.pk}: {run.status} in {elapsed:.0f} s; trained on {run.data.get('base_examples')} base images "
            f"+ {run.data.get('examples')} moderator examples; {run.data.get('holdout')} corrections held out"
        )
        out(f"   gate: {'PROMOTED' if run.promoted else 'REJECTED'} — {gate.get('reason')}")
        if run.status != "succeeded":
            out(run.error)
            return

        after_version = active_version()
        after_labels = [classify_product(_png(shifted[corrections + i])).label for i in range(evaluate)]
        after_shift = np.mean([a == t for a, t in zip(after_labels, eval_truth, strict=False)])
        out("5. Before and after")
        rows = [
            ("model in service", baseline.name, after_version.name),
            ("shifted stream, held-back uploads", f"{before_shift:.4f}", f"{after_shift:.4f}"),
            ("base test split (10,000)", f"{gate['active_base']:.4f}", f"{gate['candidate_base']:.4f}"),
            ("held-out corrections", f"{gate['active_holdout']:.4f}", f"{gate['candidate_holdout']:.4f}"),
        ]
        for name, before, after in rows:
            out(f"   {name:<36} {before:>14} → {after}")

        out(f"6. Gate refusal: {shuffled} uploads 'corrected' with shuffled labels, then a run")
        rng = np.random.default_rng(0)
        wrong = [
            FASHION_MNIST_CLASSES[(FASHION_MNIST_CLASSES.index(t) + rng.integers(1, 10)) % 10]
            for t in truth[corrections + evaluate :]
        ]
        for upload_id, label in zip(shuffled_uploads, wrong, strict=False):
            review_decide(upload_id=upload_id, moderator=moderator, verdict="approve", label=label)
        bad = retrain_if_due(trigger=TrainingTrigger.MANUAL, min_new=1)
        still = active_version()
        out(
            f"   run {bad.pk}: candidate {bad.candidate.name} {bad.candidate.status} — {bad.candidate.gate.get('reason')}"
        )
        out(f"   model in service: {still.name} ({'unchanged' if still.pk == after_version.pk else 'CHANGED'})")
        pending = Upload.objects.filter(pk__in=eval_uploads, status=UploadStatus.IN_REVIEW).count()
        out(f"   ({pending} evaluation uploads are left in review; they were never labelled.)")

    def _real_photos(self, folder: Path, kind: str, label: str, labelled: int, baseline_epochs: int) -> None:
        out = self.stdout.write
        if active_version() is None:
            call_command("train_classifier", architecture="seed-cnn", epochs=baseline_epochs, activate="always")
        if active_version(ModelRole.PRODUCT_PHOTO) is None:
            out("Installing the pretrained models, the open-set gate and the real-photo product model.")
            call_command("install_models")
        model = active_version(ModelRole.PRODUCT_PHOTO)
        out(
            f"R1. Real-photo model in service: {model.name}, accuracy {model.metrics.get('accuracy')} on its held-out photos"
        )
        User = get_user_model()
        moderator = (
            User.objects.filter(username="loop-moderator").first() or moderator_create(username="loop-moderator")[0]
        )

        def listed(paths, declared):
            ids = []
            for path in tqdm(paths, desc=f"uploads ({folder.name}/{paths[0].parent.name})", unit="img"):
                upload = upload_create(data=path.read_bytes(), filename=path.name, declared_category=declared)
                upload_classify(upload_id=upload.pk)
                ids.append(upload.pk)
            return ids

        def right_share(paths) -> float:
            return float(np.mean([_tag(path.read_bytes()) == label for path in paths]))

        photos = sorted((folder / kind).glob("*.jpg"))
        taught, held_back = photos[:labelled], photos[labelled:]
        before = right_share(held_back)
        out(
            f"R2. {len(photos)} real photos of {kind}s, listed as {label!r}; {model.name} tags {before:.3f} of the "
            f"{len(held_back)} held back {label!r}"
        )
        ids = listed(taught, label)
        waiting = list(Upload.objects.filter(pk__in=ids, status=UploadStatus.IN_REVIEW).values_list("pk", flat=True))
        out(
            f"R3. {len(waiting)} of {len(ids)} wait for review (the listing says {label!r}, the model does not); "
            f"the moderator approves them as {label!r}"
        )
        for upload_id in waiting:
            review_decide(upload_id=upload_id, moderator=moderator, verdict="approve", label=label)
        started = time.perf_counter()
        run = retrain_if_due(trigger=TrainingTrigger.SCHEDULE, min_new=1, role=ModelRole.PRODUCT_PHOTO)
        if run is None:
            out("   no retraining was due")
            return
        gate = run.candidate.gate if run.candidate else {}
        out(
            f"R4. run {run.pk}: {run.status} in {time.perf_counter() - started:.1f} s; "
            f"{run.data.get('examples')} moderator labels, {run.data.get('holdout')} held out; "
            f"gate: {'PROMOTED' if run.promoted else 'REJECTED'} — {gate.get('reason') or run.error}"
        )
        after_version = active_version(ModelRole.PRODUCT_PHOTO)
        after = right_share(held_back)
        out("R5. Before and after")
        for name, a, b in (
            ("model in service", model.name, after_version.name),
            (f"held-back {kind}s tagged {label!r} ({len(held_back)})", f"{before:.3f}", f"{after:.3f}"),
            ("shipped held-out photos", f"{gate.get('active_base', 0):.4f}", f"{gate.get('candidate_base', 0):.4f}"),
            (
                "held-out moderator labels",
                f"{gate.get('active_holdout') or 0:.4f}",
                f"{gate.get('candidate_holdout') or 0:.4f}",
            ),
        ):
            out(f"   {name:<36} {a:>14} → {b}")

        polos = sorted((folder / "polo").glob("*.jpg"))
        out(f"R6. Gate refusal: {len(polos)} polo shirts listed as 'Suit', 'corrected' with random labels, then a run")
        rng = np.random.default_rng(0)
        kinds = [k for k in PHOTO_PRODUCT_CLASSES if k not in ("Suit", "T-shirt/top")]
        ids = listed(polos, "Suit")  # a polo is no suit: every one waits for review
        for upload_id in Upload.objects.filter(pk__in=ids, status=UploadStatus.IN_REVIEW).values_list("pk", flat=True):
            label = kinds[int(rng.integers(0, len(kinds)))]
            review_decide(upload_id=upload_id, moderator=moderator, verdict="approve", label=label)
        bad = retrain_if_due(trigger=TrainingTrigger.MANUAL, min_new=1, role=ModelRole.PRODUCT_PHOTO)
        still = active_version(ModelRole.PRODUCT_PHOTO)
        if bad is not None and bad.candidate is not None:
            out(
                f"   run {bad.pk}: candidate {bad.candidate.name} {bad.candidate.status} — {bad.candidate.gate.get('reason')}"
            )
        out(f"   model in service: {still.name} ({'unchanged' if still.pk == after_version.pk else 'CHANGED'})")


def _tag(data: bytes) -> str:
    """The product tag an upload of these bytes would show ("" for none)."""
    tags = analyze(data).product.tags(1)
    return tags[0][0] if tags else ""
