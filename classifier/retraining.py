"""Every training of a product model: the one path is a `TrainingRun`
executed by `training_run_execute`.

The closed loop (moderators' labels -> a run -> the gate -> maybe a new active
version): a run warm-starts from the active version, trains on a sample of
the base data plus every non-held-out training example, evaluates the
candidate and the active version on the same fixed sets (the base test split
and the held-out corrections), and promotes the candidate only if the gate
says so. A baseline (`product_model_train`: the train_classifier command,
bootstrap, the benchmarks) is a manual run that trains from scratch on the
base data set and activates as asked.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import timedelta

import numpy as np
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from classifier.inputs import Inputs
from classifier.ml.datasets import FASHION_MNIST_CLASSES, load_split
from classifier.ml.gate import GateDecision, GateFigures, gate_decide, upgrade_decide
from classifier.ml.photo_products import CLASS_NAMES as PHOTO_CLASS_NAMES
from classifier.ml.photo_products import accuracy as photo_accuracy
from classifier.ml.photo_products import class_weights, fit_head
from classifier.ml.training import evaluate_tflite, set_threads, train
from classifier.models import (
    UNFINISHED_RUN_STATUSES,
    ModelRole,
    ModelVersion,
    ModelVersionStatus,
    TrainingExample,
    TrainingRun,
    TrainingRunStatus,
    TrainingTrigger,
)
from classifier.photo_products import ARCHITECTURE as PHOTO_ARCHITECTURE
from classifier.photo_products import backbone_required, base_data, example_data, head_load, per_class_recall
from classifier.registry import (
    active_version,
    model_version_activate,
    model_version_create,
    model_version_register,
    model_version_reject,
)

logger = logging.getLogger(__name__)


def correction_weight(n_base: int, n_examples: int) -> float:
    # Each moderator label is a verified example from the live distribution and
    # scarce next to the base set. Weighting each one up to 10x lets a few
    # hundred of them carry about a third of the loss, enough to learn a shift,
    # while the base sample still dominates, so the model does not forget.
    if n_examples == 0:
        return 1.0
    return float(min(10.0, max(1.0, 0.5 * n_base / n_examples)))


def last_trained_example_id(role: str = ModelRole.PRODUCT) -> int:
    last = (
        TrainingRun.objects.filter(role=role, status=TrainingRunStatus.SUCCEEDED)
        .order_by("-finished_at")
        .values_list("data", flat=True)
        .first()
    )
    return int((last or {}).get("max_example_id") or 0)


def new_examples_count(role: str = ModelRole.PRODUCT) -> int:
    return TrainingExample.objects.filter(role=role, holdout=False, pk__gt=last_trained_example_id(role)).count()


def training_run_request(*, trigger: str, role: str = ModelRole.PRODUCT) -> TrainingRun | None:
    """Queue a run, or return None when one is already queued or running."""
    try:
        with transaction.atomic():
            return TrainingRun.objects.create(role=role, trigger=trigger)
    except IntegrityError:
        return None


ABANDONED = "abandoned: no progress for too long"


def training_runs_fail_stale(*, older_than: timedelta = timedelta(hours=2)) -> int:
    """A run whose worker died stays `running`; free the slot after a while."""
    cutoff = timezone.now() - older_than
    return TrainingRun.objects.filter(status__in=UNFINISHED_RUN_STATUSES, created_at__lt=cutoff).update(
        status=TrainingRunStatus.FAILED, error=ABANDONED, finished_at=timezone.now()
    )


class _RunLog:
    def __init__(self, run: TrainingRun) -> None:
        self.run = run
        self.lines: list[str] = []

    def __call__(self, message: str) -> None:
        stamp = timezone.now().strftime("%H:%M:%S")
        self.lines.append(f"{stamp} {message}")
        logger.info("training run %s: %s", self.run.pk, message)


@dataclass(frozen=True)
class FromScratch:
    """A run that trains a new model from scratch on the base data set (a
    baseline) instead of retraining the active version's kind.

    `activate`: "always", "never", "if-none" (only when no version is active),
    or "gate" (promote only if the gate prefers it to the active version on
    the same evaluation set; with no active version it is activated)."""

    epochs: int | None = None
    time_budget_seconds: float | None = None
    train_limit: int | None = None
    test_limit: int | None = None
    activate: str = "if-none"
    threads: int | None = None


class TrainingBusy(RuntimeError):
    pass


def product_model_train(
    *,
    architecture: str = "seed-cnn",
    epochs: int | None = None,
    time_budget_seconds: float | None = None,
    train_limit: int | None = None,
    test_limit: int | None = None,
    activate: str = "if-none",
    progress: bool = True,
    threads: int | None = None,
) -> ModelVersion:
    """Train a product model on Fashion-MNIST (and, for an embedding head, the
    moderators' examples too) and register it: a manual training run from
    scratch (FromScratch says what `activate` means). Raises TrainingBusy when
    another run is queued or running (two runs never overlap), and whatever
    stopped the run (e.g. DatasetNotFound) after recording it on the run."""
    if activate not in ("always", "never", "if-none", "gate"):
        raise ValueError(f"unknown activate mode {activate!r}")
    try:
        with transaction.atomic():
            run = TrainingRun.objects.create(
                role=ModelRole.PRODUCT, trigger=TrainingTrigger.MANUAL, architecture=architecture
            )
    except IntegrityError:
        busy = TrainingRun.objects.filter(role=ModelRole.PRODUCT, status__in=UNFINISHED_RUN_STATUSES).first()
        raise TrainingBusy(
            f"training run {busy.pk if busy else '?'} is queued or running; try again after it"
        ) from None
    plan = FromScratch(
        epochs=epochs,
        time_budget_seconds=time_budget_seconds,
        train_limit=train_limit,
        test_limit=test_limit,
        activate=activate,
        threads=threads,
    )
    run = training_run_execute(run_id=run.pk, progress=progress, from_scratch=plan, reraise=True)
    assert run.candidate is not None
    return run.candidate


def training_run_execute(
    *, run_id: int, progress: bool = False, actor=None, from_scratch: FromScratch | None = None, reraise: bool = False
) -> TrainingRun:
    """Run a queued training run to the end: a retraining of the active
    version's kind, or with `from_scratch` a baseline. Safe to call twice: a
    run that is not queued is returned as it is. A failure is recorded on the
    run; `reraise` raises it too."""
    with transaction.atomic():
        run = TrainingRun.objects.select_for_update().get(pk=run_id)
        if run.status != TrainingRunStatus.QUEUED:
            return run
        run.status = TrainingRunStatus.RUNNING
        run.started_at = timezone.now()
        run.save(update_fields=["status", "started_at"])
    log = _RunLog(run)
    timings: dict[str, float] = {}
    failure: Exception | None = None
    try:
        if run.role == ModelRole.PRODUCT_PHOTO:
            _execute_photo(run, log, timings, actor=actor, activate=from_scratch.activate if from_scratch else "gate")
        elif from_scratch is not None:
            _execute_from_scratch(run, log, timings, plan=from_scratch, progress=progress, actor=actor)
        else:
            _execute(run, log, timings, progress=progress, actor=actor)
        run.status = TrainingRunStatus.SUCCEEDED
    except Exception as exc:  # noqa: BLE001 - the run records any failure as a row (re-raised only if asked)
        logger.exception("training run %s failed", run.pk)
        run.status = TrainingRunStatus.FAILED
        run.error = repr(exc)[:4000]
        log(f"failed: {exc!r}")
        failure = exc
    run.timings = {k: round(v, 2) for k, v in timings.items()}
    run.log = "\n".join(log.lines)
    run.finished_at = timezone.now()
    run.save()
    if failure is not None and reraise:
        raise failure
    return run


def _timed(timings: dict, key: str):
    class Timer:
        def __enter__(self):
            self.start = time.perf_counter()

        def __exit__(self, *exc):
            timings[key] = timings.get(key, 0.0) + time.perf_counter() - self.start

    return Timer()


def warm_start_origin_id(version: ModelVersion) -> int:
    """The id of the version that `version`'s line of warm starts began from
    (trained from scratch): its own when it is such a version."""
    return version.training.get("warm_start_origin") or version.pk


def gate_evaluate(
    *,
    candidate_bytes: bytes,
    candidate_architecture: str,
    active: ModelVersion,
    class_names: list[str],
    holdout_rows: list[TrainingExample],
    cache: dict | None = None,
    upgrade: bool = False,
) -> GateDecision:
    """Evaluate candidate and active version on the same evaluation set (the
    base test split and the held-out corrections), each through its own kind
    of input, and let the gate decide."""
    cache = {} if cache is None else cache

    def evaluation_set(architecture: str):
        kind = Inputs(architecture).kind
        if kind not in cache:
            inputs = Inputs(architecture)
            test = inputs.base("test", count=settings.GATE_TEST_LIMIT)
            cache[kind] = (test, inputs.examples(holdout_rows, class_names))
        return cache[kind]

    def accuracy(tflite_bytes: bytes, architecture: str, inputs, labels) -> float:
        return evaluate_tflite(tflite_bytes, inputs, labels, class_names, architecture=architecture)["accuracy"]

    with active.artifact.open("rb") as fh:
        active_bytes = fh.read()
    (a_test, a_holdout) = evaluation_set(active.architecture)
    (c_test, c_holdout) = evaluation_set(candidate_architecture)
    holdout_size = min(len(a_holdout), len(c_holdout))
    origin_id = warm_start_origin_id(active)
    origin = None if origin_id == active.pk else ModelVersion.objects.filter(pk=origin_id).first()
    origin_base = None
    if origin is not None:
        with origin.artifact.open("rb") as fh:
            origin_base = accuracy(fh.read(), origin.architecture, *evaluation_set(origin.architecture)[0])
    figures = GateFigures(
        candidate_base=accuracy(candidate_bytes, candidate_architecture, *c_test),
        active_base=accuracy(active_bytes, active.architecture, *a_test),
        candidate_holdout=accuracy(candidate_bytes, candidate_architecture, c_holdout.inputs, c_holdout.labels)
        if holdout_size
        else None,
        active_holdout=accuracy(active_bytes, active.architecture, a_holdout.inputs, a_holdout.labels)
        if holdout_size
        else None,
        holdout_size=holdout_size,
        margin=settings.GATE_BASE_MARGIN,
        origin_base=origin_base,
        origin_name=origin.name if origin else "",
    )
    decide = upgrade_decide if upgrade else gate_decide
    return decide(figures, min_holdout=settings.GATE_MIN_HOLDOUT)


def candidate_conclude(*, trained, decision: GateDecision, role: str, training_info: dict, actor=None) -> ModelVersion:
    """Register a trained candidate, then promote or reject it as the gate said."""
    with transaction.atomic():
        candidate = model_version_register(
            trained=trained, role=role, training_info=training_info, gate=decision.as_dict()
        )
        return version_conclude(version=candidate, decision=decision, actor=actor)


def version_conclude(*, version: ModelVersion, decision: GateDecision, actor=None) -> ModelVersion:
    """Promote or reject a registered candidate as the gate said."""
    if decision.promote:
        return model_version_activate(version=version, actor=actor, reason=f"gate: {decision.reason}")
    return model_version_reject(version=version, actor=actor, reason=f"gate: {decision.reason}")


def _on_epoch(run: TrainingRun):
    return lambda epoch, epochs, seconds: training_run_progress(run=run, epoch=epoch, epochs=epochs, seconds=seconds)


def _execute_from_scratch(run: TrainingRun, log, timings: dict, *, plan: FromScratch, progress: bool, actor) -> None:
    set_threads(plan.threads)
    architecture = run.architecture
    current = active_version(run.role)
    run.base_version = current
    log(f"training {architecture} from scratch on the base data set (activate: {plan.activate})")
    inputs = Inputs(architecture)
    with _timed(timings, "load_data"):
        train_limit = plan.train_limit
        if inputs.kind == "embedding":
            train_limit = min(train_limit or settings.HEAD_BASE_EXAMPLES, settings.HEAD_BASE_EXAMPLES)
        train_inputs, train_labels = inputs.base("train", count=train_limit)
        test_inputs, test_labels = inputs.base("test", count=plan.test_limit)
        corrections = 0
        # The newest example this model learnt from: the next retraining counts
        # new examples from here (a CNN baseline learns none of them).
        max_example_id = last_trained_example_id(run.role)
        if inputs.kind == "embedding":
            # A head trains from scratch in seconds, so it always includes every
            # moderator example outside the gate's held-out slice.
            examples = inputs.examples(
                TrainingExample.objects.filter(role=run.role, holdout=False).order_by("pk"),
                list(FASHION_MNIST_CLASSES),
            )
            train_inputs = np.concatenate([train_inputs, examples.inputs])
            train_labels = np.concatenate([train_labels, examples.labels])
            corrections = len(examples)
            max_example_id = max([max_example_id, *examples.ids])
    info = {
        "base_examples": int(len(train_inputs)) - corrections,
        "corrections": corrections,
        "test_examples": int(len(test_inputs)),
        "run": run.pk,
    }
    run.data = {**info, "max_example_id": max_example_id}
    log(f"data: {run.data}")
    with _timed(timings, "train"):
        trained = train(
            architecture=architecture,
            class_names=FASHION_MNIST_CLASSES,
            train_pixels=train_inputs,
            train_labels=train_labels,
            test_pixels=test_inputs,
            test_labels=test_labels,
            epochs=plan.epochs,
            time_budget_seconds=plan.time_budget_seconds,
            progress=progress,
            on_epoch=_on_epoch(run),
        )
    log(f"trained {trained.epochs} epochs on {len(train_inputs)} examples in {trained.train_seconds:.1f} s")
    if plan.activate == "gate" and current is not None:
        with _timed(timings, "evaluate"):
            decision = gate_evaluate(
                candidate_bytes=trained.tflite_bytes,
                candidate_architecture=architecture,
                active=current,
                class_names=list(current.class_names),
                holdout_rows=list(TrainingExample.objects.filter(role=run.role, holdout=True)),
            )
        log(f"gate: {'promote' if decision.promote else 'reject'}: {decision.reason}")
        run.candidate = candidate_conclude(
            trained=trained, decision=decision, role=run.role, training_info=info, actor=actor
        )
    else:
        version = model_version_register(trained=trained, role=run.role, training_info=info)
        if plan.activate in ("always", "gate") or (plan.activate == "if-none" and current is None):
            version = model_version_activate(version=version, actor=actor, reason="trained on the base data set")
        run.candidate = version
    run.promoted = run.candidate.status == ModelVersionStatus.ACTIVE


def _execute(run: TrainingRun, log, timings: dict, *, progress: bool, actor) -> None:
    set_threads(settings.RETRAIN_THREADS)
    base_version = active_version(run.role)
    if base_version is None:
        raise RuntimeError("no active version to start from; train a baseline first")
    run.base_version = base_version
    class_names = list(base_version.class_names)
    # An upgrade trains another architecture from scratch on the whole base set.
    upgrade = bool(run.architecture) and run.architecture != base_version.architecture
    architecture = run.architecture if upgrade else base_version.architecture
    inputs = Inputs(architecture)
    warm = not upgrade and inputs.kind == "pixels"  # a softmax head retrains from scratch in seconds
    if upgrade:
        log(f"training {architecture} from scratch, to compare with {base_version.name} ({base_version.architecture})")
    else:
        log(f"{'warm start from' if warm else 'retraining the kind of'} {base_version.name} ({architecture})")

    with _timed(timings, "load_data"):
        examples = list(TrainingExample.objects.filter(role=run.role, holdout=False).order_by("pk"))
        holdout_rows = list(TrainingExample.objects.filter(role=run.role, holdout=True).order_by("pk"))
        train_set = inputs.examples(examples, class_names)
        pool = len(load_split("train")) if inputs.kind == "pixels" else settings.HEAD_BASE_EXAMPLES
        rng = np.random.default_rng(run.pk or 0)
        size = min(settings.UPGRADE_BASE_EXAMPLES or pool, pool) if upgrade else min(settings.RETRAIN_BASE_SAMPLE, pool)
        sample = np.sort(rng.choice(pool, size=size, replace=False))
        base_inputs, base_labels = inputs.base("train", indices=sample)
        test_inputs, test_labels = inputs.base("test", count=settings.GATE_TEST_LIMIT)
    corrections = sum(1 for e in examples if e.source == "correction")
    run.data = {
        "base_examples": int(len(base_inputs)),
        "examples": len(train_set),
        "corrections": corrections,
        "confirmations": len(examples) - corrections,
        "skipped": train_set.skipped,
        "holdout": len(holdout_rows),
        "min_example_id": min(train_set.ids) if train_set.ids else None,
        "max_example_id": max(train_set.ids) if train_set.ids else last_trained_example_id(run.role),
    }
    log(f"data: {run.data}")

    weight = correction_weight(len(base_inputs), len(train_set))
    train_inputs = np.concatenate([base_inputs, train_set.inputs])
    labels = np.concatenate([base_labels, train_set.labels])
    weights = np.concatenate([np.ones(len(base_inputs), np.float32), np.full(len(train_set), weight, np.float32)])
    with _timed(timings, "train"):
        initial = None
        if warm:
            with base_version.keras_artifact.open("rb") as fh:
                initial = fh.read()
        trained = train(
            architecture=architecture,
            class_names=class_names,
            train_pixels=train_inputs,
            train_labels=labels,
            test_pixels=test_inputs,
            test_labels=test_labels,
            epochs=settings.RETRAIN_EPOCHS if warm else (settings.UPGRADE_EPOCHS or None) if upgrade else None,
            sample_weight=weights,
            initial_keras_bytes=initial,
            progress=progress,
            seed=run.pk or 0,
            on_epoch=_on_epoch(run),
        )
    log(
        f"trained {trained.epochs} epochs on {len(train_inputs)} examples (example weight {weight:.1f}) "
        f"in {trained.train_seconds:.1f} s"
    )

    with _timed(timings, "evaluate"):
        decision = gate_evaluate(
            candidate_bytes=trained.tflite_bytes,
            candidate_architecture=architecture,
            active=base_version,
            class_names=class_names,
            holdout_rows=holdout_rows,
            upgrade=upgrade,
        )
    log(f"gate: {'promote' if decision.promote else 'reject'}: {decision.reason}")
    run.candidate = candidate_conclude(
        trained=trained,
        decision=decision,
        role=run.role,
        actor=actor,
        training_info={
            "base_examples": run.data["base_examples"],
            "corrections": corrections,
            "confirmations": run.data["confirmations"],
            "example_id_range": [run.data["min_example_id"], run.data["max_example_id"]],
            "warm_start_from": base_version.pk if warm else None,
            "warm_start_origin": warm_start_origin_id(base_version) if warm else None,
            "example_weight": weight,
            "run": run.pk,
        },
    )
    run.promoted = decision.promote


def _execute_photo(run: TrainingRun, log, timings: dict, *, actor, activate: str) -> None:
    """The real-photo product model (classifier.photo_products): train a
    candidate on the shipped data and every non-held-out moderator label of
    that model, and promote it as `activate` says ("gate": only when the gate
    prefers it to the active version; "always"/"if-none" as for a baseline)."""
    role = ModelRole.PRODUCT_PHOTO
    backbone = backbone_required()
    current = active_version(role)
    run.base_version, run.architecture = current, PHOTO_ARCHITECTURE
    log(f"training the real-photo product model (activate: {activate})")
    with _timed(timings, "load_data"):
        base, test = base_data("train"), base_data("test")
        examples, ids, skipped = example_data(TrainingExample.objects.filter(role=role, holdout=False).order_by("pk"))
        holdout, _, _ = example_data(TrainingExample.objects.filter(role=role, holdout=True).order_by("pk"))
    run.data = {
        "base_examples": len(base),
        "examples": len(examples),
        "skipped": skipped,
        "holdout": len(holdout),
        "test_examples": len(test),
        "max_example_id": max(ids) if ids else last_trained_example_id(role),
    }
    log(f"data: {run.data}")
    if not len(base) + len(examples):
        raise RuntimeError("no training data: the shipped product photos are missing")
    train_set = base + examples
    labels = train_set.label_indices()
    # Each moderator label weighs as much as a shipped photo of its kind: with
    # correction_weight's up-to-10x, 59 labels of blazers as "Suit" turned the
    # shipped coats into suits too (held-out photos 0.767 -> 0.725, refused).
    weight = settings.PHOTO_MODEL_LABEL_WEIGHT
    weights = class_weights(labels, len(PHOTO_CLASS_NAMES))
    weights[len(base) :] *= weight
    with _timed(timings, "train"):
        head = fit_head(
            train_set.imagenet, train_set.embeddings, labels, sample_weight=weights, backbone_version_id=backbone.pk
        )
    log(f"trained on {len(train_set)} examples (moderator label weight {weight:.1f})")
    with _timed(timings, "evaluate"):
        candidate_base = photo_accuracy(head, test.imagenet, test.embeddings, test.labels)
        recall = per_class_recall(head, test)
    decision = None
    fresh = current is None or current.training.get("backbone_version") != backbone.pk
    if activate == "gate" and not fresh:
        active = head_load(current)
        decision = gate_decide(
            GateFigures(
                candidate_base=candidate_base,
                active_base=photo_accuracy(active, test.imagenet, test.embeddings, test.labels),
                candidate_holdout=photo_accuracy(head, holdout.imagenet, holdout.embeddings, holdout.labels)
                if len(holdout)
                else None,
                active_holdout=photo_accuracy(active, holdout.imagenet, holdout.embeddings, holdout.labels)
                if len(holdout)
                else None,
                holdout_size=len(holdout),
                margin=settings.PHOTO_GATE_BASE_MARGIN,
            ),
            min_holdout=settings.PHOTO_GATE_MIN_HOLDOUT,
        )
        log(f"gate: {'promote' if decision.promote else 'reject'}: {decision.reason}")
    with transaction.atomic():
        version = model_version_create(
            role=role,
            architecture=PHOTO_ARCHITECTURE,
            class_names=list(PHOTO_CLASS_NAMES),
            artifact=head.to_bytes(),
            artifact_name="photo_head.npz",
            metrics={
                "accuracy": round(candidate_base, 4),
                "test_examples": len(test),
                "per_class_recall": recall,
                "min_product_mass": head.min_product_mass,
                "min_score": head.min_score,
            },
            training={
                "method": head.method,
                "backbone_version": backbone.pk,
                "base_examples": len(base),
                "corrections": len(examples),
                "example_weight": weight,
                "run": run.pk,
            },
            gate=decision.as_dict() if decision else None,
        )
        if decision is not None:
            version = version_conclude(version=version, decision=decision, actor=actor)
        elif activate in ("always", "gate") or current is None:
            # A baseline, or the first model on a new backbone: nothing to compare it with.
            version = model_version_activate(version=version, actor=actor, reason="trained on the shipped data")
    run.candidate = version
    run.promoted = run.candidate.status == ModelVersionStatus.ACTIVE


def photo_model_train(*, activate: str = "always") -> ModelVersion:
    """Train the real-photo product model now (seconds) and register it: a
    manual run (`activate` as for FromScratch). Raises TrainingBusy when a run
    of that model is queued or running."""
    role = ModelRole.PRODUCT_PHOTO
    try:
        with transaction.atomic():
            run = TrainingRun.objects.create(role=role, trigger=TrainingTrigger.MANUAL, architecture=PHOTO_ARCHITECTURE)
    except IntegrityError:
        raise TrainingBusy("a training run of the real-photo product model is queued or running") from None
    run = training_run_execute(run_id=run.pk, from_scratch=FromScratch(activate=activate), reraise=True)
    assert run.candidate is not None
    return run.candidate


def photo_model_install(*, force: bool = False) -> ModelVersion:
    """Make a real-photo product model trained on the active backbone the
    active one (train it unless one is active for this backbone already)."""
    current = active_version(ModelRole.PRODUCT_PHOTO)
    if current is not None and not force and current.training.get("backbone_version") == backbone_required().pk:
        return current
    return photo_model_train(activate="always")


def training_run_progress(*, run: TrainingRun, epoch: int, epochs: int, seconds: float) -> None:
    """Record how far a running run is (epoch k of n, seconds so far) for the
    admin and the metrics page; one UPDATE, outside the run's own writes."""
    run.progress = {
        "epoch": epoch,
        "epochs": epochs,
        "seconds": round(seconds, 1),
        "updated_at": timezone.now().isoformat(),
    }
    TrainingRun.objects.filter(pk=run.pk).update(progress=run.progress)


def training_run_upgrade_queue(*, architecture: str) -> TrainingRun | None:
    """Queue, once per install, a run that trains `architecture` from scratch
    and lets the gate promote it if it beats the active product model. None
    when one was queued before (unless every earlier one was abandoned: the
    platform stopped while it trained), the active model is of that
    architecture already, or another run is unfinished."""
    from classifier.tasks import run_training

    current = active_version(ModelRole.PRODUCT)
    if not architecture or current is None or current.architecture == architecture:
        return None
    training_runs_fail_stale()
    earlier = TrainingRun.objects.filter(role=ModelRole.PRODUCT, trigger=TrainingTrigger.UPGRADE)
    if earlier.exclude(status=TrainingRunStatus.FAILED, error=ABANDONED).exists():
        return None
    try:
        with transaction.atomic():
            run = TrainingRun.objects.create(
                role=ModelRole.PRODUCT, trigger=TrainingTrigger.UPGRADE, architecture=architecture
            )
            transaction.on_commit(lambda: run_training.delay(run.pk))
    except IntegrityError:
        return None
    return run


def training_runs_start_queued(*, older_than: timedelta = timedelta(minutes=2)) -> int:
    """Run queued runs whose message was lost (the database is the source of
    truth). Called on the training queue, whose worker runs one task at a time."""
    cutoff = timezone.now() - older_than
    ids = list(
        TrainingRun.objects.filter(status=TrainingRunStatus.QUEUED, created_at__lt=cutoff).values_list("pk", flat=True)
    )
    for run_id in ids:
        training_run_execute(run_id=run_id)
    return len(ids)


def retrain_if_due(*, trigger: str, min_new: int | None = None, role: str = ModelRole.PRODUCT) -> TrainingRun | None:
    """Start a run of a product-tag model (`role`) when enough new examples of
    it have arrived (or, for the schedule, when any have) and a version of it
    is active. Returns the finished run, or None when nothing was due."""
    training_runs_fail_stale()
    threshold = settings.RETRAIN_MIN_NEW_EXAMPLES if min_new is None else min_new
    pending = new_examples_count(role)
    if pending < max(1, threshold) or (role != ModelRole.PRODUCT and active_version(role) is None):
        return None
    run = training_run_request(trigger=trigger, role=role)
    if run is None:
        return None
    return training_run_execute(run_id=run.pk)
