"""The rest of the classifier's facade: what moderation may name besides
image analysis (`classifier.inference`), its frozen results
(`classifier.contracts`) and the model registry (`classifier.registry`).

Moderation imports the classifier only through these four modules; the
import-linter contracts in pyproject.toml check it (`make lint`). When
moderation needs something more from the classifier, re-export it here rather
than importing a module behind the facade.
"""

from classifier.inputs import embed_images
from classifier.ml.category_head import (
    Head,
    HeadSet,
    embedding_from_bytes,
    fit_and_evaluate,
    head_gate,
    suggest_threshold,
)
from classifier.ml.category_head import candidates as head_candidates
from classifier.ml.category_head import evaluate as head_evaluate
from classifier.ml.datasets import FASHION_MNIST_CLASSES, load_split
from classifier.ml.frames import frame_count, is_animation, iter_frames
from classifier.ml.hash_index import Hits, MultiIndex, flat_search
from classifier.ml.imagenet import imagenet_class_names
from classifier.ml.photo_products import CLASS_NAMES as PHOTO_PRODUCT_CLASSES
from classifier.ml.photo_products import NO_PRODUCT
from classifier.ml.preprocessing import opaque_rgba, open_image, to_luminance, to_rgb
from classifier.ml.taxonomy import CATEGORIES as TAXONOMY_CATEGORIES
from classifier.ml.taxonomy import default_taxonomy
from classifier.models import PRODUCT_TAG_ROLES, ModelRole, ModelVersion, ModelVersionStatus, TrainingTrigger
from classifier.retraining import retrain_if_due, training_run_upgrade_queue
from classifier.services import training_example_record, training_example_withdraw
from classifier.signals import model_version_status_changed

__all__ = [
    "FASHION_MNIST_CLASSES",
    "Hits",
    "MultiIndex",
    "TAXONOMY_CATEGORIES",
    "default_taxonomy",
    "embed_images",
    "embedding_from_bytes",
    "fit_and_evaluate",
    "Head",
    "head_candidates",
    "head_evaluate",
    "head_gate",
    "HeadSet",
    "open_image",
    "suggest_threshold",
    "flat_search",
    "frame_count",
    "is_animation",
    "iter_frames",
    "imagenet_class_names",
    "opaque_rgba",
    "ModelRole",
    "NO_PRODUCT",
    "PHOTO_PRODUCT_CLASSES",
    "PRODUCT_TAG_ROLES",
    "ModelVersion",
    "ModelVersionStatus",
    "TrainingTrigger",
    "load_split",
    "model_version_status_changed",
    "retrain_if_due",
    "to_luminance",
    "to_rgb",
    "training_example_record",
    "training_example_withdraw",
    "training_run_upgrade_queue",
]
